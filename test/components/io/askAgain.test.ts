import assert from "node:assert/strict";
import { LOCAL_PROBE } from "../../../components/model/traffic/topology";
import { NO_ANSWER_TRIES, askAgain, probeAll } from "../../../components/io/prober";
import { TestServer, startServer } from "../../helpers/httpServer";

describe("io/prober askAgain: a probe with no answer is asked again", () => {
    let server: TestServer | undefined;
    afterEach(async () => {
        await server?.close();
        server = undefined;
    });

    it("asks only the unanswered ones again, until they answer, and keeps an HTTP error as the app's answer", async () => {
        let hung = 0;
        server = await startServer((req, res) => {
            if (req.url === "/slow" && ++hung === 1) return; // the first one never gets an answer
            res.writeHead(req.url === "/err" ? 500 : 200);
            res.end(req.url ?? "");
        });
        const targets = ["/ok", "/slow", "/err"].map((p) => ({ url: server!.url(p), timeoutMs: 300 }));
        const probes = await probeAll(LOCAL_PROBE, targets);
        assert.deepEqual(
            probes.map((p) => p.status),
            [200, 0, 500],
        );
        await askAgain(LOCAL_PROBE, targets, probes, [0, 1, 2], (k) => `t${k}`, "test");
        assert.deepEqual(
            probes.map((p) => p.status),
            [200, 200, 500],
        );
        assert.deepEqual(server.requests, ["/ok", "/slow", "/err", "/slow"]);
    });

    it("gives up after NO_ANSWER_TRIES probes in all, and leaves out the targets it was not given", async () => {
        server = await startServer(() => undefined);
        const targets = ["/a", "/b"].map((p) => ({ url: server!.url(p), timeoutMs: 150 }));
        const probes = await probeAll(LOCAL_PROBE, targets);
        await askAgain(LOCAL_PROBE, targets, probes, [0], (k) => `t${k}`, "test");
        assert.equal(probes[0].status, 0);
        assert.match(probes[0].detail, /timed out after 150 ms/);
        assert.equal(server.requests.filter((r) => r === "/a").length, NO_ANSWER_TRIES);
        assert.equal(server.requests.filter((r) => r === "/b").length, 1);
    });
});
