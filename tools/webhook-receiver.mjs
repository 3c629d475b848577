// A webhook receiver for the tests, as an integrator would write one: every delivery is
// verified with `standardwebhooks`, the Standard Webhooks reference library, and
// de-duplicated by its `webhook-id`.
//
//   [WEBHOOK_SECRET=whsec_…] node tools/webhook-receiver.mjs [port]   prints "listening <port>" once ready (a port
//                                            is given to come back where one was)
//
// Control, for the test driving it (any other path is a delivery):
//   PUT  /control/secret   body: the endpoint's `whsec_…` secret
//   PUT  /control/mode     body: ok (answer 204), fail (answer 500), hang (never answer),
//                          binary (answer 200 with bytes that are not text, NUL among them)
//                          or redirect (answer 307 to /hooks/redirected, here)
//   GET  /control/received JSON: every delivery, in arrival order:
//                          {id, type, verified, attempt, mode, path, body}
//   GET  /control/count    JSON: {received, verified, distinct} (for the benchmark)
//   PUT  /control/keep     body: no (count deliveries but keep none of them)
import http from "node:http";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Webhook } = require("standardwebhooks");

// The endpoint's secret, from the start when the test knows it already.
let secret = process.env.WEBHOOK_SECRET || null;
let mode = "ok";
let keep = true;
const received = [];
let count = 0;
let verifiedCount = 0;
const attempts = new Map();

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

const server = http.createServer(async (req, res) => {
  const body = await readBody(req);
  if (req.url === "/control/secret" && req.method === "PUT") {
    secret = body.trim();
    res.writeHead(204).end();
    return;
  }
  if (req.url === "/control/mode" && req.method === "PUT") {
    mode = body.trim();
    res.writeHead(204).end();
    return;
  }
  if (req.url === "/control/keep" && req.method === "PUT") {
    keep = body.trim() !== "no";
    res.writeHead(204).end();
    return;
  }
  if (req.url === "/control/count" && req.method === "GET") {
    const counts = { received: count, verified: verifiedCount, distinct: attempts.size };
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(counts));
    return;
  }
  if (req.url === "/control/received" && req.method === "GET") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(received));
    return;
  }
  const id = req.headers["webhook-id"];
  const attempt = (attempts.get(id) ?? 0) + 1;
  attempts.set(id, attempt);
  let verified = false;
  let type = null;
  try {
    const payload = new Webhook(secret).verify(body, req.headers);
    verified = true;
    type = payload.type;
  } catch (err) {
    verified = false;
  }
  count += 1;
  if (verified) verifiedCount += 1;
  if (keep) received.push({ id, type, verified, attempt, mode, path: req.url, body });
  if (mode === "hang") {
    return; // never answers: the sender's timeout must end it
  }
  if (!verified) {
    res.writeHead(400, { "content-type": "text/plain" }).end("signature did not verify");
  } else if (mode === "redirect") {
    res.writeHead(307, { location: "/hooks/redirected" }).end();
  } else if (mode === "binary") {
    res.writeHead(200, { "content-type": "application/octet-stream" }).end(Buffer.from([0x61, 0x00, 0x62]));
  } else if (mode === "fail") {
    res.writeHead(500, { "content-type": "text/plain" }).end("receiver is failing on purpose");
  } else {
    res.writeHead(204).end();
  }
});

server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  console.log(`listening ${server.address().port}`);
});
