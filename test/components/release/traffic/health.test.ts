import assert from "node:assert/strict";
import type { Probe } from "../../../../components/io/http";
import { judge, statusMatches, waitHealthy } from "../../../../components/release/traffic/health";
import { TestServer, closedPort, reply, startServer } from "../../../helpers/httpServer";
import { quietProgress } from "../../../helpers/quiet";

describe("health", () => {
    quietProgress();

    describe("judge", () => {
        const p = (status: number, body = "", headers: Record<string, string> = {}): Probe => ({ status, headers, body, detail: body.trim().slice(0, 300) });

        it("no response is unhealthy with the connection error", () => {
            assert.deepEqual(judge({ status: 0, headers: {}, body: "", detail: "connect ECONNREFUSED 127.0.0.1:1" }), {
                healthy: false,
                reason: "no response: connect ECONNREFUSED 127.0.0.1:1",
            });
        });

        it("by default any 2xx is healthy, whatever headers the app sends or not", () => {
            assert.deepEqual(judge(p(200, "ok")), { healthy: true, reason: "HTTP 200" });
            assert.deepEqual(judge(p(204)), { healthy: true, reason: "HTTP 204" });
            assert.deepEqual(judge(p(200, "ok", { "x-release": "someone-else" })), { healthy: true, reason: "HTTP 200" });
        });

        it("a status outside the range is unhealthy, with the body excerpt and what was expected", () => {
            assert.deepEqual(judge(p(503, "starting")), { healthy: false, reason: "HTTP 503: starting (expected 200-299)" });
            assert.deepEqual(judge(p(404)), { healthy: false, reason: "HTTP 404 (expected 200-299)" });
            assert.deepEqual(judge(p(302), { status: "200" }), { healthy: false, reason: "HTTP 302 (expected 200)" });
        });

        it("reads lists and ranges of statuses", () => {
            assert.equal(statusMatches(304, "200-299,304"), true);
            assert.equal(statusMatches(301, "200-299,304"), false);
            assert.equal(statusMatches(200, "200"), true);
            assert.equal(statusMatches(299, "200-299"), true);
            assert.equal(statusMatches(300, "200-299"), false);
        });

        it("with a body match, the right status without the text is unhealthy", () => {
            assert.deepEqual(judge(p(200, '{"status":"ok"}'), { status: "200-299", body: '"ok"' }), { healthy: true, reason: "HTTP 200" });
            assert.deepEqual(judge(p(200, "degraded"), { status: "200-299", body: "ok" }), { healthy: false, reason: 'HTTP 200 without "ok" in its body' });
            // The status rule always applies: a 500 that says "ok" is not healthy.
            assert.equal(judge(p(500, "ok"), { status: "200-299", body: "ok" }).healthy, false);
        });
    });

    describe("waitHealthy", () => {
        let server: TestServer | undefined;
        afterEach(async () => {
            await server?.close();
            server = undefined;
        });
        const spec = { attempts: 5, intervalMs: 10, timeoutMs: 500 };

        it("returns as soon as a probe is healthy, with the attempt count", async () => {
            server = await startServer((_req, res, n) => {
                if (n < 3) {
                    res.writeHead(503);
                    res.end("starting");
                } else {
                    res.writeHead(200);
                    res.end("ok");
                }
            });
            const r = await waitHealthy("web-blue", server.url("/health"), spec);
            assert.equal(r.healthy, true);
            assert.equal(r.attempts, 3);
            assert.equal(r.reason, "HTTP 200");
            assert.deepEqual([r.last.status, r.last.body], [200, "ok"]);
            assert.equal(server.requests.length, 3);
        });

        it("gives up after the attempts with the last reason", async () => {
            server = await startServer(reply(200, {}, "degraded"));
            const r = await waitHealthy("web-blue", server.url("/health"), { ...spec, attempts: 3 }, { status: "200-299", body: "ok" });
            assert.equal(r.healthy, false);
            assert.equal(r.attempts, 3);
            assert.equal(r.reason, 'HTTP 200 without "ok" in its body');
            assert.equal(server.requests.length, 3);
        });

        it("reports a refused connection as the reason", async () => {
            const port = await closedPort();
            const r = await waitHealthy("web-blue", `http://127.0.0.1:${port}/health`, { ...spec, attempts: 2 });
            assert.equal(r.healthy, false);
            assert.equal(r.attempts, 2);
            assert.match(r.reason, /^no response: connect ECONNREFUSED/);
        });
    });

    it("progress goes to stderr unless BLUEGREEN_QUIET is set", async () => {
        const saved = process.env.BLUEGREEN_QUIET;
        const write = process.stderr.write;
        const lines: string[] = [];
        const server = await startServer(reply(200, { "x-release": "abc1234" }, "ok"));
        try {
            delete process.env.BLUEGREEN_QUIET;
            (process.stderr as any).write = (chunk: string) => {
                lines.push(String(chunk));
                return true;
            };
            await waitHealthy("web-blue", server.url("/health"), { attempts: 1, intervalMs: 10, timeoutMs: 500 });
        } finally {
            (process.stderr as any).write = write;
            if (saved === undefined) delete process.env.BLUEGREEN_QUIET;
            else process.env.BLUEGREEN_QUIET = saved;
            await server.close();
        }
        assert.equal(lines.length, 1);
        assert.match(lines[0], /^\[bluegreen\] \d\d:\d\d:\d\d\.\d{3} web-blue: healthy after 1 attempt\n$/);
    });
});
