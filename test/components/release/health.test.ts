import assert from "node:assert/strict";
import { judge, waitHealthy } from "../../../components/release/health";
import { TestServer, closedPort, reply, startServer } from "../../helpers/httpServer";
import { quietProgress } from "../../helpers/quiet";

describe("health", () => {
    quietProgress();

    describe("judge", () => {
        it("no response is unhealthy with the connection error", () => {
            assert.deepEqual(judge({ status: 0, detail: "connect ECONNREFUSED 127.0.0.1:1" }, "abc1234"), {
                healthy: false,
                reason: "no response: connect ECONNREFUSED 127.0.0.1:1",
            });
        });

        it("a non-200 status is unhealthy, with the body excerpt when there is one", () => {
            assert.deepEqual(judge({ status: 503, detail: "starting" }), { healthy: false, reason: "HTTP 503: starting" });
            assert.deepEqual(judge({ status: 404, detail: "" }), { healthy: false, reason: "HTTP 404" });
            assert.deepEqual(judge({ status: 204, release: "abc1234", detail: "" }, "abc1234"), { healthy: false, reason: "HTTP 204" });
        });

        it("a 200 from another release is unhealthy", () => {
            assert.deepEqual(judge({ status: 200, release: "def5678", detail: "ok" }, "abc1234"), {
                healthy: false,
                reason: "serves release def5678, expected abc1234",
            });
        });

        it("a 200 without x-release is unhealthy when a release is expected", () => {
            assert.deepEqual(judge({ status: 200, detail: "ok" }, "abc1234"), {
                healthy: false,
                reason: "serves release (no x-release header), expected abc1234",
            });
        });

        it("a 200 of the expected release, or any 200 when none is expected, is healthy", () => {
            assert.deepEqual(judge({ status: 200, release: "abc1234", detail: "ok" }, "abc1234"), { healthy: true, reason: "HTTP 200" });
            assert.deepEqual(judge({ status: 200, detail: "ok" }), { healthy: true, reason: "HTTP 200" });
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
                    res.writeHead(200, { "x-release": "abc1234", "x-color": "blue" });
                    res.end("ok");
                }
            });
            const r = await waitHealthy("web-blue", server.url("/health"), spec, "abc1234");
            assert.deepEqual(r, {
                healthy: true,
                attempts: 3,
                last: { status: 200, release: "abc1234", color: "blue", detail: "ok" },
                reason: "HTTP 200",
            });
            assert.equal(server.requests.length, 3);
        });

        it("gives up after the attempts with the last reason", async () => {
            server = await startServer(reply(200, { "x-release": "def5678" }, "ok"));
            const r = await waitHealthy("web-blue", server.url("/health"), { ...spec, attempts: 3 }, "abc1234");
            assert.deepEqual(r, {
                healthy: false,
                attempts: 3,
                last: { status: 200, release: "def5678", color: undefined, detail: "ok" },
                reason: "serves release def5678, expected abc1234",
            });
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
            await waitHealthy("web-blue", server.url("/health"), { attempts: 1, intervalMs: 10, timeoutMs: 500 }, "abc1234");
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
