/**
 * Redis and PostgreSQL for the inbox/outbox tests: the ones the root runner started
 * (BROOK_TEST_REDIS_URL, BROOK_TEST_POSTGRES_URL), or ones this file starts itself (by pid,
 * stopped in afterAll). Tests that restart a server start their own with `ownRedis()` /
 * `ownPostgres()`. Every test uses unique table names / key prefixes, so none needs a clean server.
 */
import { afterAll, beforeAll } from "@jest/globals";
import { randomBytes } from "node:crypto";
// @ts-ignore -- plain ESM scripts without type declarations; jest compiles them to CommonJS with swc
import { startRedis } from "../../scripts/backends/redis.mjs";
// @ts-ignore
import { startPostgres } from "../../scripts/backends/postgres.mjs";

export interface StartedServer {
  url: string;
  port: number;
  pid: number;
  dir: string;
  stop(options?: { keepDir?: boolean }): Promise<void>;
  /** SIGKILL (a crash); the data folder stays for a restart */
  kill(): Promise<void>;
}

export const startRedisServer = startRedis as (o?: { dir?: string; port?: number }) => Promise<StartedServer>;
export const startPostgresServer = startPostgres as (o?: { dir?: string; port?: number; settings?: Record<string, string> }) => Promise<StartedServer>;

function useServer(envName: string, start: () => Promise<StartedServer>): () => string {
  let url = process.env[envName] ?? "";
  let started: StartedServer | undefined;
  beforeAll(async () => {
    if (url !== "") return;
    started = await start();
    url = started.url;
  }, 120_000);
  afterAll(async () => {
    await started?.stop();
  }, 30_000);
  return () => {
    if (url === "") throw new Error(`${envName}: the server is not started yet`);
    return url;
  };
}

/** URL of the shared Redis; call in a test or a hook. Register it before hooks that use it. */
export function useRedis(): () => string {
  return useServer("BROOK_TEST_REDIS_URL", () => startRedisServer());
}

export function usePostgres(): () => string {
  return useServer("BROOK_TEST_POSTGRES_URL", () => startPostgresServer());
}

/** A name no other test uses: for tables, key prefixes, topics. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
}

/**
 * A server this test owns, restartable on the same port and data folder (so clients reconnect
 * to the same URL): `restart()` stops it (SIGTERM/SIGINT, or SIGKILL with crash) and starts it again.
 */
export async function ownServer(start: (o?: { dir?: string; port?: number }) => Promise<StartedServer>): Promise<{
  url: string;
  down(crash?: boolean): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}> {
  let current = await start();
  const { dir, port, url } = current;
  let isDown = false;
  return {
    url,
    async down(crash = false) {
      if (crash) await current.kill();
      else await current.stop({ keepDir: true });
      isDown = true;
    },
    async up() {
      current = await start({ dir, port });
      isDown = false;
    },
    async stop() {
      if (!isDown) await current.stop({ keepDir: true });
      await current.stop({ keepDir: false });
    },
  };
}
