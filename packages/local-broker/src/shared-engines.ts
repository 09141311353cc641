import type { LogEngine } from "./engine.js";

/**
 * Engines shared by the brokers of one process under a key: a `memory:<name>`, or a `local:`
 * data directory (whose lock admits one owner, so every broker on it in this process shares the
 * engine). Each broker owns the engine once (LogEngine.retain) and closes it like its own; the
 * last close shuts it down, and that broker's onClose forgets it here.
 */
export class SharedEngines {
  private readonly entries = new Map<string, Promise<LogEngine>>();

  /**
   * The engine under `key`, opened with `open` when there is none or it is closing, with one
   * more owner for the caller, and the onClose the caller's broker runs after closing it.
   */
  async acquire(key: string, open: () => Promise<LogEngine>): Promise<{ engine: LogEngine; onClose: () => Promise<void> }> {
    const existing = this.entries.get(key);
    if (existing !== undefined) {
      const engine = await existing;
      if (engine.retain()) return { engine, onClose: this.forget(key, existing, engine) };
    }
    const opening = open();
    this.entries.set(key, opening);
    opening.catch(() => {
      if (this.entries.get(key) === opening) this.entries.delete(key);
    });
    const engine = await opening;
    return { engine, onClose: this.forget(key, opening, engine) };
  }

  private forget(key: string, entry: Promise<LogEngine>, engine: LogEngine): () => Promise<void> {
    return async () => {
      if (engine.isClosed && this.entries.get(key) === entry) this.entries.delete(key);
    };
  }
}
