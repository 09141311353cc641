import type { Handler } from "./handlers.js";

export const adminHandlers: Record<number, Handler> = {};
