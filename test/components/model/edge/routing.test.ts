import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { balanceLines, balanceSpec, isHashBalance } from "../../../../components/model/edge/routing";
import { ConfigError } from "../../../../components/model/config";
import { configShape, renderConfig, renderReleasesMap } from "../../../../components/model/haproxyConfig";
import { switchInputs } from "../../../../components/plan";
import { modelOf } from "../../../../components/release/switch";
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
