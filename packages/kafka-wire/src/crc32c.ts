import { createRequire } from "node:module";

type Crc32c = (input: Uint8Array | string, initialState?: number) => number;

let loaded: Crc32c | undefined;

/**
 * CRC-32C (Castagnoli) from @node-rs/crc32, whose native addon is loaded on the first call:
 * loading it (its musl check, then dlopen) costs about 60 ms of CPU, which a server would
 * otherwise pay at start-up, before any record is checked.
 */
export function crc32c(input: Uint8Array | string, initialState?: number): number {
  loaded ??= (createRequire(import.meta.url)("@node-rs/crc32") as { crc32c: Crc32c }).crc32c;
  return loaded(input, initialState);
}
