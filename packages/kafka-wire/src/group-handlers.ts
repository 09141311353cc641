import type { Handler } from "./handlers.js";

export const groupHandlers: Record<number, Handler> = {};
