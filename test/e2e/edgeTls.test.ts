// The edge (README "Edge"), part 1, on real Incus and HAProxy: listeners as Incus proxy
// devices with the PROXY protocol (the app sees the client's address), TLS from a secret
// certificate (the chain verified with a throwaway CA), a certificate change hot-swapped
// over the runtime API with no reload and no failed request under wrk, and a redirect to
// HTTPS. No certificate or key appears in state, output or `incus config show`.

import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as path from "path";
import * as tls from "tls";
import { TestStack, eventually } from "../../harness/stack";
import { startLoad } from "../../harness/load";
import { makeCa, makeLeaf, TestCa } from "../helpers/certs";

const A = "ed6e3a1";

interface Answer {
    readonly status: number;
    readonly headers: http.IncomingHttpHeaders;
    readonly body: string;
    readonly serial?: string;
}

/** One request on a fresh connection from `localAddress`; over TLS, verified against `ca` for localhost. */
function request(url: string, o: { localAddress?: string; ca?: TestCa; host?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
    const u = new URL(url);
    const secure = u.protocol === "https:";
    return new Promise((resolve, reject) => {
        const opts: https.RequestOptions = {
            host: u.hostname,
            port: Number(u.port),
            path: u.pathname + u.search,
            agent: false,
            timeout: 5000,
            headers: { connection: "close", ...(o.host ? { host: o.host } : {}), ...o.headers },
            ...(o.localAddress ? { localAddress: o.localAddress } : {}),
            ...(secure ? { ca: o.ca?.cert, servername: "localhost", rejectUnauthorized: true } : {}),
        };
        const req = (secure ? https : http).get(opts, (res) => {
            const serial = secure ? (res.socket as tls.TLSSocket).getPeerCertificate().serialNumber : undefined;
            let body = "";
            res.on("data", (b: Buffer) => (body += b.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ...(serial ? { serial } : {}) }));
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
    });
}

describe("e2e: the edge: listeners, PROXY protocol, TLS from a secret, hot swap, redirect", function () {
    this.timeout(600_000);
    const s = new TestStack({ name: "edgetls", basePort: 23700, placement: "incus" });
    const redirectPort = s.frontendPort + 5;
    const tlsPort = s.frontendPort + 6;
    const plainPort = s.frontendPort + 7;
    const seen: string[] = [];
    const record = <T extends { stdout: string; stderr: string }>(r: T): T => {
        seen.push(r.stdout, r.stderr);
        return r;
    };
    let ca: TestCa;
    let first: { bundle: string; serial: string };
    let second: { bundle: string; serial: string };
    const keyOf = (bundle: string) => bundle.slice(bundle.indexOf("-----BEGIN EC PRIVATE KEY"));
    const haproxy = () => `${s.prefix}haproxy`;
    const certFile = () => `/var/lib/${s.config.app}/certs/site.pem`;

    before(async () => {
        s.reset();
        ca = makeCa(path.join(s.dir, "ca"));
        first = makeLeaf(ca, "first");
        second = makeLeaf(ca, "second");
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/" } };
        s.config.haproxy.listen = [
            { address: "127.0.0.1", port: redirectPort, redirect: "https" },
            { address: "127.0.0.1", port: tlsPort, tls: true },
            { address: "127.0.0.1", port: plainPort },
        ];
        s.setColors({ blue: A }, "blue");
        await s.publishOne("web", A);
        await s.setSecret("tls.certificates", JSON.stringify({ site: first.bundle }));
    });
    after(async () => s.teardown());

    it("up: HTTPS from the secret certificate, its chain verified with the test CA", async () => {
        record(await s.run(["preview"]));
        const r = record(await s.up());
        assert.equal(r.code, 0, r.stderr);
        await eventually(async () => (await request(`https://127.0.0.1:${tlsPort}/`, { ca }).catch(() => undefined))?.status === 200, "HTTPS", 20_000);
        const a = await request(`https://127.0.0.1:${tlsPort}/`, { ca });
        assert.equal(a.headers["x-bluegreen-color"], "blue");
        assert.equal(a.serial, first.serial);
        // A client that does not trust the CA is refused: the chain is the test CA's, nothing else.
        await assert.rejects(request(`https://127.0.0.1:${tlsPort}/`), /self[- ]signed|unable to (get|verify)/i);
    });

    it("the app sees the client's address through the Incus proxy device (PROXY protocol), on TLS and plain listeners", async () => {
        // What a client claims is dropped: only the address HAProxy saw is forwarded.
        const spoof = { "x-forwarded-for": "10.9.9.9", "x-forwarded-proto": "https" };
        const viaTls = JSON.parse((await request(`https://127.0.0.1:${tlsPort}/client-address`, { ca, localAddress: "127.0.0.2", headers: spoof })).body);
        assert.equal(viaTls.forwardedFor, "127.0.0.2");
        assert.equal(viaTls.forwardedProto, "https");
        const viaPlain = JSON.parse((await request(`http://127.0.0.1:${plainPort}/client-address`, { localAddress: "127.0.0.3", headers: spoof })).body);
        assert.equal(viaPlain.forwardedFor, "127.0.0.3");
        assert.equal(viaPlain.forwardedProto, null);
        const show = spawnSync("incus", ["config", "device", "get", haproxy(), `edge-${tlsPort}`, "proxy_protocol"], { encoding: "utf8" });
        assert.equal(show.stdout.trim(), "true");
    });

    it("redirect: https answers 301 to the same path on the TLS listener", async () => {
        const r = await request(`http://127.0.0.1:${redirectPort}/some/path?x=1`, { host: `localhost:${redirectPort}` });
        assert.equal(r.status, 301);
        assert.equal(r.headers.location, `https://localhost:${tlsPort}/some/path?x=1`);
        assert.equal(r.headers["strict-transport-security"], undefined, "HSTS is off by default");
    });

    it("the certificate file is root-only (0600) in the HAProxy instance", () => {
        const r = spawnSync("incus", ["exec", haproxy(), "--", "sh", "-c", 'test "$(stat -c %a:%U "$1")" = 600:root', "sh", certFile()]);
        assert.equal(r.status, 0, "mode 600, owner root");
    });

    it("a changed certificate is hot-swapped: no reload, no failed request under wrk, new handshakes get it", async () => {
        const before = s.proc();
        assert.ok(before && before.workers.length > 0, "HAProxy's master answers");
        const load = startLoad({ url: `https://127.0.0.1:${tlsPort}/`, connections: 4, keepAlive: false, threads: 1, pauseMs: 5 });
        await new Promise((r) => setTimeout(r, 1500));
        await s.setSecret("tls.certificates", JSON.stringify({ site: second.bundle }));
        const r = record(await s.up());
        await new Promise((r) => setTimeout(r, 1500));
        const result = await load.stop();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /certificate site swapped in HAProxy over the runtime API \(no reload\)/);
        assert.equal((await request(`https://127.0.0.1:${tlsPort}/`, { ca })).serial, second.serial);
        const after = s.proc()!;
        assert.equal(after.masterPid, before!.masterPid);
        assert.equal(after.reloads, before!.reloads, "no reload");
        assert.deepEqual(
            after.workers.map((w) => w.pid),
            before!.workers.map((w) => w.pid),
        );
        assert.ok(result.requests > 50, `wrk ran (${result.requests} requests)`);
        assert.deepEqual(
            { status: result.status, connect: result.connect, read: result.read, write: result.write, timeout: result.timeout },
            { status: 0, connect: 0, read: 0, write: 0, timeout: 0 },
            JSON.stringify(result),
        );
        // The file holds the new bundle too, for the next reload.
        const file = spawnSync("incus", ["file", "pull", `${haproxy()}${certFile()}`, "-"], { encoding: "utf8" }).stdout;
        assert.ok(file.includes(keyOf(second.bundle).split("\n")[1]));
    });

    it("no certificate key in state, outputs, previews, logs or incus config show", () => {
        const state = fs.readFileSync(s.statePath(), "utf8");
        const show = spawnSync("incus", ["config", "show", "--expanded", haproxy()], { encoding: "utf8" }).stdout;
        for (const leaf of [first, second]) {
            const line = keyOf(leaf.bundle).split("\n")[1];
            assert.ok(line.length > 20);
            assert.equal(state.includes(line), false, "state file");
            assert.equal(fs.readFileSync(s.configFile, "utf8").includes(line), false, "stack file");
            seen.forEach((t, i) => assert.equal(t.includes(line), false, `runner output #${i}`));
            assert.equal(show.includes(line), false, "incus config show");
        }
        assert.ok(seen.length >= 6);
    });
});
