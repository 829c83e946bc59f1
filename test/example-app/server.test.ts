// example-app/server.js as a real process: a copy of it in a temp dir with a release.json
// next to it (it reads release.json from its own directory).

import assert from "node:assert/strict";
import * as crypto from "crypto";
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { makeTmp, removeTmp } from "../helpers/tmp";

const SERVER_JS = path.resolve(__dirname, "..", "..", "example-app", "server.js");

interface Response {
    readonly status: number;
    readonly headers: http.IncomingHttpHeaders;
    readonly body: string;
    readonly ms: number;
}

function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once("error", reject);
        s.listen(0, "127.0.0.1", () => {
            const { port } = s.address() as net.AddressInfo;
            s.close(() => resolve(port));
        });
    });
}

/** One request on a fresh connection (no keep-alive, so the server can stop at once). */
function get(port: number, urlPath: string): Promise<Response> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
        const req = http.get({ host: "127.0.0.1", port, path: urlPath, agent: false, headers: { connection: "close" } }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () =>
                resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8"), ms: Date.now() - started }),
            );
            res.on("error", reject);
        });
        req.on("error", reject);
        req.setTimeout(10_000, () => req.destroy(new Error(`GET ${urlPath} timed out`)));
    });
}

/** The value of the one metrics line that starts with `prefix` (labels included). */
function metric(text: string, prefix: string): number | undefined {
    const line = text.split("\n").find((l) => l.startsWith(prefix + " "));
    return line === undefined ? undefined : Number(line.slice(prefix.length + 1));
}

describe("example-app/server.js", function () {
    this.timeout(30_000);

    let dir: string | undefined;
    let child: ChildProcess | undefined;
    let output = "";

    afterEach(async () => {
        const c = child;
        child = undefined;
        if (c && c.exitCode === null && c.signalCode === null) {
            const exited = new Promise((resolve) => c.once("exit", resolve));
            c.kill("SIGTERM");
            const timer = setTimeout(() => c.kill("SIGKILL"), 3000);
            await exited;
            clearTimeout(timer);
        }
        removeTmp(dir);
        dir = undefined;
    });

    /** Starts the server with `meta` as release.json (none when undefined); resolves once it listens. */
    async function start(meta: Record<string, string> | undefined, env: Record<string, string> = {}): Promise<number> {
        dir = makeTmp("bluegreen-server-");
        fs.copyFileSync(SERVER_JS, path.join(dir, "server.js"));
        if (meta) fs.writeFileSync(path.join(dir, "release.json"), JSON.stringify(meta));
        const port = await freePort();
        output = "";
        const baseEnv = { ...process.env };
        for (const k of ["BLUEGREEN_RELEASE", "BLUEGREEN_HEALTH_PATH", "BLUEGREEN_NODE", "HOST"]) delete baseEnv[k];
        const c = spawn(process.execPath, [path.join(dir, "server.js")], {
            env: { ...baseEnv, PORT: String(port), BLUEGREEN_COLOR: "green", BLUEGREEN_COMPONENT: "web", ...env },
            stdio: ["ignore", "pipe", "pipe"],
        });
        child = c;
        await new Promise<void>((resolve, reject) => {
            const onData = (b: Buffer) => {
                output += b.toString("utf8");
                if (output.includes("listening on")) resolve();
            };
            c.stdout!.on("data", onData);
            c.stderr!.on("data", (b: Buffer) => (output += b.toString("utf8")));
            c.once("exit", (code) => reject(new Error(`server exited ${code} before listening:\n${output}`)));
        });
        return port;
    }

    it("holds a request ?holdMs=N for N ms: a long-lived request, for drain tests", async () => {
        const port = await start({ release: "abc1234" });
        const r = await get(port, "/?holdMs=400");
        assert.equal(r.status, 200);
        assert.ok(r.ms >= 380, `answered after ${r.ms} ms`);
        assert.ok((await get(port, "/")).ms < 300, "no hold without it");
    });

    it("streams EXAMPLE_STREAM_PATH without end, headers first; other paths answer as always", async () => {
        const port = await start({ release: "abc1234" }, { EXAMPLE_STREAM_PATH: "/stream" });
        const head = await new Promise<{ status: number; type?: string; first: string }>((resolve, reject) => {
            const req = http.get({ host: "127.0.0.1", port, path: "/stream", agent: false }, (res) => {
                res.once("data", (c: Buffer) => {
                    resolve({ status: res.statusCode ?? 0, type: res.headers["content-type"], first: c.toString("utf8") });
                    req.destroy();
                });
            });
            req.on("error", reject);
        });
        assert.deepEqual({ status: head.status, type: head.type }, { status: 200, type: "text/event-stream" });
        assert.match(head.first, /^data: \{"color":"green","release":"abc1234","at":\d+\}\n\n/);
        assert.equal((await get(port, "/stream/other")).status, 200);
    });

    it("names its node of the pool in x-node (BLUEGREEN_NODE)", async () => {
        const port = await start({ release: "abc1234" }, { BLUEGREEN_NODE: "3" });
        assert.equal((await get(port, "/")).headers["x-node"], "3");
    });

    it("announces itself and marks every response with release, color and component", async () => {
        const port = await start({ release: "abc1234" });
        assert.match(output, new RegExp(`^web/green release abc1234 listening on 127\\.0\\.0\\.1:${port}\\n`));
        for (const p of ["/", "/api/things?x=1", "/health", "/metrics"]) {
            const r = await get(port, p);
            assert.equal(r.headers["x-release"], "abc1234", p);
            assert.equal(r.headers["x-color"], "green", p);
            assert.equal(r.headers["x-component"], "web", p);
            assert.equal(r.headers["x-node"], "1", `${p}: a pool of one is node 1`);
        }
        const r = await get(port, "/api/things?x=1");
        assert.equal(r.status, 200);
        assert.deepEqual(JSON.parse(r.body), { component: "web", color: "green", release: "abc1234", path: "/api/things" });
    });

    it("answers /health 200 when healthy", async () => {
        const port = await start({ release: "abc1234" });
        const r = await get(port, "/health");
        assert.equal(r.status, 200);
        assert.deepEqual(JSON.parse(r.body), { status: "ok", component: "web", color: "green", release: "abc1234" });
        // Any path ending in /health is a health check, and BLUEGREEN_HEALTH_PATH adds one.
        assert.equal((await get(port, "/api/health")).status, 200);
    });

    it("answers /health 500 when built with broken=health, and serves other paths", async () => {
        const port = await start({ release: "bad0001", broken: "health" }, { BLUEGREEN_HEALTH_PATH: "/ready" });
        assert.match(output, /release bad0001 \(broken: health\) listening/);
        for (const p of ["/health", "/ready"]) {
            const r = await get(port, p);
            assert.equal(r.status, 500, p);
            assert.deepEqual(JSON.parse(r.body), { status: "broken", release: "bad0001" });
            assert.equal(r.headers["x-release"], "bad0001");
        }
        assert.equal((await get(port, "/")).status, 200);
    });

    it("broken=health-node-2 fails health on node 2 of a pool (a peer that fails its install), and serves", async () => {
        const port = await start({ release: "bad0005", broken: "health-node-2" }, { BLUEGREEN_NODE: "2" });
        assert.equal((await get(port, "/health")).status, 500);
        assert.equal((await get(port, "/")).status, 200);
    });

    it("broken=health-node-2 is healthy on any other node", async () => {
        const port = await start({ release: "bad0005", broken: "health-node-2" }, { BLUEGREEN_NODE: "3" });
        assert.equal((await get(port, "/health")).status, 200);
    });

    it("broken=errors answers some requests with 5xx, and counts them by code", async () => {
        const port = await start({ release: "bad0002", broken: "errors" });
        const statuses: number[] = [];
        for (let i = 0; i < 20; i++) statuses.push((await get(port, `/req/${i}`)).status);
        const errors = statuses.filter((s) => s >= 500).length;
        assert.ok(errors > 0, `no 5xx among ${statuses.join(",")}`);
        assert.ok(
            statuses.every((s) => s === 200 || s === 500),
            statuses.join(","),
        );
        assert.equal(errors, 6, "3 of every 10 requests fail"); // served % 10 < 3: requests 1, 2, 10, 11, 12, 20
        assert.equal((await get(port, "/health")).status, 200);
        const m = (await get(port, "/metrics")).body;
        const l = 'component="web",color="green",release="bad0002"';
        assert.equal(metric(m, `http_requests_total{${l},code="500"}`), 6);
        assert.equal(metric(m, `http_requests_total{${l},code="200"}`), 14);
        assert.equal(metric(m, `http_request_duration_seconds_count{${l}}`), 20);
    });

    it("broken=latency answers ordinary requests late (at least 500 ms), health checks not", async () => {
        const port = await start({ release: "bad0003", broken: "latency" });
        const slow = await get(port, "/slow");
        assert.equal(slow.status, 200);
        assert.ok(slow.ms >= 500, `answered after ${slow.ms} ms`);
        const health = await get(port, "/health");
        assert.equal(health.status, 200);
        assert.ok(health.ms < slow.ms, `health ${health.ms} ms, request ${slow.ms} ms`);
        const m = (await get(port, "/metrics")).body;
        const l = 'component="web",color="green",release="bad0003"';
        assert.ok(metric(m, `http_request_duration_seconds_sum{${l}}`)! >= 0.5);
        assert.equal(metric(m, `http_request_duration_seconds_bucket{${l},le="0.5"}`), 0);
        assert.equal(metric(m, `http_request_duration_seconds_bucket{${l},le="1"}`), 1);
    });

    it("/metrics exposes a duration histogram and request counts matching the requests made, health checks excluded", async () => {
        const port = await start({ release: "abc1234" });
        const l = 'component="web",color="green",release="abc1234"';
        const empty = (await get(port, "/metrics")).body;
        assert.equal(metric(empty, `http_request_duration_seconds_count{${l}}`), 0);
        assert.ok(!empty.includes("http_requests_total{"));

        for (let i = 0; i < 5; i++) await get(port, `/page/${i}`);
        for (let i = 0; i < 3; i++) await get(port, "/health");
        const r = await get(port, "/metrics");
        assert.equal(r.status, 200);
        assert.equal(r.headers["content-type"], "text/plain; version=0.0.4");
        const m = r.body;
        assert.match(m, /^# TYPE http_request_duration_seconds histogram$/m);
        assert.match(m, /^# TYPE http_requests_total counter$/m);
        assert.equal(metric(m, `http_requests_total{${l},code="200"}`), 5);
        assert.equal(metric(m, `http_request_duration_seconds_count{${l}}`), 5);
        assert.equal(metric(m, `http_request_duration_seconds_bucket{${l},le="+Inf"}`), 5);
        const sum = metric(m, `http_request_duration_seconds_sum{${l}}`);
        assert.ok(sum !== undefined && sum >= 0, `sum ${sum}`);
        // Buckets are cumulative: non-decreasing up to the +Inf count.
        const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10].map((le) =>
            metric(m, `http_request_duration_seconds_bucket{${l},le="${le}"}`)!,
        );
        assert.ok(
            buckets.every((n, i) => Number.isInteger(n) && (i === 0 || n >= buckets[i - 1]) && n <= 5),
            buckets.join(","),
        );
        assert.equal(buckets[buckets.length - 1], 5);
    });

    it("takes the release from BLUEGREEN_RELEASE without a release.json", async () => {
        const port = await start(undefined, { BLUEGREEN_RELEASE: "env0001" });
        const r = await get(port, "/");
        assert.equal(r.headers["x-release"], "env0001");
        assert.equal(JSON.parse(r.body).release, "env0001");
    });

    it("tells the SHA-256 of a variable's value, never the value", async () => {
        const port = await start({ release: "abc1234" }, { DB_PASSWORD: "hunter2" });
        const r = await get(port, "/env-sha256/DB_PASSWORD");
        assert.equal(r.status, 200);
        assert.equal(JSON.parse(r.body).sha256, crypto.createHash("sha256").update("hunter2").digest("hex"));
        assert.equal(r.body.includes("hunter2"), false);
        assert.equal((await get(port, "/env-sha256/NOT_SET")).status, 404);
    });

    it("tells the client's address as the proxies in front forwarded it", async () => {
        const port = await start({ release: "abc1234" });
        const plain = JSON.parse((await get(port, "/client-address")).body);
        assert.deepEqual({ ...plain, peer: typeof plain.peer }, { forwardedFor: null, forwardedProto: null, peer: "string" });
        const r = await new Promise<string>((resolve, reject) => {
            http.get(
                {
                    port,
                    host: "127.0.0.1",
                    path: "/client-address",
                    agent: false,
                    headers: { connection: "close", "x-forwarded-for": "192.0.2.7", "x-forwarded-proto": "https" },
                },
                (res) => {
                    let body = "";
                    res.on("data", (b) => (body += b));
                    res.on("end", () => resolve(body));
                },
            ).on("error", reject);
        });
        assert.deepEqual(JSON.parse(r).forwardedFor, "192.0.2.7");
        assert.deepEqual(JSON.parse(r).forwardedProto, "https");
    });

    it("stops cleanly on SIGTERM", async () => {
        await start({ release: "abc1234" });
        const c = child!;
        const exited = new Promise<number | null>((resolve) => c.once("exit", (code) => resolve(code)));
        c.kill("SIGTERM");
        assert.equal(await exited, 0);
    });
});
