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

        it("reads status, x-release and x-color of a 200", async () => {
            server = await startServer(reply(200, { "x-release": "abc1234", "x-color": "green" }, "ok\n"));
            assert.deepEqual(await probe(server.url("/health"), 1000), { status: 200, release: "abc1234", color: "green", detail: "ok" });
            assert.deepEqual(server.requests, ["/health"]);
        });

        it("keeps an excerpt of the body of an error", async () => {
            server = await startServer(reply(500, {}, "  database unreachable: ECONNRESET\n"));
            assert.deepEqual(await probe(server.url("/health"), 1000), {
                status: 500,
                release: undefined,
                color: undefined,
                detail: "database unreachable: ECONNRESET",
            });
        });

        it("keeps at most 300 characters of a long body", async () => {
            server = await startServer(reply(500, {}, "e".repeat(5000)));
            const p = await probe(server.url("/"), 1000);
            assert.equal(p.detail, "e".repeat(300));
        });

        it("gives status 0 and the error when the connection is refused", async () => {
            const port = await closedPort();
            const p = await probe(`http://127.0.0.1:${port}/health`, 1000);
            assert.equal(p.status, 0);
            assert.match(p.detail, new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
        });

        it("gives status 0 after timeoutMs when the server never answers", async () => {
            server = await startServer(() => undefined); // holds the request open
            assert.deepEqual(await probe(server.url("/health"), 150), { status: 0, detail: "timed out after 150 ms" });
        });
    });
});
