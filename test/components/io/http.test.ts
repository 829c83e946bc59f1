import assert from "node:assert/strict";
import { probe } from "../../../components/io/http";
import { TestServer, closedPort, reply, startServer } from "../../helpers/httpServer";

describe("http", () => {
    describe("probe", () => {
        let server: TestServer | undefined;
        afterEach(async () => {
            await server?.close();
            server = undefined;
        });

        it("reads the status, the headers and the body of a 200", async () => {
            server = await startServer(reply(200, { "x-bluegreen-color": "green" }, "ok\n"));
            const p = await probe(server.url("/health"), 1000);
            assert.equal(p.status, 200);
            assert.equal(p.headers["x-bluegreen-color"], "green");
            assert.equal(p.body, "ok\n");
            assert.equal(p.detail, "ok");
            assert.deepEqual(server.requests, ["/health"]);
        });

        it("keeps an excerpt of the body of an error", async () => {
            server = await startServer(reply(500, {}, "  database unreachable: ECONNRESET\n"));
            const p = await probe(server.url("/health"), 1000);
            assert.equal(p.status, 500);
            assert.equal(p.detail, "database unreachable: ECONNRESET");
        });

        it("keeps at most 300 characters of a long body for messages, and 64 KiB to match", async () => {
            server = await startServer(reply(500, {}, "e".repeat(100_000)));
            const p = await probe(server.url("/"), 1000);
            assert.equal(p.detail, "e".repeat(300));
            assert.equal(p.body.length, 64 * 1024);
        });

        it("gives status 0 and the error when the connection is refused", async () => {
            const port = await closedPort();
            const p = await probe(`http://127.0.0.1:${port}/health`, 1000);
            assert.equal(p.status, 0);
            assert.match(p.detail, new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
        });

        it("gives status 0 after timeoutMs when the server never answers", async () => {
            server = await startServer(() => undefined); // holds the request open
            assert.deepEqual(await probe(server.url("/health"), 150), { status: 0, headers: {}, body: "", detail: "timed out after 150 ms" });
        });

        /** Answers 200 at once, then a chunk every 50 ms, forever: a stream route. */
        const streams: Parameters<typeof startServer>[0] = (_req, res) => {
            res.writeHead(200, { "content-type": "text/event-stream", "x-bluegreen-color": "blue" });
            const t = setInterval(() => res.write("data: tick\n\n"), 50);
            res.on("close", () => clearInterval(t));
        };

        it("finishes at the headers of a response that never ends when no body is asked for", async function () {
            this.timeout(5000); // the probe must end by itself
            server = await startServer(streams);
            const t0 = Date.now();
            const p = await probe(server.url("/stream"), 2000, { body: false });
            assert.ok(Date.now() - t0 < 1000, `answered in ${Date.now() - t0} ms`);
            assert.equal(p.status, 200);
            assert.equal(p.headers["x-bluegreen-color"], "blue");
            assert.equal(p.body, "");
        });

        it("ends at its total deadline a body that keeps coming, with what arrived", async function () {
            this.timeout(5000); // the probe must end by itself
            server = await startServer(streams);
            const t0 = Date.now();
            const p = await probe(server.url("/stream"), 300);
            const took = Date.now() - t0;
            assert.ok(took >= 250 && took < 1500, `took ${took} ms`);
            assert.equal(p.status, 200);
            assert.match(p.body, /^data: tick\n\n/);
        });

        it("gives status 0 at its total deadline when the headers never come, however the connection trickles", async function () {
            this.timeout(5000); // the probe must end by itself
            server = await startServer((_req, res) => {
                // Headers flushed byte by byte never complete; the idle timeout alone would never fire.
                const socket = res.socket!;
                socket.write("HTTP/1.1 200 OK\r\n");
                const t = setInterval(() => socket.write("x-pad: y\r\n"), 50);
                socket.on("close", () => clearInterval(t));
            });
            const t0 = Date.now();
            const p = await probe(server.url("/health"), 300);
            assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`);
            assert.equal(p.status, 0);
            assert.match(p.detail, /timed out after 300 ms/);
        });
    });
});
