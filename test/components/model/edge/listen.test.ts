import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ConfigError, parseConfig } from "../../../../components/model/config";
import { EdgeModel, Listener, edgeFrontendLines, edgeRedirectSections, listenProblems, redirectLocation } from "../../../../components/model/edge/listen";
import { HaproxyModel, renderConfig, renderReleasesMap } from "../../../../components/model/traffic/haproxyConfig";
import { certificatePath } from "../../../../components/model/edge/tls";
import { allOn } from "../../../../components/model/traffic/traffic";
import { makeCa, makeLeaf } from "../../../helpers/certs";
import { minimalRaw } from "../../../helpers/stackConfig";
import { makeTmp, removeTmp } from "../../../helpers/tmp";

const KEY = "bluegreen:haproxy.listen";
const l = (over: Partial<Listener> & Pick<Listener, "port">): Listener => ({ address: "0.0.0.0", tls: false, ...over });

function problems(listen: unknown): string[] {
    try {
        parseConfig({ ...minimalRaw(), haproxy: { frontendPort: 18100, exporterPort: 18101, listen } }, "dev");
    } catch (e) {
        assert.ok(e instanceof ConfigError);
        return [...e.problems];
    }
    assert.fail("accepted");
}

function model(edge: EdgeModel | undefined, dir = "/var/lib/x"): HaproxyModel {
    return {
        stack: "dev",
        split: allOn("blue"),
        release: "abc1234",
        frontendPort: 18100,
        exporterPort: 18101,
        adminSocket: `${dir}/admin.sock`,
        pidFile: `${dir}/haproxy.pid`,
        serverStateFile: `${dir}/server-state`,
        releasesMap: `${dir}/releases.map`,
        backends: [{ component: "web", route: "/", healthPath: "/health", healthStatus: "200-299", servers: [{ color: "blue", port: 18130 }] }],
        extra: { global: [], defaults: [], frontend: [] },
        ...(edge ? { edge } : {}),
    };
}

describe("edge: listeners", () => {
    describe("config", () => {
        it("absent by default; a list is parsed with tls false by default", () => {
            assert.equal(parseConfig(minimalRaw(), "dev").haproxy.listen, undefined);
            const c = parseConfig(
                { ...minimalRaw(), haproxy: { frontendPort: 18100, exporterPort: 18101, listen: [{ address: "0.0.0.0", port: 8080 }] } },
                "dev",
            );
            assert.deepEqual(c.haproxy.listen, [{ address: "0.0.0.0", port: 8080, tls: false }]);
        });

        it("refuses a bad address, port or redirect, naming the path", () => {
            const p = problems([{ address: "example.com", port: 70000, redirect: "http" }]);
            assert.ok(
                p.some((x) => x.startsWith(`${KEY}[0].address: expected an IPv4 address`)),
                p.join("\n"),
            );
            assert.ok(
                p.some((x) => x.startsWith(`${KEY}[0].port:`)),
                p.join("\n"),
            );
            assert.ok(
                p.some((x) => x.startsWith(`${KEY}[0].redirect:`)),
                p.join("\n"),
            );
        });

        it("refuses a redirect without a TLS listener, on a TLS listener, and hsts on plain HTTP", () => {
            assert.deepEqual(listenProblems([l({ port: 80, redirect: "https", hsts: 60 })], KEY), [
                `${KEY}[0]: redirect: https needs a listener with tls: true to send clients to`,
                `${KEY}[0]: hsts is sent on TLS answers only; set tls: true or remove hsts`,
            ]);
            assert.deepEqual(listenProblems([l({ port: 443, tls: true, redirect: "https" })], KEY), [
                `${KEY}[0]: redirect: https is for a plain-HTTP listener; remove redirect or tls`,
            ]);
        });

        it("refuses TLS listeners with different hsts", () => {
            assert.deepEqual(listenProblems([l({ port: 443, tls: true, hsts: 60 }), l({ port: 8443, tls: true })], KEY), [
                `${KEY}: every tls listener is one HAProxy frontend, so they share one hsts; set the same hsts on each (or none)`,
            ]);
        });

        it("a listener's port is claimed like every other port", () => {
            const p = problems([{ address: "0.0.0.0", port: 18100 }]);
            assert.ok(
                p.some((x) => x === `${KEY}[0].port: port 18100 is already used by bluegreen:haproxy.frontendPort; every loopback port must be distinct`),
                p.join("\n"),
            );
        });
    });

    describe("rendering", () => {
        const certs = ["/s/certs/a.pem", "/s/certs/b.pem"];

        it("without listeners the config is as before: nothing is added", () => {
            assert.deepEqual(edgeFrontendLines(undefined), []);
            assert.deepEqual(edgeRedirectSections(undefined), []);
            assert.ok(!renderConfig(model(undefined)).includes("forwardfor"));
        });

        it("host placement: HAProxy binds each address itself; TLS loads every certificate", () => {
            const e: EdgeModel = { listen: [l({ port: 8080 }), l({ port: 8443, tls: true, hsts: 300 })], proxyProtocol: false, certificates: certs };
            assert.deepEqual(edgeFrontendLines(e), [
                "bind 0.0.0.0:8080",
                "bind 0.0.0.0:8443 ssl crt /s/certs/a.pem crt /s/certs/b.pem",
                "http-request del-header X-Forwarded-For",
                "option forwardfor",
                "http-request del-header X-Forwarded-Proto",
                "http-request set-header X-Forwarded-Proto https if { ssl_fc }",
                'http-response set-header Strict-Transport-Security "max-age=300" if { ssl_fc }',
            ]);
        });

        it("incus placement: loopback in the instance, with the PROXY protocol; no HSTS by default", () => {
            const e: EdgeModel = { listen: [l({ port: 8443, tls: true })], proxyProtocol: true, certificates: certs.slice(0, 1) };
            assert.deepEqual(edgeFrontendLines(e), [
                "bind 127.0.0.1:8443 accept-proxy ssl crt /s/certs/a.pem",
                "http-request del-header X-Forwarded-For",
                "option forwardfor",
                "http-request del-header X-Forwarded-Proto",
                "http-request set-header X-Forwarded-Proto https if { ssl_fc }",
            ]);
        });

        it("a redirecting listener is a frontend of its own that answers 301 to the TLS port", () => {
            const e: EdgeModel = { listen: [l({ port: 8080, redirect: "https" }), l({ port: 8443, tls: true })], proxyProtocol: true, certificates: certs };
            assert.deepEqual(edgeRedirectSections(e), [
                "",
                "frontend fe_redirect_8080",
                "    bind 127.0.0.1:8080 accept-proxy",
                "    http-request redirect location https://%[req.hdr(host),field(1,:)]:8443%[capture.req.uri] code 301",
            ]);
            assert.ok(!edgeFrontendLines(e).includes("bind 127.0.0.1:8080 accept-proxy"), "not served by fe_main");
            assert.equal(redirectLocation(443), "https://%[req.hdr(host),field(1,:)]%[capture.req.uri]");
        });

        describe("haproxy -c accepts it", function () {
            this.timeout(60_000);
            let dir: string;
            before(() => (dir = makeTmp("edge-listen")));
            after(() => removeTmp(dir));

            it("with TLS (two certificates), a redirect and the PROXY protocol", () => {
                const ca = makeCa(path.join(dir, "ca"));
                const layout = { stateDir: dir };
                fs.mkdirSync(path.join(dir, "certs"));
                for (const n of ["a", "b"]) fs.writeFileSync(certificatePath(layout, n), makeLeaf(ca, n).bundle, { mode: 0o600 });
                fs.writeFileSync(path.join(dir, "releases.map"), renderReleasesMap({ blue: "abc1234" }));
                const e: EdgeModel = {
                    listen: [l({ address: "127.0.0.1", port: 18180, redirect: "https" }), l({ address: "127.0.0.1", port: 18143, tls: true, hsts: 60 })],
                    proxyProtocol: true,
                    certificates: ["a", "b"].map((n) => certificatePath(layout, n)),
                };
                const file = path.join(dir, "haproxy.cfg");
                fs.writeFileSync(file, renderConfig(model(e, dir)));
                const r = spawnSync("/usr/sbin/haproxy", ["-c", "-q", "-f", file], { encoding: "utf8" });
                assert.equal(r.status, 0, r.stderr + r.stdout);
            });
        });
    });
});
