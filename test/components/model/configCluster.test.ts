// bluegreen:incus.members, components.<name>.spread / allowReschedule, bluegreen:network,
// haproxy.member and stateful.<name>.member (issue 21 part 2): what config alone decides.
import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../../components/model/config";
import { minimalRaw } from "../../helpers/stackConfig";

function problems(raw: Record<string, unknown>): string[] {
    try {
        parseConfig(raw, "dev");
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
        return [...e.problems];
    }
    assert.fail("parseConfig accepted the config");
}

const REMOTE = { remote: "prod" };
const HAPROXY = { placement: "incus", frontendPort: 18100, exporterPort: 18101 };
const ROUTED = { mode: "routed", parent: "eth0", addresses: "10.9.0.100-10.9.0.149" };
const cfg = (over: Record<string, unknown>) => ({ ...minimalRaw(), incus: REMOTE, haproxy: HAPROXY, ...over });
const DB = { release: "bbbbbbb", hostPort: 18150, volumes: { data: "/var/lib/db" } };

describe("config: cluster placement and routed network", () => {
    it("adds nothing to a stack that sets none of it (proxy mode, Incus's own scheduling)", () => {
        const c = parseConfig(minimalRaw(), "dev");
        assert.equal(c.network, undefined);
        assert.equal(c.incus.members, undefined);
        assert.equal(c.haproxy.member, undefined);
        assert.ok(c.components.every((k) => k.spread === undefined && k.allowReschedule === undefined));
        assert.equal(parseConfig(cfg({ network: { mode: "proxy" } }), "dev").network, undefined, "mode proxy is today's model");
    });

    it("reads members, spread, allowReschedule, member pins and a routed network", () => {
        const c = parseConfig(
            cfg({
                incus: { ...REMOTE, members: ["m2", "m1", "m3"] },
                haproxy: { ...HAPROXY, member: "m1" },
                components: { api: { hostPort: 18110, route: "/", nodes: 3, spread: true, allowReschedule: true } },
                network: ROUTED,
                stateful: { db: { ...DB, member: "m3" } },
            }),
            "dev",
        );
        assert.deepEqual(c.incus.members, ["m2", "m1", "m3"]);
        assert.equal(c.haproxy.member, "m1");
        assert.equal(c.components[0].spread, true);
        assert.equal(c.components[0].allowReschedule, true);
        assert.deepEqual(c.network, ROUTED);
        assert.equal(c.stateful[0].member, "m3");
        assert.deepEqual(parseConfig(cfg({ network: { ...ROUTED, addresses: "10.9.1.0/24" } }), "dev").network!.addresses, "10.9.1.0/24");
    });

    it("refuses a malformed range or CIDR, naming the key", () => {
        for (const addresses of ["10.9.0.149-10.9.0.100", "10.9.1.1/24", "10.9.0.1-10.9.0.300", "fd00::/64"]) {
            const p = problems(cfg({ network: { ...ROUTED, addresses } }));
            assert.equal(p.length, 1, addresses);
            assert.match(p[0], /^bluegreen:network\.addresses: expected an IPv4 range first-last .* or a CIDR/, addresses);
        }
        assert.match(problems(cfg({ network: { mode: "routed", addresses: "10.9.0.1-10.9.0.9" } }))[0], /^bluegreen:network\.parent: /);
        assert.match(problems(cfg({ network: { ...ROUTED, parent: "eth0; rm" } }))[0], /^bluegreen:network\.parent: expected a network interface name/);
        assert.match(problems(cfg({ network: { mode: "bridged" } }))[0], /^bluegreen:network\.mode: /);
    });

    it("refuses a range too small for every node of both colors, HAProxy and the stateful services", () => {
        const components = { api: { hostPort: 18110, route: "/", nodes: 4 } };
        // 2 colors x 4 nodes + HAProxy + db = 10
        const ok = cfg({ components, stateful: { db: { ...DB, member: "m1" } }, network: { ...ROUTED, addresses: "10.9.0.100-10.9.0.109" } });
        assert.equal(parseConfig(ok, "dev").network!.addresses, "10.9.0.100-10.9.0.109");
        const p = problems({ ...ok, network: { ...ROUTED, addresses: "10.9.0.100-10.9.0.108" } });
        assert.equal(p.length, 1);
        assert.match(p[0], /^bluegreen:network\.addresses: 10\.9\.0\.100-10\.9\.0\.108 has 9 addresses; the stack needs 10/);
    });

    it("refuses routed without a remote, or with HAProxy on this host", () => {
        const p = problems({ ...minimalRaw(), network: ROUTED });
        assert.ok(
            p.some((x) => /^bluegreen:network\.mode: routed needs bluegreen:incus\.remote/.test(x)),
            p.join("\n"),
        );
        assert.ok(
            p.some((x) => /^bluegreen:network\.mode: routed needs bluegreen:haproxy\.placement: incus/.test(x)),
            p.join("\n"),
        );
    });

    it("accepts a canary, a shift and Prometheus with routed nodes (their targets and probes are the nodes' addresses)", () => {
        assert.equal(parseConfig(cfg({ network: ROUTED, canary: {} }), "dev").network?.mode, "routed");
        assert.equal(parseConfig(cfg({ network: ROUTED, prometheus: {} }), "dev").network?.mode, "routed");
        assert.equal(parseConfig(cfg({ network: ROUTED, progressive: { steps: [10, 50, 100] } }), "dev").network?.mode, "routed");
    });

    it("refuses members named twice, pins outside the members, and allowReschedule without spread", () => {
        assert.match(problems(cfg({ incus: { ...REMOTE, members: ["m1", "m1"] } }))[0], /^bluegreen:incus\.members: m1 is named twice/);
        assert.match(problems(cfg({ incus: { ...REMOTE, drain: ["m2", "m2"] } }))[0], /^bluegreen:incus\.drain: m2 is named twice/);
        assert.deepEqual(problems(cfg({ incus: { ...REMOTE, members: ["m1", "m2"], drain: ["m3"] } })), [
            "bluegreen:incus.drain[0]: m3 is not in bluegreen:incus.members (m1, m2)",
        ]);
        assert.match(problems(cfg({ incus: { ...REMOTE, members: [] } }))[0], /^bluegreen:incus\.members: expected at least one member/);
        assert.match(problems(cfg({ incus: { ...REMOTE, members: ["m1", "M2"] } }))[0], /^bluegreen:incus\.members\[1\]: /);
        assert.match(
            problems(cfg({ incus: { ...REMOTE, members: ["m1", "m2"] }, haproxy: { ...HAPROXY, member: "m3" } }))[0],
            /^bluegreen:haproxy\.member: m3 is not in bluegreen:incus\.members \(m1, m2\)/,
        );
        assert.match(
            problems(cfg({ incus: { ...REMOTE, members: ["m1", "m2"] }, stateful: { db: { ...DB, member: "m3" } } }))[0],
            /^bluegreen:stateful\.db\.member: m3 is not in bluegreen:incus\.members \(m1, m2\)/,
        );
        assert.match(
            problems(cfg({ components: { api: { hostPort: 18110, route: "/", nodes: 2, spread: false, allowReschedule: true } } }))[0],
            /^bluegreen:components\.api\.allowReschedule: reschedules a spread pool; spread is false/,
        );
        assert.match(
            problems(cfg({ incus: { ...REMOTE, members: ["m1"] }, components: { api: { hostPort: 18110, route: "/", nodes: 2, spread: true } } }))[0],
            /^bluegreen:components\.api\.spread: true needs two or more members; bluegreen:incus\.members names one/,
        );
        assert.match(
            problems(cfg({ incus: { ...REMOTE, members: ["m1", "m2"] }, stateful: { db: DB } }))[0],
            /^bluegreen:stateful\.db\.member: expected the member its volumes live on \(one of m1, m2\)/,
        );
        assert.match(
            problems(cfg({ components: { api: { hostPort: 18110, route: "/", spread: "yes" } } }))[0],
            /^bluegreen:components\.api\.spread: expected true or false/,
        );
    });
});
