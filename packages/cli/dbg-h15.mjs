import { openDirectoryEngine } from "@brook/local-broker";
import { connect, createPushHandler, silentLogger } from "@brook/core";
import { createServer } from "node:http";
import { mkdtempSync } from "node:fs";
import { spawn } from "node:child_process";
const dir = mkdtempSync("/tmp/dbg-h15-");
const e0 = await openDirectoryEngine(dir, {});
await e0.createTopic("events", { partitions: 2 });
await e0.close();
let seen = 0;
const http = createServer(createPushHandler(() => void seen++));
await new Promise((r) => http.listen(0, "127.0.0.1", r));
async function start(push) {
const child = spawn(process.execPath, ["dist/main.js", "serve", "--port", "0", "--dir", dir, ...(push ? ["--push", `events:audit=http://127.0.0.1:${http.address().port}/p`] : [])], { stdio: ["ignore", "pipe", "inherit"] });
let out = "";
child.stdout.on("data", (d) => (out += d));
while (!/listening on (brook:\/\/\S+)/.test(out)) await new Promise((r) => setTimeout(r, 50));
const url = /listening on (brook:\/\/\S+)/.exec(out)[1];
const b = await connect(url, { logger: silentLogger });
return {child, b};
}
let {child, b} = await start(true);
await b.publisher("events").publishBatch(Array.from({ length: 150 }, (_, n) => ({ key: `e${n % 4}`, data: { n } })));
for (;;) {
  const p = await b.admin.groupPositions("events", "audit");
  if (p.some((x) => x.committed !== undefined)) { console.log("before kill", JSON.stringify(p), seen); break; }
  await new Promise((r) => setTimeout(r, 50));
}
await b.close();
child.kill("SIGKILL");
await new Promise((r) => child.once("exit", r));
if (process.argv[2] === "reopen") {
const e1 = await openDirectoryEngine(dir, {});
console.log("reopened", [...(await e1.committed("audit", "events"))]);
await e1.close();
}
({child, b} = await start(true));
console.log("after restart", JSON.stringify(await b.admin.groupPositions("events", "audit")), seen);
await b.close();
child.kill("SIGKILL");
http.close();
