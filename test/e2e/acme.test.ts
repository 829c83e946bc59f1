// bluegreen:tls.acme against a real ACME CA (pebble, from Debian), with a real HTTP-01
// challenge over loopback: pebble's DNS answers 127.0.0.1 for the domain, and HAProxy answers
// the token from its challenge map. The served certificate chains to pebble's root; a renewal
// (pebble issues for 23 days, under the 30-day bar, so every up renews) is hot-swapped under
// wrk with no reload and no failed request. No key reaches state, output or `incus config show`.

import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as tls from "tls";
import { TestStack, eventually } from "../../harness/stack";
import { startLoad } from "../../harness/load";
import { Pebble } from "../../harness/pebble";

const A = "ac3e0a1";
const DOMAIN = "shop.bluegreen.test";

/** The leaf a TLS handshake for DOMAIN gets, verified against `root`; undefined when it does not verify. */
function served(port: number, root: string): Promise<{ serial: string; issuer: string } | undefined> {
    return new Promise((resolve) => {
        const sock = tls.connect({ host: "127.0.0.1", port, servername: DOMAIN, ca: root, rejectUnauthorized: true, timeout: 5000 }, () => {
            const c = sock.getPeerCertificate();
            sock.end();
            resolve({ serial: c.serialNumber, issuer: String(c.issuer.CN) });
        });
        sock.on("error", () => resolve(undefined));
        sock.on("timeout", () => (sock.destroy(), resolve(undefined)));
    });
}

function get(port: number, root: string): Promise<number> {
    return new Promise((resolve, reject) => {
        const req = https.get(
            { host: "127.0.0.1", port, path: "/", servername: DOMAIN, headers: { host: DOMAIN }, ca: root, agent: false, timeout: 5000 },
            (res) => {
                res.resume();
                res.on("end", () => resolve(res.statusCode ?? 0));
            },
        );
        req.on("error", reject);
        req.on("timeout", () => req.destroy(new Error("timeout")));
    });
}

describe("e2e: tls.acme: a certificate from a real ACME CA (pebble), renewed with a hot swap", function () {
    this.timeout(600_000);
    const pebblePorts = 23950 + Number(process.env.BLUEGREEN_E2E_PORT_OFFSET ?? 0);
    let pebble: Pebble;
    let s: TestStack;
    let plainPort = 0;
    let tlsPort = 0;
    let root = "";
    let firstSerial = "";
    const seen: string[] = [];
    const record = <T extends { stdout: string; stderr: string }>(r: T): T => {
        seen.push(r.stdout, r.stderr);
        return r;
    };

    before(async () => {
        // The runner (and the provider host it starts) trusts pebble's own HTTPS as any Node process would.
        const env: Record<string, string> = {};
        s = new TestStack({ name: "acme", basePort: 23900, placement: "incus", wrap: { argv: [], env } });
        plainPort = s.frontendPort + 5;
        tlsPort = s.frontendPort + 6;
        // 23 days: under the 30-day bar, so the second up renews.
        pebble = new Pebble({ basePort: pebblePorts, httpPort: plainPort, validitySeconds: 2_000_000 });
        env.NODE_EXTRA_CA_CERTS = pebble.caFile;
        await pebble.start();
        root = await pebble.root();
        s.reset();
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/" } };
        s.config.haproxy.listen = [
            { address: "127.0.0.1", port: plainPort, redirect: "https" },
            { address: "127.0.0.1", port: tlsPort, tls: true },
        ];
        s.config.tls = { acme: { directory: pebble.directory, email: "ops@example.com", domains: [DOMAIN] } };
        s.setColors({ blue: A }, "blue");
        await s.publishOne("web", A);
    });
    after(async () => {
        await s?.teardown();
        await pebble?.stop();
    });

    it("refuses a wildcard before touching anything", async () => {
        s.config.tls = { acme: { directory: pebble.directory, email: "ops@example.com", domains: ["*.bluegreen.test"] } };
        const r = await s.up();
        s.config.tls = { acme: { directory: pebble.directory, email: "ops@example.com", domains: [DOMAIN] } };
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /bluegreen:tls\.acme\.domains\[0\]: a wildcard needs DNS-01/);
        assert.equal(spawnSync("incus", ["info", `${s.prefix}haproxy`]).status, 1, "nothing was created");
    });

    it("up: orders over a real HTTP-01 challenge; HTTPS serves a certificate that chains to pebble's root", async () => {
        const r = record(await s.up());
        assert.equal(r.code, 0, r.stderr + pebble.log());
        assert.match(r.stderr, /acme: challenge for shop\.bluegreen\.test published in HAProxy/);
        assert.match(r.stderr, /acme: issued for shop\.bluegreen\.test, expires/);
        assert.match(pebble.log(), /Attempting to validate w\/ HTTP: http:\/\/shop\.bluegreen\.test:\d+\/\.well-known\/acme-challenge\//);
        const cert = await served(tlsPort, root);
        assert.ok(cert, "the served chain verifies against pebble's root");
        assert.match(cert.issuer, /^Pebble Intermediate CA/);
        firstSerial = cert.serial;
        assert.equal(await get(tlsPort, root), 200);
        // The challenge answer is gone once the order is done: the path falls through to the redirect.
        const probe = spawnSync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", `http://127.0.0.1:${plainPort}/.well-known/acme-challenge/x`], {
            encoding: "utf8",
        });
        assert.equal(probe.stdout, "301");
    });

    it("a second up renews (under 30 days left): hot-swapped with no reload and no failed request under wrk", async () => {
        const preview = record(await s.run(["preview"]));
        assert.equal(preview.code, 0, preview.stderr);
        assert.match(preview.stdout + preview.stderr, /acme/);
        const before = s.proc();
        assert.ok(before && before.workers.length > 0);
        const load = startLoad({ url: `https://127.0.0.1:${tlsPort}/`, connections: 4, keepAlive: false, threads: 1, pauseMs: 5 });
        await new Promise((r) => setTimeout(r, 1500));
        const r = record(await s.up());
        await new Promise((r) => setTimeout(r, 1500));
        const result = await load.stop();
        assert.equal(r.code, 0, r.stderr + pebble.log());
        assert.match(r.stderr, /acme: \d+ day\(s\) left, under 30: renewing/);
        assert.match(r.stderr, /acme: certificate swapped in HAProxy over the runtime API \(no reload\)/);
        await eventually(async () => (await served(tlsPort, root))?.serial !== firstSerial, "the renewed certificate is served", 10_000);
        const after = s.proc()!;
        assert.equal(after.masterPid, before!.masterPid);
        assert.equal(after.reloads, before!.reloads, "no reload");
        assert.ok(result.requests > 50, `wrk ran (${result.requests} requests)`);
        assert.deepEqual(
            { status: result.status, connect: result.connect, read: result.read, write: result.write, timeout: result.timeout },
            { status: 0, connect: 0, read: 0, write: 0, timeout: 0 },
            JSON.stringify(result),
        );
    });

    it("status shows the certificate's expiry", async () => {
        const r = await s.run(["status"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /shop\.bluegreen\.test: expires \d{4}-\d\d-\d\d \(\d+ days left\)/);
    });

    it("no private key in state, output or incus config", async () => {
        const state = fs.readFileSync(s.statePath(), "utf8");
        const config = spawnSync("incus", ["config", "show", `${s.prefix}haproxy`, "--expanded"], { encoding: "utf8" }).stdout;
        for (const text of [state, config, ...seen]) assert.doesNotMatch(text, /PRIVATE KEY/);
        const mode = spawnSync("incus", ["exec", `${s.prefix}haproxy`, "--", "stat", "-c", "%a", `/var/lib/${s.config.app}/certs/acme.pem`], {
            encoding: "utf8",
        });
        assert.equal(mode.stdout.trim(), "600");
    });
});
