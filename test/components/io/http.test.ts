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
    });
});
