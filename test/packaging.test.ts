/**
 * What `npm publish` would ship, checked from `npm pack --dry-run` of each package (the built
 * tree): the license and metadata a registry shows, the files a user imports or runs, maps
 * that resolve to shipped sources, the local broker's format documents; examples never publish.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { beforeAll, describe, expect, test } from "@jest/globals";

const root = join(__dirname, "..");
const packages = readdirSync(join(root, "packages")).filter((d) => existsSync(join(root, "packages", d, "package.json")));
const examples = readdirSync(join(root, "examples")).filter((d) => existsSync(join(root, "examples", d, "package.json")));

interface Manifest {
  name: string;
  private?: boolean;
  description?: string;
  license?: string;
  repository?: { type: string; url: string; directory: string };
  engines?: { node?: string };
  main?: string;
  types?: string;
  bin?: Record<string, string>;
  exports?: Record<string, string | Record<string, string>>;
}

const manifest = (dir: string): Manifest => JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8")) as Manifest;

/** The file list of `npm pack --dry-run` in packages/<name>. */
function packedFiles(name: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    // Without the npm_config_* variables pnpm sets for its scripts (`pnpm test`): npm warns about
    // the pnpm-only ones, which a user running npm pack or npm publish would not have.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_config_/i.test(k)));
    const child = spawn("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: join(root, "packages", name), stdio: ["ignore", "pipe", "pipe"], env });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`npm pack in packages/${name} exited ${code}: ${err}`));
      // npm's own complaints about the manifest (a bin path it had to clean, an invalid field).
      warnings.set(name, err.split("\n").filter((line) => /npm warn/i.test(line)));
      resolve((JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path));
    });
  });
}

const packed = new Map<string, Set<string>>();
const warnings = new Map<string, string[]>();

beforeAll(async () => {
  const build = spawnSync("npx", ["tsc", "-b"], { cwd: root, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`tsc -b failed:\n${build.stdout}${build.stderr}`);
  const lists = await Promise.all(packages.map(packedFiles));
  packages.forEach((name, i) => packed.set(name, new Set(lists[i])));
}, 180_000);

test("the repository has a LICENSE (Apache-2.0) and every package ships it", () => {
  expect(readFileSync(join(root, "LICENSE"), "utf8")).toMatch(/Apache License\s+Version 2\.0/);
  for (const name of packages) expect({ name, license: packed.get(name)!.has("LICENSE") }).toEqual({ name, license: true });
});

describe.each(packages)("packages/%s", (name) => {
  test("says what it is, where it comes from, its license and the Node it needs", () => {
    const m = manifest(`packages/${name}`);
    expect(m.private).toBeUndefined();
    expect(m.description).toEqual(expect.stringMatching(/\S{3}/));
    expect(m.license).toBe("Apache-2.0");
    expect(m.repository).toMatchObject({ type: "git", url: expect.stringMatching(/^git\+https:\/\//), directory: `packages/${name}` });
    expect(m.engines?.node).toBe(">=20");
  });

  test("ships its README, its entry points and bins, no tests and no build info", () => {
    const files = packed.get(name)!;
    const m = manifest(`packages/${name}`);
    const entries = [m.main, m.types, ...Object.values(m.bin ?? {})];
    for (const target of Object.values(m.exports ?? {})) entries.push(...(typeof target === "string" ? [target] : Object.values(target)));
    const wanted = ["README.md", "package.json", ...entries.filter((e): e is string => e !== undefined && !e.endsWith("package.json")).map((e) => normalize(e))];
    expect(wanted.filter((f) => !files.has(f))).toEqual([]);
    expect([...files].filter((f) => /\.test\.ts$|tsbuildinfo|crash-child/.test(f))).toEqual([]);
    for (const bin of Object.values(m.bin ?? {})) expect(readFileSync(join(root, "packages", name, bin), "utf8")).toMatch(/^#!\/usr\/bin\/env node\n/);
  });

  test("npm packs it without a warning", () => {
    expect(warnings.get(name)).toEqual([]);
  });

  test("every declaration map and source map points at sources the tarball ships", () => {
    const files = packed.get(name)!;
    const maps = [...files].filter((f) => f.endsWith(".map"));
    expect(maps.length).toBeGreaterThan(0);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(join(root, "packages", name, map), "utf8")) as { sources: string[] };
      for (const source of sources) {
        const shipped = normalize(join(dirname(map), source));
        if (!files.has(shipped)) missing.push(`${map} → ${shipped}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

test("the local broker's tarball carries FORMAT.md and PROTOCOL.md", () => {
  const files = packed.get("local-broker")!;
  expect(files.has("FORMAT.md") && files.has("PROTOCOL.md")).toBe(true);
});

test.each(examples)("examples/%s is private (never published)", (name) => {
  expect(manifest(`examples/${name}`).private).toBe(true);
});
