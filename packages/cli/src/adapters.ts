/**
 * Finding the adapter package of a URL wherever it is installed. `brook` runs from its own
 * install location (a global install, npx's cache, a project's node_modules), which need not
 * be where the user installed @brook/adapter-kafka; and core, which loads adapters lazily, sees
 * only its own dependencies under pnpm's strict layout. So the CLI imports the adapters it
 * knows itself: first as seen from @brook/cli (a dependency or optional peer), then from the
 * working directory's project, and otherwise says which package to install.
 */
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { BrookError, registeredSchemes, schemeOf } from "@brook/core";

/** The adapters the CLI knows, by URL scheme (memory:, local: and brook:// come with the CLI). */
export const ADAPTER_PACKAGES: Readonly<Record<string, string>> = {
  kafka: "@brook/adapter-kafka",
  pubsub: "@brook/adapter-pubsub",
  kinesis: "@brook/adapter-kinesis",
  firehose: "@brook/adapter-kinesis",
  eventhubs: "@brook/adapter-eventhubs",
};

/** True when `err` says `pkg` itself (not one of its own dependencies) cannot be found. */
function isMissing(err: unknown, pkg: string): boolean {
  const e = err as { code?: string; message?: string };
  return (e.code === "ERR_MODULE_NOT_FOUND" || e.code === "MODULE_NOT_FOUND") && (e.message ?? "").includes(`'${pkg}'`);
}

/** Imports the package registering `url`'s scheme; a no-op when it is registered or not one the CLI knows. */
export async function loadAdapterFor(url: string, cwd: string = process.cwd()): Promise<void> {
  const scheme = schemeOf(url);
  if (scheme === undefined || registeredSchemes().includes(scheme)) return;
  const pkg = ADAPTER_PACKAGES[scheme];
  if (pkg === undefined) return; // connect() names the schemes it knows
  try {
    await import(pkg);
    return;
  } catch (err) {
    if (!isMissing(err, pkg)) throw loadFailed(pkg, err);
  }
  let resolved: string | undefined;
  try {
    resolved = createRequire(join(cwd, "package.json")).resolve(pkg);
  } catch {
    // not installed in the working directory's project either
  }
  if (resolved === undefined) {
    throw new BrookError(
      "INVALID_URL",
      `${scheme}:// URLs need the package ${pkg}, which is installed neither next to @brook/cli nor in ${cwd}; install it (npm install ${pkg}) where you run brook, or next to @brook/cli`,
    );
  }
  try {
    await import(pathToFileURL(resolved).href);
  } catch (err) {
    throw loadFailed(pkg, err);
  }
}

function loadFailed(pkg: string, err: unknown): BrookError {
  const reason = err instanceof Error ? err.message : String(err);
  return new BrookError("INVALID_URL", `${pkg} is installed but failed to load: ${reason}`, { cause: err });
}
