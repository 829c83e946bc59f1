// The Prometheus client against a Prometheus-like HTTP server on loopback: what it
// sends, and how it tells a number from NaN, empty, an error and a timeout.

import assert from "node:assert/strict";
import * as http from "http";
import { prometheusClient } from "../../../components/io/prometheus";
import { TestServer, startServer } from "../../helpers/httpServer";

const PORT = 19780;
/** Nothing listens here during this file. */
const CLOSED_PORT = 19789;

interface Seen {
    method: string;
    url: string;
    headers: http.IncomingHttpHeaders;
    form: URLSearchParams;
}

describe("io/prometheus client", function () {
    this.timeout(10_000);
    let server: TestServer | undefined;
    let seen: Seen[] = [];
    /** What the server answers next: status, body; "hang" never answers. */
    let answer: { status: number; body: string } | "hang" = { status: 200, body: "" };

    before(async () => {
        server = await startServer((req, res) => {
            const chunks: Buffer[] = [];
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", () => {
                seen.push({
                    method: req.method ?? "",
                    url: req.url ?? "",
                    headers: req.headers,
                    form: new URLSearchParams(Buffer.concat(chunks).toString("utf8")),
                });
                if (answer === "hang") return;
                res.writeHead(answer.status, { "content-type": "application/json" });
                res.end(answer.body);
            });
        }, PORT);
    });
    after(async () => server?.close());
    beforeEach(() => {
        seen = [];
    });

    const success = (resultType: string, result: unknown) => ({ status: 200, body: JSON.stringify({ status: "success", data: { resultType, result } }) });
    const client = (timeoutMs = 2000) => prometheusClient({ url: `http://127.0.0.1:${PORT}/`, timeoutMs });

    it("POSTs the query as a form with Prometheus's own timeout and the evaluation time", async () => {
        answer = success("vector", [{ metric: {}, value: [1, "0.0243"] }]);
        assert.deepEqual(await client().query("sum(up)", { timeMs: 1_764_669_630_250 }), { kind: "number", value: 0.0243 });
        assert.equal(seen.length, 1);
        assert.equal(seen[0].method, "POST");
        assert.equal(seen[0].url, "/api/v1/query");
        assert.equal(seen[0].headers["content-type"], "application/x-www-form-urlencoded");
        assert.equal(seen[0].form.get("query"), "sum(up)");
        assert.equal(seen[0].form.get("timeout"), "2000ms");
        assert.equal(seen[0].form.get("time"), "1764669630.250");
        await client().query("sum(up)");
        assert.equal(seen[1].form.get("time"), null, "no time: Prometheus evaluates now");
    });

    it("tells NaN from an empty result", async () => {
        answer = success("vector", [{ metric: {}, value: [1, "NaN"] }]);
        assert.deepEqual(await client().query("x"), { kind: "nan" });
        answer = success("vector", []);
        assert.deepEqual(await client().query("x"), { kind: "empty" });
    });

    it("a Prometheus error names the query and URL", async () => {
        answer = { status: 400, body: JSON.stringify({ status: "error", errorType: "bad_data", error: "parse error" }) };
        assert.deepEqual(await client().query("sum(("), {
            kind: "error",
            status: 400,
            message: `query sum(( at http://127.0.0.1:${PORT}/api/v1/query: Prometheus answered HTTP 400 (bad_data): parse error`,
        });
    });

    it("a server that does not answer is a timeout, bounded by timeoutMs", async () => {
        answer = "hang";
        const r = await client(300).query("slow_query");
        assert.deepEqual(r, { kind: "timeout", timeoutMs: 300, message: `query slow_query at http://127.0.0.1:${PORT}/api/v1/query: no answer within 300 ms` });
    });

    it("a refused connection is an error with the cause, never a throw", async () => {
        const r = await prometheusClient({ url: `http://127.0.0.1:${CLOSED_PORT}` }).query("up");
        assert.equal(r.kind, "error");
        assert.equal(
            (r as { message: string }).message,
            `query up at http://127.0.0.1:${CLOSED_PORT}/api/v1/query: fetch failed: connect ECONNREFUSED 127.0.0.1:${CLOSED_PORT}`,
        );
    });

    it("credentials in the URL become a Basic auth header and never appear in a message", async () => {
        answer = { status: 401, body: "unauthorized" };
        const c = prometheusClient({ url: `http://ops:s3cret@127.0.0.1:${PORT}` });
        assert.equal(c.url, `http://127.0.0.1:${PORT}`);
        const r = await c.query("up");
        assert.equal(seen[0].headers.authorization, `Basic ${Buffer.from("ops:s3cret").toString("base64")}`);
        assert.equal(r.kind, "error");
        assert.doesNotMatch((r as { message: string }).message, /s3cret|ops/);
        assert.throws(
            () => prometheusClient({ url: "http://ops:s3cret@[bad" }),
            (e: Error) => !e.message.includes("s3cret") && /invalid Prometheus URL/.test(e.message),
        );
    });

    it("ready: 200 is ready; 503 while starting and a refused connection are not, with the reason", async () => {
        answer = { status: 200, body: "Prometheus Server is Ready.\n" };
        assert.deepEqual(await client().ready(), { ready: true, detail: `GET http://127.0.0.1:${PORT}/-/ready: HTTP 200: Prometheus Server is Ready.` });
        assert.equal(seen[0].method, "GET");
        answer = { status: 503, body: "Service Unavailable" };
        assert.deepEqual(await client().ready(), { ready: false, detail: `GET http://127.0.0.1:${PORT}/-/ready: HTTP 503: Service Unavailable` });
        const refused = await prometheusClient({ url: `http://127.0.0.1:${CLOSED_PORT}` }).ready();
        assert.deepEqual(refused, {
            ready: false,
            detail: `GET http://127.0.0.1:${CLOSED_PORT}/-/ready: fetch failed: connect ECONNREFUSED 127.0.0.1:${CLOSED_PORT}`,
        });
    });

    it("loadedConfig GETs the config it runs; an unreadable answer says why", async () => {
        answer = { status: 200, body: JSON.stringify({ status: "success", data: { yaml: "global:\n  scrape_interval: 2s\n" } }) };
        assert.deepEqual(await client().loadedConfig(), {
            yaml: "global:\n  scrape_interval: 2s\n",
            detail: `GET http://127.0.0.1:${PORT}/api/v1/status/config: HTTP 200`,
        });
        assert.deepEqual([seen[0].method, seen[0].url], ["GET", "/api/v1/status/config"]);
        answer = { status: 503, body: "Service Unavailable" };
        assert.deepEqual(await client().loadedConfig(), { detail: `GET http://127.0.0.1:${PORT}/api/v1/status/config: HTTP 503: Service Unavailable` });
    });

    it("lastReloadOk reads prometheus_config_last_reload_successful from its own /metrics", async () => {
        answer = { status: 200, body: "# TYPE prometheus_config_last_reload_successful gauge\nprometheus_config_last_reload_successful 0\n" };
        assert.deepEqual(await client().lastReloadOk(), {
            ok: false,
            detail: `GET http://127.0.0.1:${PORT}/metrics: prometheus_config_last_reload_successful 0`,
        });
        assert.deepEqual([seen[0].method, seen[0].url], ["GET", "/metrics"]);
        answer = { status: 200, body: "prometheus_config_last_reload_successful 1\n" };
        assert.equal((await client().lastReloadOk()).ok, true);
        answer = { status: 200, body: "up 1\n" };
        assert.equal((await client().lastReloadOk()).ok, undefined);
    });
});
