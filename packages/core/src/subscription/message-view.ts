import type { ReceivedMessage } from "../contract.js";

const INSPECT = Symbol.for("nodejs.util.inspect.custom");

/**
 * What a batch handler receives: a real array (Array.isArray, every Array method, for…of,
 * spread, JSON, equality in tests) whose messages are made only when the handler reads them.
 * A handler that looks at `length` or at a few messages pays for no others. Reading an index
 * (directly, by iteration or by an Array method) makes that one message; anything that lists or
 * changes the array's own properties (Object.keys, a write, push, sort, …) makes them all first
 * and from then on the array is a plain one behind the proxy.
 */
export function lazyMessages<T>(count: number, make: (index: number) => ReceivedMessage<T>): ReceivedMessage<T>[] {
  const target: ReceivedMessage<T>[] = new Array<ReceivedMessage<T>>(count);
  let whole = count === 0;
  const at = (i: number): ReceivedMessage<T> => {
    let message = target[i];
    if (message === undefined) target[i] = message = make(i);
    return message;
  };
  const all = (): void => {
    if (whole) return;
    for (let i = 0; i < count; i++) at(i);
    whole = true;
  };
  // util.inspect formats a proxy's target without its traps: show the messages, not holes.
  Object.defineProperty(target, INSPECT, {
    value: (_depth: number, options: object, inspect: (value: unknown, options: object) => string) => {
      all();
      return inspect([...target], options);
    },
    enumerable: false,
  });
  return new Proxy(target, {
    get(t, property, receiver) {
      if (!whole && typeof property === "string") {
        const i = indexOf(property, count);
        if (i >= 0) return at(i);
      }
      return Reflect.get(t, property, receiver);
    },
    has(t, property) {
      if (!whole && typeof property === "string" && indexOf(property, count) >= 0) return true;
      return Reflect.has(t, property);
    },
    getOwnPropertyDescriptor(t, property) {
      all();
      return Reflect.getOwnPropertyDescriptor(t, property);
    },
    ownKeys(t) {
      all();
      return Reflect.ownKeys(t);
    },
    defineProperty(t, property, descriptor) {
      all();
      return Reflect.defineProperty(t, property, descriptor);
    },
    set(t, property, value) {
      all();
      return Reflect.set(t, property, value);
    },
    deleteProperty(t, property) {
      all();
      return Reflect.deleteProperty(t, property);
    },
  });
}

/** `property` as an array index below `count` ("0", "17"; not "01", "1.0", "-1"), else -1. */
function indexOf(property: string, count: number): number {
  const length = property.length;
  if (length === 0 || length > 15) return -1;
  let value = 0;
  for (let i = 0; i < length; i++) {
    const digit = property.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9 || (digit === 0 && i === 0 && length > 1)) return -1;
    value = value * 10 + digit;
  }
  return value < count ? value : -1;
}
