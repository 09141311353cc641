/**
 * A small typed event emitter. Unlike node's EventEmitter, an "error" with no listener is not
 * thrown (that would crash the application from inside a background loop): it goes to the
 * fallback given at construction, usually the logger.
 */
type Listener = (...args: unknown[]) => void;

export class TypedEmitter<Events extends { [K in keyof Events]: unknown[] }> {
  private readonly listeners = new Map<keyof Events, Set<Listener>>();

  constructor(private readonly unhandled: (event: keyof Events, args: unknown[]) => void) {}

  on<E extends keyof Events>(event: E, listener: (...args: Events[E]) => void): this {
    let set = this.listeners.get(event);
    if (set === undefined) this.listeners.set(event, (set = new Set()));
    set.add(listener as unknown as Listener);
    return this;
  }

  off<E extends keyof Events>(event: E, listener: (...args: Events[E]) => void): this {
    this.listeners.get(event)?.delete(listener as unknown as Listener);
    return this;
  }

  emit<E extends keyof Events>(event: E, ...args: Events[E]): void {
    const set = this.listeners.get(event);
    if (set === undefined || set.size === 0) {
      this.unhandled(event, args);
      return;
    }
    for (const listener of [...set]) (listener as unknown as (...a: Events[E]) => void)(...args);
  }
}
