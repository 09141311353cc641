// Start-up time of `brook serve`, measured from process spawn, with `node -e 0` as the floor.
//
//   npx tsc -b && node scripts/bench-serve-startup.mjs [--starts 11] [--main packages/cli/dist/main.js]...
//
// Each round starts, one after the other (interleaved, so every variant meets the same load):
//   node -e 0                            spawn → exit
//   brook serve --port 0                 spawn → first TCP connection accepted on the printed port
//   brook serve --port 0 --kafka-port 0  spawn → first Kafka Metadata request answered
// for every --main given (default: this checkout's packages/cli/dist/main.js; pass another
// checkout's main.js, e.g. a copy of main's build, to compare in the same run). Prints medians of
// wall time and CPU time (user + system, all threads, from /proc at the ready moment; for
// `node -e 0` from process.cpuUsage() at exit), and `uptime`. Linux for the CPU column.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { metadataProbe } from "./backends/kafka-wire.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const STARTS = Number(args[args.indexOf("--starts") + 1] ?? 11) || 11;
const mains = args.flatMap((a, i) => (a === "--main" ? [path.resolve(args[i + 1])] : []));
if (mains.length === 0) mains.push(path.join(ROOT, "packages", "cli", "dist", "main.js"));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function cpuMsOf(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ = 100
}

/** `node -e 0`, reporting its own CPU time at exit. */
function nodeFloor() {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", "process.on('exit',()=>{const u=process.cpuUsage();process.stdout.write(String((u.user+u.system)/1000))})"], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.once("error", reject);
    child.once("exit", () => resolve({ wall: performance.now() - started, cpu: Number(out) }));
  });
}

function connectOnce(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    sock.once("connect", () => {
      sock.destroy();
      resolve();
    });
    sock.once("error", reject);
  });
}

/** Spawns `brook serve` (with --kafka-port 0 when kafka) and resolves once it answers. */
async function serveStart(main, kafka) {
  const started = performance.now();
  const child = spawn(process.execPath, [main, "serve", "--port", "0", ...(kafka ? ["--kafka-port", "0"] : [])], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    const port = await new Promise((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`no address printed: ${out}`)), 30_000);
      child.stdout.on("data", (d) => {
        out += d;
        const m = (kafka ? /Kafka protocol on [^\s:]+:(\d+)/ : /listening on brook:\/\/[^\s:]+:(\d+)/).exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once("exit", (code) => reject(new Error(`brook serve exited (${code}): ${out}`)));
    });
    if (kafka) await metadataProbe(port);
    else await connectOnce(port);
    const wall = performance.now() - started;
    return { wall, cpu: cpuMsOf(child.pid) };
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
}

const variants = [{ name: "node -e 0", run: nodeFloor }];
for (const main of mains) {
  const label = path.relative(process.cwd(), main) || main;
  variants.push({ name: `brook serve (${label})`, run: () => serveStart(main, false) });
  variants.push({ name: `brook serve --kafka-port 0 (${label})`, run: () => serveStart(main, true) });
}
const results = new Map(variants.map((v) => [v.name, { wall: [], cpu: [] }]));
const uptimeBefore = execFileSync("uptime").toString().trim();
console.error(`uptime before: ${uptimeBefore}`);
for (let round = 0; round < STARTS; round++) {
  // rotate the order each round so no variant always runs first
  for (let k = 0; k < variants.length; k++) {
    const v = variants[(k + round) % variants.length];
    const r = await v.run();
    results.get(v.name).wall.push(r.wall);
    results.get(v.name).cpu.push(r.cpu);
  }
}
const uptimeAfter = execFileSync("uptime").toString().trim();
console.error(`uptime after:  ${uptimeAfter}`);
console.log(`node ${process.version}, ${STARTS} interleaved starts, medians`);
console.log("| start | wall ms | CPU ms |");
console.log("|---|---|---|");
for (const [name, r] of results) console.log(`| ${name} | ${median(r.wall).toFixed(0)} | ${median(r.cpu).toFixed(0)} |`);
mkdirSync(path.join(ROOT, "bench-results"), { recursive: true });
writeFileSync(
  path.join(ROOT, "bench-results", "serve-startup.json"),
  JSON.stringify({ node: process.version, starts: STARTS, uptimeBefore, uptimeAfter, results: [...results].map(([name, r]) => ({ name, wallMs: Math.round(median(r.wall)), cpuMs: Math.round(median(r.cpu)) })) }, null, 2),
);
