// The example app bluegreen deploys in dev and in tests: an HTTP service with a
// health endpoint and Prometheus metrics. Plain Node (18+), no dependencies.
// A release can be built deliberately broken: health | health-node-2 (node 2 of a pool only) | latency | errors | migrate.
// With BLUEGREEN_DATA_DIR (a stateful service's first volume), PUT/GET /data/<key> store
// and read values there; a `migrate` release rewrites every value on start (a forward
// migration), then fails its health check.
"use strict";
const crypto = require("crypto");
const http = require("http");
const fs = require("fs");
const path = require("path");

const meta = readMeta();
const release = meta.release || process.env.BLUEGREEN_RELEASE || "unknown";
const broken = meta.broken || "";
const color = process.env.BLUEGREEN_COLOR || "none";
const component = process.env.BLUEGREEN_COMPONENT || "app";
// Which node of the color's pool answered; a pool of one is node 1.
const node = process.env.BLUEGREEN_NODE || "1";
const healthPath = process.env.BLUEGREEN_HEALTH_PATH || "/health";
const port = Number(process.env.PORT || 8080);
const host = process.env.HOST || "127.0.0.1";
const dataDir = process.env.BLUEGREEN_DATA_DIR || "";
const DATA_KEY = /(?:^|\/)data\/([A-Za-z0-9_-][A-Za-z0-9._-]{0,99})$/;
// A path that streams without end (server-sent events style), as a real stream route does.
const streamPath = process.env.EXAMPLE_STREAM_PATH || "";

let migrated = 0;
if (dataDir && broken === "migrate") {
  for (const name of fs.readdirSync(dataDir)) {
    if (name.startsWith(".") || name === "lost+found") continue;
    const file = path.join(dataDir, name);
    if (!fs.statSync(file).isFile()) continue;
    writeAtomic(file, `migrated-by-${release}:` + fs.readFileSync(file, "utf8"));
    migrated += 1;
  }
  console.log(`migrate: rewrote ${migrated} stored value(s) in ${dataDir}`);
}

function writeAtomic(file, content) {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, file);
}

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const bucketCounts = BUCKETS.map(() => 0);
let durationSum = 0;
let durationCount = 0;
const byCode = new Map();
let served = 0;

function readMeta() {
  try {
    return JSON.parse(fs.readFileSync(path.join(__dirname, "release.json"), "utf8"));
  } catch (e) {
    return {};
  }
}

function observe(seconds, code) {
  durationSum += seconds;
  durationCount += 1;
  BUCKETS.forEach((le, i) => {
    if (seconds <= le) bucketCounts[i] += 1;
  });
  byCode.set(code, (byCode.get(code) || 0) + 1);
}

function metrics() {
  const l = `component="${component}",color="${color}",release="${release}"`;
  const out = ["# HELP http_request_duration_seconds Duration of HTTP requests, health checks excluded.", "# TYPE http_request_duration_seconds histogram"];
  BUCKETS.forEach((le, i) => out.push(`http_request_duration_seconds_bucket{${l},le="${le}"} ${bucketCounts[i]}`));
  out.push(`http_request_duration_seconds_bucket{${l},le="+Inf"} ${durationCount}`);
  out.push(`http_request_duration_seconds_sum{${l}} ${durationSum}`);
  out.push(`http_request_duration_seconds_count{${l}} ${durationCount}`);
  out.push("# HELP http_requests_total HTTP requests by status code, health checks excluded.");
  out.push("# TYPE http_requests_total counter");
  for (const [code, n] of [...byCode.entries()].sort()) out.push(`http_requests_total{${l},code="${code}"} ${n}`);
  return out.join("\n") + "\n";
}

function send(res, status, body, type) {
  res.writeHead(status, {
    "content-type": type || "application/json",
    "x-release": release,
    "x-color": color,
    "x-component": component,
    "x-node": node,
  });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const url = (req.url || "/").split("?")[0];
  // A failed request leaves a line, stamped as HAProxy's access log is (bluegreen `logs` interleaves them).
  res.on("finish", () => {
    if (res.statusCode >= 400 && url !== healthPath && !url.endsWith("/health"))
      console.log(`${new Date().toISOString()} ${req.method} ${url} ${res.statusCode}`);
  });
  if (url === healthPath || url.endsWith("/health")) {
    if (broken === "health" || broken === "migrate" || (broken === "health-node-2" && node === "2"))
      return send(res, 500, JSON.stringify({ status: "broken", release }) + "\n");
    return send(res, 200, JSON.stringify({ status: "ok", component, color, release }) + "\n");
  }
  if (url === "/metrics") return send(res, 200, metrics(), "text/plain; version=0.0.4");
  // Proves a variable reached the app without ever showing it: the SHA-256 of its value.
  const env = /(?:^|\/)env-sha256\/([A-Z_][A-Z0-9_]*)$/.exec(url);
  if (env) {
    const v = process.env[env[1]];
    return send(
      res,
      v === undefined ? 404 : 200,
      JSON.stringify({ name: env[1], sha256: v === undefined ? null : crypto.createHash("sha256").update(v).digest("hex") }) + "\n",
    );
  }
  // Who the client is, as the proxies in front say (README "Edge"): X-Forwarded-For and -Proto, and the peer.
  if (url === "/client-address") {
    const h = (n) => req.headers[n] ?? null;
    return send(
      res,
      200,
      JSON.stringify({ forwardedFor: h("x-forwarded-for"), forwardedProto: h("x-forwarded-proto"), peer: req.socket.remoteAddress }) + "\n",
    );
  }
  const key = dataDir ? DATA_KEY.exec(url) : null;
  if (key) return data(req, res, path.join(dataDir, key[1]));
  if (streamPath && url === streamPath) return stream(res);
  const started = process.hrtime.bigint();
  const finish = (status) => {
    observe(Number(process.hrtime.bigint() - started) / 1e9, status);
    send(res, status, JSON.stringify({ component, color, release, path: url }) + "\n");
  };
  served += 1;
  if (broken === "errors" && served % 10 < 3) return finish(500);
  if (broken === "latency") return setTimeout(() => finish(200), 800);
  // ?holdMs=N: a long-lived request, answered after N ms (at most 2 minutes).
  const hold = Math.min(Number(/[?&]holdMs=(\d+)/.exec(req.url || "")?.[1] || 0), 120000);
  if (hold > 0) return setTimeout(() => finish(200), hold);
  return finish(200);
});
function stream(res) {
  res.writeHead(200, { "content-type": "text/event-stream", "x-release": release, "x-color": color, "x-component": component, "x-node": node });
  const tick = () => res.write(`data: ${JSON.stringify({ color, release, at: Date.now() })}\n\n`);
  tick();
  const timer = setInterval(tick, 500);
  res.on("close", () => clearInterval(timer));
}
function data(req, res, file) {
  if (req.method === "GET") {
    let v;
    try {
      v = fs.readFileSync(file);
    } catch (e) {
      return send(res, 404, JSON.stringify({ error: "no such key" }) + "\n");
    }
    return send(res, 200, v, "application/octet-stream");
  }
  if (req.method !== "PUT") return send(res, 405, JSON.stringify({ error: "GET or PUT" }) + "\n");
  const chunks = [];
  let size = 0;
  req.on("data", (c) => {
    size += c.length;
    if (size <= 1 << 20) chunks.push(c);
  });
  req.on("end", () => {
    if (size > 1 << 20) return send(res, 413, JSON.stringify({ error: "at most 1 MiB" }) + "\n");
    writeAtomic(file, Buffer.concat(chunks));
    send(res, 200, JSON.stringify({ stored: path.basename(file), bytes: size }) + "\n");
  });
}

server.keepAliveTimeout = 65000;
server.listen(port, host, () => {
  console.log(`${component}/${color} release ${release}${broken ? ` (broken: ${broken})` : ""} listening on ${host}:${port}`);
});
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
