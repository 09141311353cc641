// Preloaded (node --require) into kinesis-local, which always binds 0.0.0.0 and has no host
// option: every server it opens listens on 127.0.0.1 instead. Built-ins only.
"use strict";
const net = require("node:net");
const HOST = "127.0.0.1";
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function listenOnLoopback(...args) {
  const first = args[0];
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, callback]): put our host in place of any given one
    if (typeof args[1] === "string") args[1] = HOST;
    else args.splice(1, 0, HOST);
  } else if (first !== null && typeof first === "object" && !Array.isArray(first) && first.path === undefined) {
    args[0] = { ...first, host: HOST };
  }
  return listen.apply(this, args);
};
