import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { balanceLines, balanceSpec, frontendRules, isHashBalance } from "../../../../components/model/edge/routing";
import { ConfigError } from "../../../../components/model/config";
import { configShape, renderConfig, renderReleasesMap } from "../../../../components/model/traffic/haproxyConfig";
import { switchInputs } from "../../../../components/plan";
import { modelOf } from "../../../../components/release/traffic/switch";
import { stackConfig } from "../../../helpers/stackConfig";
import { makeTmp, removeTmp } from "../../../helpers/tmp";

describe("edge routing", () => {
    describe("balanceSpec", () => {
        it("accepts HAProxy's algorithms that bluegreen offers", () => {
            for (const b of ["roundrobin", "leastconn", "uri", "source", "hdr(X-User)", "hdr(host)"]) assert.equal(balanceSpec.safeParse(b).success, true, b);
        });
        it("refuses others, and a header that would open a second token", () => {
            for (const b of ["random", "hdr()", "hdr(a b)", "hdr(x) || 1", "uri\nbalance source", "static-rr"])
                assert.equal(balanceSpec.safeParse(b).success, false, b);
        });
    });

    describe("balanceLines", () => {
        it("renders nothing for the default, so configs without the key keep their text", () => {
            assert.deepEqual(balanceLines(undefined), []);
            assert.deepEqual(balanceLines("roundrobin"), []);
        });
        it("renders leastconn without a hash type", () => {
            assert.deepEqual(balanceLines("leastconn"), ["balance leastconn"]);
        });
        it("renders each hash with hash-type consistent", () => {
            assert.deepEqual(balanceLines("uri"), ["balance uri", "hash-type consistent"]);
            assert.deepEqual(balanceLines("source"), ["balance source", "hash-type consistent"]);
            assert.deepEqual(balanceLines("hdr(X-User)"), ["balance hdr(X-User)", "hash-type consistent"]);
            assert.equal(isHashBalance("leastconn"), false);
        });
    });
});

describe("edge routing: config, inputs and rendered backends", () => {
    const comps = (over: Record<string, unknown>) => ({
        components: {
            stream: { hostPort: 18120, route: "/stream", nodes: 2, ...over },
            web: { hostPort: 18130, route: "/" },
        },
    });
    /** The config rendered from stack config as the switch does, with its files in `dir`. */
    const rendered = (over: Record<string, unknown>, dir = "/tmp") => {
        const m = modelOf(switchInputs(stackConfig(comps(over))));
        return renderConfig({
            ...m,
            adminSocket: path.join(dir, "admin.sock"),
            pidFile: path.join(dir, "haproxy.pid"),
            serverStateFile: path.join(dir, "server-state"),
            releasesMap: path.join(dir, "releases.map"),
            probeMap: path.join(dir, "maintenance.map"),
        });
    };
    const section = (text: string, name: string) => {
        const from = text.split("\n").indexOf(`backend ${name}`);
        assert.ok(from >= 0, `no backend ${name}`);
        const rest = text.split("\n").slice(from + 1);
        return rest
            .slice(
                0,
                rest.findIndex((l) => !l.startsWith("    ")),
            )
            .map((l) => l.trim());
    };

    it("config: refuses an unknown balance and a backend line with a newline, each by its path", () => {
        assert.throws(
            () => stackConfig(comps({ balance: "random", haproxy: ["timeout server 5m", "a\nb"] })),
            (e: ConfigError) => {
                assert.deepEqual(e.problems, [
                    "bluegreen:components.stream.balance: expected roundrobin, leastconn, uri, source or hdr(<header>) with a header name of letters, digits and -",
                    "bluegreen:components.stream.haproxy[1]: expected one HAProxy config line without newlines or '#'",
                ]);
                return true;
            },
        );
    });

    it("inputs: carry balance and lines only when set, so older stacks' inputs do not change", () => {
        const plain = switchInputs(stackConfig(comps({ balance: "roundrobin" }))).components.find((c) => c.name === "stream")!;
        assert.equal("balance" in plain, false);
        assert.equal("haproxy" in plain, false);
        const set = switchInputs(stackConfig(comps({ balance: "uri", haproxy: ["timeout server 5m"] }))).components.find((c) => c.name === "stream")!;
        assert.equal(set.balance, "uri");
        assert.deepEqual(set.haproxy, ["timeout server 5m"]);
    });

    it("renders the URI hash and the lines in the component's backend only; HAProxy accepts the config", () => {
        const dir = makeTmp("edge-routing");
        try {
            fs.writeFileSync(path.join(dir, "releases.map"), renderReleasesMap({ blue: "abc1234" }));
            fs.writeFileSync(path.join(dir, "maintenance.map"), "enabled off\n");
            const text = rendered({ balance: "uri", haproxy: ["timeout server 5m", "compression algo gzip"] }, dir);
            const stream = section(text, "be_stream");
            const b = stream.indexOf("balance uri");
            assert.deepEqual(stream.slice(b, b + 2), ["balance uri", "hash-type consistent"]);
            assert.deepEqual(stream.slice(-6, -4), ["timeout server 5m", "compression algo gzip"]);
            assert.ok(!section(text, "be_web").some((l) => l.startsWith("balance") || l.startsWith("timeout")));
            fs.writeFileSync(path.join(dir, "haproxy.cfg"), text);
            const r = spawnSync("/usr/sbin/haproxy", ["-c", "-q", "-f", path.join(dir, "haproxy.cfg")], { encoding: "utf8", timeout: 10_000 });
            assert.equal(r.status, 0, r.stderr);
        } finally {
            removeTmp(dir);
        }
    });

    it("a changed balance changes the config's shape, so the switch reloads instead of flipping weights", () => {
        assert.notEqual(configShape(rendered({})), configShape(rendered({ balance: "leastconn" })));
        assert.equal(configShape(rendered({})), configShape(rendered({ balance: "roundrobin" })));
    });
});

describe("edge routing: hosts", () => {
    const two = (api: Record<string, unknown>, www: Record<string, unknown>) =>
        stackConfig({ components: { api: { hostPort: 18110, route: "/", ...api }, www: { hostPort: 18130, route: "/", ...www } } });
    const problemsOf = (f: () => unknown) => {
        try {
            f();
        } catch (e) {
            assert.ok(e instanceof ConfigError, String(e));
            return [...e.problems];
        }
        return assert.fail("accepted");
    };

    it("config: two components on one route are fine on two hosts", () => {
        const c = two({ hosts: ["api.example.com"] }, { hosts: ["www.example.com", "example.com"] });
        assert.deepEqual(
            c.components.map((x) => x.hosts),
            [["api.example.com"], ["www.example.com", "example.com"]],
        );
    });

    it("config: refuses the same route on a shared host, naming both; a route on a host beside the same route on any host is no overlap", () => {
        assert.deepEqual(
            problemsOf(() => two({ hosts: ["api.example.com", "example.com"] }, { hosts: ["example.com"] })),
            ["bluegreen:components.www.route: / on example.com is already routed to api"],
        );
        assert.deepEqual(
            problemsOf(() => two({}, {})),
            ["bluegreen:components.www.route: / is already routed to api"],
        );
        assert.equal(two({ hosts: ["api.example.com"] }, {}).components.length, 2);
    });

    it("config: refuses a host with a port, upper case, a wildcard or twice, and an empty list", () => {
        assert.deepEqual(
            problemsOf(() => two({ hosts: ["api.example.com:443", "API.example.com", "*.example.com"] }, { hosts: ["a.example", "a.example"] })),
            [
                "bluegreen:components.api.hosts[0]: expected a lowercase DNS name such as api.example.com (no port, scheme or wildcard)",
                "bluegreen:components.api.hosts[1]: expected a lowercase DNS name such as api.example.com (no port, scheme or wildcard)",
                "bluegreen:components.api.hosts[2]: expected a lowercase DNS name such as api.example.com (no port, scheme or wildcard)",
                "bluegreen:components.www.hosts: a.example is named twice",
            ],
        );
        assert.deepEqual(
            problemsOf(() => two({ hosts: [] }, {})),
            ["bluegreen:components.api.hosts: expected at least one host (leave the key out to match any host)"],
        );
    });

    it("frontendRules: a host's routes first, each longest prefix first, then routes on any host; '/' on any host is the default", () => {
        const r = frontendRules(
            [
                { route: "/", backend: "be_web" },
                { route: "/api", backend: "be_backend" },
                { route: "/", backend: "be_www", hosts: ["www.example.com", "example.com"] },
                { route: "/v2", backend: "be_api2", hosts: ["api.example.com"] },
                { route: "/", backend: "be_api", hosts: ["api.example.com"] },
            ],
            "be_notfound",
            (x) => x,
        );
        assert.deepEqual(r, {
            rules: [
                "use_backend be_api2 if { hdr(host),field(1,:) -m str -i api.example.com } { path /v2 } || { hdr(host),field(1,:) -m str -i api.example.com } { path_beg /v2/ }",
                "use_backend be_api if { hdr(host),field(1,:) -m str -i api.example.com }",
                "use_backend be_www if { hdr(host),field(1,:) -m str -i www.example.com example.com }",
                "use_backend be_backend if { path /api } || { path_beg /api/ }",
            ],
            fallback: "be_web",
        });
        assert.equal(frontendRules([{ route: "/", backend: "be_x", hosts: ["x.example"] }], "be_notfound", (x) => x).fallback, "be_notfound");
    });

    it("frontendRules with sni: each host's routes again on the SNI, after every Host header rule and before routes on any host", () => {
        const uses = [
            { route: "/", backend: "be_web" },
            { route: "/api", backend: "be_backend" },
            { route: "/", backend: "be_www", hosts: ["www.example.com"] },
            { route: "/v2", backend: "be_api2", hosts: ["api.example.com"] },
        ];
        assert.deepEqual(
            frontendRules(uses, "be_notfound", (x) => x, undefined, true),
            {
                rules: [
                    "use_backend be_api2 if { hdr(host),field(1,:) -m str -i api.example.com } { path /v2 } || { hdr(host),field(1,:) -m str -i api.example.com } { path_beg /v2/ }",
                    "use_backend be_www if { hdr(host),field(1,:) -m str -i www.example.com }",
                    "use_backend be_api2 if { ssl_fc_sni -m str -i api.example.com } { path /v2 } || { ssl_fc_sni -m str -i api.example.com } { path_beg /v2/ }",
                    "use_backend be_www if { ssl_fc_sni -m str -i www.example.com }",
                    "use_backend be_backend if { path /api } || { path_beg /api/ }",
                ],
                fallback: "be_web",
            },
        );
        // The preview's ACL comes first on the SNI rules too.
        assert.equal(
            frontendRules([{ route: "/", backend: "pv_www", hosts: ["www.example.com"] }], "be_notfound", (x) => x, "preview", true).rules[1],
            "use_backend pv_www if preview { ssl_fc_sni -m str -i www.example.com }",
        );
        assert.doesNotMatch(frontendRules(uses, "be_notfound", (x) => x).rules.join("\n"), /ssl_fc_sni/);
    });

    it("renders SNI rules only with a TLS listener, and HAProxy accepts them", () => {
        const i = switchInputs(two({ hosts: ["api.example.com"] }, { hosts: ["www.example.com"] }));
        const plain = renderConfig(modelOf(i));
        assert.doesNotMatch(plain, /ssl_fc_sni/);
        const dir = makeTmp("edge-sni");
        try {
            const cert = path.join(dir, "a.pem");
            const key = path.join(dir, "a.key");
            const made = spawnSync(
                "openssl",
                ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=api.example.com"],
                { encoding: "utf8", timeout: 30_000 },
            );
            assert.equal(made.status, 0, made.stderr);
            fs.appendFileSync(cert, fs.readFileSync(key));
            fs.writeFileSync(path.join(dir, "releases.map"), renderReleasesMap({ blue: "abc1234" }));
            fs.writeFileSync(path.join(dir, "maintenance.map"), "enabled off\n");
            const text = renderConfig({
                ...modelOf(i),
                edge: { listen: [{ address: "127.0.0.1", port: 18443, tls: true }], proxyProtocol: false, certificates: [cert] },
                adminSocket: path.join(dir, "admin.sock"),
                pidFile: path.join(dir, "haproxy.pid"),
                serverStateFile: path.join(dir, "server-state"),
                releasesMap: path.join(dir, "releases.map"),
                probeMap: path.join(dir, "maintenance.map"),
            });
            assert.match(text, /use_backend be_www if \{ ssl_fc_sni -m str -i www\.example\.com \}/);
            fs.writeFileSync(path.join(dir, "haproxy.cfg"), text);
            const r = spawnSync("/usr/sbin/haproxy", ["-c", "-q", "-f", path.join(dir, "haproxy.cfg")], { encoding: "utf8", timeout: 10_000 });
            assert.equal(r.status, 0, r.stderr);
        } finally {
            removeTmp(dir);
        }
    });

    it("the switch's inputs carry the hosts, and HAProxy accepts the rendered config", () => {
        const c = two({ hosts: ["api.example.com"] }, { hosts: ["www.example.com"] });
        const i = switchInputs(c);
        assert.deepEqual(
            i.components.map((x) => x.hosts),
            [["api.example.com"], ["www.example.com"]],
        );
        const dir = makeTmp("edge-hosts");
        try {
            fs.writeFileSync(path.join(dir, "releases.map"), renderReleasesMap({ blue: "abc1234" }));
            fs.writeFileSync(path.join(dir, "maintenance.map"), "enabled off\n");
            const m = modelOf(i);
            const text = renderConfig({
                ...m,
                adminSocket: path.join(dir, "admin.sock"),
                pidFile: path.join(dir, "haproxy.pid"),
                serverStateFile: path.join(dir, "server-state"),
                releasesMap: path.join(dir, "releases.map"),
                probeMap: path.join(dir, "maintenance.map"),
            });
            assert.match(text, /default_backend be_no_route/);
            fs.writeFileSync(path.join(dir, "haproxy.cfg"), text);
            const r = spawnSync("/usr/sbin/haproxy", ["-c", "-q", "-f", path.join(dir, "haproxy.cfg")], { encoding: "utf8", timeout: 10_000 });
            assert.equal(r.status, 0, r.stderr);
        } finally {
            removeTmp(dir);
        }
    });
});
