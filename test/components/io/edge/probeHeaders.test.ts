import assert from "node:assert/strict";
import { spawn } from "child_process";
import * as http from "http";
import { AddressInfo } from "net";
import { PROBER_SCRIPT, parseProberOutput, probeAll, proberCmd } from "../../../../components/io/prober";
import { LOCAL_PROBE } from "../../../../components/model/traffic/topology";

/** A host route is verified as its host: the probe sends the Host header, here and in the instance's prober. */
describe("probes with request headers (host routes)", () => {
    let server: http.Server;
    let port = 0;
    before(async () => {
        server = http.createServer((req, res) => {
            res.writeHead(200, { "x-host": req.headers.host ?? "", "x-conn": req.headers.connection ?? "" });
            res.end();
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        port = (server.address() as AddressInfo).port;
    });
    after(() => server.close());

    it("locally: the Host header set, connection still close; without headers, the URL's host", async () => {
        const [a, b] = await probeAll(LOCAL_PROBE, [
            { url: `http://127.0.0.1:${port}/`, timeoutMs: 2000, headers: { host: "api.example.com", connection: "keep-alive" } },
            { url: `http://127.0.0.1:${port}/`, timeoutMs: 2000 },
        ]);
        assert.deepEqual([a.headers["x-host"], a.headers["x-conn"]], ["api.example.com", "close"]);
        assert.equal(b.headers["x-host"], `127.0.0.1:${port}`);
    });

    it("the instance's prober: headers reach it on stdin and go with the request", async () => {
        const targets = [{ url: `http://127.0.0.1:${port}/`, timeoutMs: 2000, headers: { host: "www.example.com" } }];
        const cmd = proberCmd({ via: "exec", target: { remote: "prod" }, instance: "prod-haproxy" }, targets);
        assert.deepEqual(JSON.parse(String(cmd.input)), targets);
        const out = await new Promise<string>((resolve) => {
            const child = spawn(process.execPath, ["-e", PROBER_SCRIPT]);
            let text = "";
            child.stdout.on("data", (b: Buffer) => (text += b.toString()));
            child.on("close", () => resolve(text));
            child.stdin.end(cmd.input);
        });
        assert.equal(parseProberOutput(out, 1)?.[0].headers["x-host"], "www.example.com");
    });
});
