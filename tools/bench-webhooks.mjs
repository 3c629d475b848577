// Drives scripts/bench-webhooks: queues a backlog of webhook events behind a paused
// endpoint, enables it and times the drain to a real receiver (which verifies each one),
// timing an admin read meanwhile; then sends events at a steady rate and reports how far
// behind the deliveries fall.
//
//   node tools/bench-webhooks.mjs <pulsekey url> <admin> <password> <receiver url> <backlog> <rate/s>
import { execFile } from "node:child_process";

const [base, admin, password, receiver, backlogArg, rateArg] = process.argv.slice(2);
const heartbeatKeys = process.env.HEARTBEAT_KEYS;
const backlog = Number(backlogArg);
const rate = Number(rateArg);

async function call(method, path, token, body) {
  const res = await fetch(base + path, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

async function count() {
  return (await fetch(`${receiver}/control/count`)).json();
}

/** pulsekey-bench's heartbeat load for `seconds`: its summary (requests, p99_us, …). */
function heartbeats(seconds) {
  const script = new URL("../crates/bench/src/wrk.lua", import.meta.url).pathname;
  return new Promise((resolve, reject) =>
    execFile(
      "wrk",
      ["-t1", "-c16", `-d${seconds}s`, "-s", script, base],
      { env: { ...process.env, PULSEKEY_BENCH_KEYS: heartbeatKeys } },
      (err, stdout) => {
        if (err) return reject(err);
        const line = stdout.split("\n").reverse().find((l) => l.startsWith("{"));
        const load = JSON.parse(line);
        resolve({ ...load, perSecond: load.requests / (load.duration_us / 1e6) });
      },
    ),
  );
}

const describeLoad = (l) =>
  `${Math.round(l.perSecond)} heartbeats/s, p99 ${(l.p99_us / 1000).toFixed(1)} ms, ` +
  `${l.status_errors + l.socket_errors} errors`;

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

/** Runs `n` calls of `one`, `width` at a time. */
async function pool(n, width, one) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        next += 1;
        await one();
      }
    }),
  );
}

/** Times `GET path` every 200 ms until `done()`; returns the milliseconds, sorted. */
async function sample(token, path, done) {
  const times = [];
  while (!(await done())) {
    const started = performance.now();
    await call("GET", path, token);
    times.push(performance.now() - started);
    await new Promise((r) => setTimeout(r, 200));
  }
  return times.sort((a, b) => a - b);
}

const { token } = await fetch(`${base}/api/v1/auth/login`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ username: admin, password }),
}).then((r) => r.json());
await fetch(`${receiver}/control/keep`, { method: "PUT", body: "no" });
const hook = await call("POST", "/api/v1/webhooks", token, {
  url: `${receiver}/hooks/pulsekey`,
  description: "bench",
  events: "all",
  enabled: false,
});
await fetch(`${receiver}/control/secret`, { method: "PUT", body: hook.secret });
const id = hook.id;

// Idle: an admin read with nothing to deliver.
const idle = [];
for (let i = 0; i < 20; i++) {
  const started = performance.now();
  await call("GET", "/api/v1/servers?limit=50", token);
  idle.push(performance.now() - started);
}
idle.sort((a, b) => a - b);

let started = performance.now();
await pool(backlog, 32, () => call("POST", `/api/v1/webhooks/${id}/test`, token));
const queued = (performance.now() - started) / 1000;
console.log(`queued ${backlog} events behind a paused endpoint in ${queued.toFixed(1)} s`);

const alone = heartbeatKeys ? await heartbeats(10) : null;
started = performance.now();
await call("PATCH", `/api/v1/webhooks/${id}`, token, { enabled: true });
const beside = heartbeatKeys ? heartbeats(10) : null;
const during = await sample(token, "/api/v1/servers?limit=50", async () => (await count()).verified >= backlog);
const drained = (performance.now() - started) / 1000;
if (beside) {
  console.log(`heartbeats alone:              ${describeLoad(alone)}`);
  console.log(`heartbeats from the drain's start: ${describeLoad(await beside)}`);
}
const c = await count();
console.log(
  `drained ${backlog} in ${drained.toFixed(1)} s: ${Math.round(backlog / drained)} events/s ` +
    `(received ${c.received}, verified ${c.verified}, distinct ids ${c.distinct})`,
);
console.log(
  `GET /api/v1/servers?limit=50 idle p50 ${percentile(idle, 0.5).toFixed(1)} ms p99 ${percentile(idle, 0.99).toFixed(1)} ms; ` +
    `while draining p50 ${percentile(during, 0.5).toFixed(1)} ms p99 ${percentile(during, 0.99).toFixed(1)} ms (${during.length} samples)`,
);

// Steady: `rate` events a second for 10 s; how long until the last one arrived.
const before = (await count()).verified;
const total = rate * 10;
started = performance.now();
for (let second = 0; second < 10; second++) {
  const tick = performance.now();
  await pool(rate, 32, () => call("POST", `/api/v1/webhooks/${id}/test`, token));
  const spent = performance.now() - tick;
  if (spent > 1000) console.log(`  second ${second}: queuing ${rate} took ${spent.toFixed(0)} ms`);
  else await new Promise((r) => setTimeout(r, 1000 - spent));
}
const sent = (performance.now() - started) / 1000;
while ((await count()).verified < before + total) await new Promise((r) => setTimeout(r, 20));
const last = (performance.now() - started) / 1000;
console.log(
  `steady: ${total} events queued over ${sent.toFixed(1)} s, all delivered ${(last - sent).toFixed(2)} s after the last was queued`,
);
