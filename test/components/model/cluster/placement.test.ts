import assert from "node:assert/strict";
import { parseConfig } from "../../../../components/model/config";
import { planCanary } from "../../../../components/model/rollout/canary";
import {
    Member,
    MemberState,
    NodePlace,
    isLive,
    membersInUse,
    memberState,
    missingOnOffline,
    movedNodes,
    offlineRefusal,
    describePlacement,
    placeConfig,
    placePool,
    placeStack,
    spreadOf,
    statefulMoveRefusal,
} from "../../../../components/model/cluster/placement";

const m = (name: string, state: MemberState = "online"): Member => ({ name, state });
const cluster = (n: number, down: readonly number[] = []): Member[] =>
    Array.from({ length: n }, (_, i) => m(`m${i + 1}`, down.includes(i + 1) ? "offline" : "online"));
const pool = (nodes: number, members: readonly Member[], allowReschedule = false, located?: (node: number | undefined) => string | undefined) =>
    placePool({ component: "api", color: "blue", nodes, allowReschedule }, members, located);
const membersOf = (p: readonly NodePlace[]) => p.map((x) => x.member);

describe("placement (pure)", () => {
    it("node n of a pool goes on member n mod M, in the members' stable order", () => {
        assert.deepEqual(membersOf(pool(5, cluster(3)).nodes), ["m1", "m2", "m3", "m1", "m2"]);
        assert.deepEqual(membersOf(pool(2, [m("b"), m("a")]).nodes), ["b", "a"], "the configured order is kept");
        assert.deepEqual(
            pool(1, cluster(3)).nodes.map((x) => [x.node, x.member]),
            [[undefined, "m1"]],
            "a pool of one on the first member",
        );
    });

    it("member states from Incus's words; only Online is live", () => {
        assert.equal(memberState("Online"), "online");
        assert.equal(memberState("Evacuated"), "evacuated");
        assert.equal(memberState("Offline"), "offline");
        assert.equal(memberState("Blocked"), "blocked");
        assert.equal(memberState("Whatever"), "unknown");
        assert.deepEqual(
            (["online", "offline", "evacuated", "blocked", "unknown"] as const).map((s) => isLive(m("x", s))),
            [true, false, false, false, false],
        );
    });

    it("the members in use: the configured ones in their order, else every member the cluster lists, by name; offline ones kept (so a loss moves nothing else)", () => {
        const listed = [m("m3"), m("m1", "offline"), m("m2")];
        assert.deepEqual(membersInUse(undefined, listed), { members: [m("m1", "offline"), m("m2"), m("m3")], problems: [] });
        assert.deepEqual(membersInUse(["m3", "m2"], listed), { members: [m("m3"), m("m2")], problems: [] });
        const r = membersInUse(["m2", "m9"], listed);
        assert.equal(r.problems.length, 1);
        assert.match(r.problems[0], /^bluegreen:incus\.members\[1\]: m9 is not a member of the cluster \(its members: m1, m2, m3\)/);
        assert.deepEqual(membersInUse(undefined, []), { members: [], problems: [] }, "not a cluster");
    });

    it("spread defaults to true exactly when more than one member is in use", () => {
        assert.equal(spreadOf(undefined, 3), true);
        assert.equal(spreadOf(undefined, 1), false);
        assert.equal(spreadOf(undefined, 0), false);
        assert.equal(spreadOf(false, 3), false);
        assert.equal(spreadOf(true, 3), true);
    });

    it("property: for every size and member count, a color of two or more nodes is never all on one member, and the canary has a peer elsewhere", () => {
        for (let M = 2; M <= 6; M++) {
            for (let nodes = 2; nodes <= 16; nodes++) {
                const placed = pool(nodes, cluster(M)).nodes;
                assert.ok(new Set(membersOf(placed)).size >= 2, `M=${M} nodes=${nodes}`);
                for (let canaryNode = 1; canaryNode <= nodes; canaryNode++) {
                    const { plan } = planCanary("p-", "blue", [{ component: "api", nodes, hostPort: 20000 }], canaryNode);
                    const where = new Map(placed.map((x) => [x.node, x.member]));
                    const c = where.get(plan!.canaries[0].node);
                    assert.ok(
                        plan!.peers.some((p) => where.get(p.node) !== c),
                        `M=${M} nodes=${nodes} canary=${canaryNode}`,
                    );
                }
                // Balanced: no member holds more than one node above another.
                const counts = [...Array(M).keys()].map((i) => membersOf(placed).filter((x) => x === `m${i + 1}`).length);
                assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `M=${M} nodes=${nodes}: ${counts}`);
            }
        }
    });

    it("property: growing or shrinking a pool moves no node that stays (sizes 1-16, 1-6 members, with and without an offline member rescheduled)", () => {
        for (let M = 1; M <= 6; M++) {
            for (const down of M >= 3 ? [[], [2], [M]] : [[]]) {
                const members = cluster(M, down);
                for (let a = 1; a <= 16; a++) {
                    for (let b = 1; b <= 16; b++) {
                        const before = pool(a, members, true).nodes;
                        const after = pool(b, members, true).nodes;
                        assert.deepEqual(movedNodes(before, after), [], `M=${M} down=${down} ${a}->${b}`);
                    }
                }
            }
        }
    });

    it("a member that is offline: its nodes are marked, never silently moved, and a deploy that needs them is refused naming the member", () => {
        const r = pool(4, cluster(3, [2]));
        assert.deepEqual(r.problems, []);
        assert.deepEqual(
            r.nodes.map((x) => [x.node, x.member, x.offline ?? false]),
            [
                [1, "m1", false],
                [2, "m2", true],
                [3, "m3", false],
                [4, "m1", false],
            ],
        );
        const msg = offlineRefusal(r)!;
        assert.match(msg, /api's blue node 2 belongs on member m2, which is offline/);
        assert.match(msg, /allowReschedule/);
        assert.match(msg, /incus cluster list/);
        assert.match(msg, /Nothing was touched/);
        assert.equal(offlineRefusal(pool(4, cluster(3))), undefined);
        assert.equal(offlineRefusal(r, [1, 3]), undefined, "a deploy that needs no node on m2 goes ahead");
    });

    it("an evacuated member is leaving: its nodes move to the least loaded live member without allowReschedule, and only they move", () => {
        const all = pool(6, cluster(3)).nodes;
        const members = [m("m1"), m("m2", "evacuated"), m("m3")];
        const r = pool(6, members);
        assert.deepEqual(r.problems, []);
        assert.deepEqual(membersOf(r.nodes), ["m1", "m3", "m3", "m1", "m1", "m3"]);
        assert.deepEqual(movedNodes(all, r.nodes), [2, 5]);
        assert.deepEqual(
            r.nodes.filter((x) => x.leaving).map((x) => [x.node, x.base, x.rescheduled]),
            [
                [2, "m2", true],
                [5, "m2", true],
            ],
        );
        assert.equal(offlineRefusal(r), undefined, "nothing is refused: the operator said the member leaves");
        // Where its instance still is (Incus's evacuation stopped it there): it stays, waiting for its member, never replaced from afar.
        const stopped = pool(6, members, false, (n) => (n === 2 || n === 5 ? "m2" : undefined));
        assert.deepEqual(membersOf(stopped.nodes), ["m1", "m2", "m3", "m1", "m2", "m3"]);
        assert.deepEqual(
            stopped.nodes.filter((x) => x.offline).map((x) => [x.node, x.baseState]),
            [
                [2, "evacuated"],
                [5, "evacuated"],
            ],
        );
        assert.deepEqual(
            missingOnOffline(stopped, () => true),
            [],
            "nothing to create there",
        );
        assert.match(pool(2, [m("m1"), m("m2", "evacuated")]).problems[0], /its 2 nodes would all be on m1, the only live member/);
        // Incus's evacuation migrated node 2 to m1 (with its config and address): it stays there, no second move.
        const migrated = pool(6, members, false, (n) => (n === 2 ? "m1" : undefined));
        assert.deepEqual(membersOf(migrated.nodes), ["m1", "m1", "m3", "m1", "m3", "m3"]);
        assert.equal(migrated.nodes[1].leaving, true);
    });

    it("a node whose instance is on an unreachable member stays there even with allowReschedule (it cannot be deleted from there); a missing one moves", () => {
        const members = cluster(3, [2]);
        const r = pool(6, members, true, (n) => (n === 2 ? "m2" : undefined));
        assert.deepEqual(
            r.nodes.map((x) => [x.node, x.member, x.offline ?? false, x.rescheduled ?? false]),
            [
                [1, "m1", false, false],
                [2, "m2", true, false],
                [3, "m3", false, false],
                [4, "m1", false, false],
                [5, "m3", false, true],
                [6, "m3", false, false],
            ],
        );
        assert.deepEqual(
            missingOnOffline(r, (n) => n === 2),
            [],
            "the stranded node exists: no deploy has to create it",
        );
        const plain = pool(6, members, false, (n) => (n === 2 ? "m2" : undefined));
        const [p, ...rest] = missingOnOffline(plain, (n) => n !== undefined && n <= 3);
        assert.deepEqual(rest, []);
        assert.match(p, /^api's blue node 5 belongs on member m2, which is offline, and must be created: bring m2 back online/);
        assert.match(p, /set bluegreen:components\.api\.allowReschedule: true to place it on a live member/);
        assert.deepEqual(membersOf(pool(3, cluster(3), true, () => "m2").nodes), ["m1", "m2", "m3"], "a live member: nothing changes");
    });

    it("with allowReschedule, only the nodes of the lost member move, each to the least loaded live member", () => {
        const all = pool(6, cluster(3)).nodes;
        const r = pool(6, cluster(3, [2]), true);
        assert.deepEqual(r.problems, []);
        assert.deepEqual(membersOf(r.nodes), ["m1", "m3", "m3", "m1", "m1", "m3"]);
        assert.deepEqual(movedNodes(all, r.nodes), [2, 5], "minimal moves: only the nodes that were on m2");
        assert.deepEqual(
            r.nodes.filter((x) => x.rescheduled).map((x) => [x.node, x.base]),
            [
                [2, "m2"],
                [5, "m2"],
            ],
        );
        assert.equal(offlineRefusal(r), undefined);
        // When the member comes back, its nodes go home: placement is a function of the members' states.
        assert.deepEqual(movedNodes(r.nodes, pool(6, cluster(3), true).nodes), [2, 5]);
    });

    it("refuses to put a whole color on its one live member, and a pool with no live member", () => {
        const one = pool(2, cluster(2, [2]), true);
        assert.equal(one.problems.length, 1);
        assert.match(one.problems[0], /api's blue: its 2 nodes would all be on m1, the only live member/);
        const none = pool(2, cluster(2, [1, 2]), true);
        assert.match(none.problems[0], /no live member/);
    });

    it("what an instance records of its place: its address under user.bluegreen.address (its member is Incus's own location)", () => {
        assert.deepEqual(placeConfig({ member: "m2", address: "10.9.0.102" }), { "user.bluegreen.address": "10.9.0.102" });
        assert.deepEqual(placeConfig({ member: "m2" }), {});
    });

    it("a stateful service never moves: a member change is refused with the migration path", () => {
        const msg = statefulMoveRefusal("db", "m3", "m1", "p-db");
        assert.match(msg, /stateful service db is pinned to member m3/);
        assert.match(msg, /incus move p-db --target m1/);
        assert.match(msg, /storage volume copy/);
        assert.match(msg, /set bluegreen:stateful\.db\.member back to m3/);
    });

    describe("placeStack: each container's member and address, HAProxy's and the stateful services'", () => {
        const base = {
            active: "blue",
            colors: { blue: { release: "aaaaaaa" } },
            prefix: "p-",
            incus: { remote: "prod" },
            haproxy: { placement: "incus", frontendPort: 18000, exporterPort: 18001 },
            components: { api: { hostPort: 18110, route: "/api", nodes: 3 }, web: { hostPort: 18130, route: "/" } },
            network: { mode: "routed", parent: "eth0", addresses: "10.9.0.100-10.9.0.119" },
            stateful: { db: { release: "bbbbbbb", hostPort: 18150, volumes: { data: "/var/lib/db" }, member: "m3" } },
        };
        it("spreads pools, pins HAProxy and the stateful service, and allocates addresses", () => {
            const config = parseConfig(base, "s");
            const s = placeStack(config, { members: cluster(3), recorded: {} });
            assert.deepEqual(s.problems, []);
            assert.deepEqual(s.containers["p-api-blue-1"], { member: "m1", address: "10.9.0.101" });
            assert.deepEqual(s.containers["p-api-blue-2"], { member: "m2", address: "10.9.0.102" });
            assert.deepEqual(s.containers["p-api-blue-3"], { member: "m3", address: "10.9.0.103" });
            assert.deepEqual(s.containers["p-web-blue"], { member: "m1", address: "10.9.0.107" });
            assert.deepEqual(s.haproxy, { member: "m1", address: "10.9.0.100" });
            assert.deepEqual(s.stateful["p-db"], { member: "m3", address: "10.9.0.109" });
        });
        it("proxy mode and one member: no member, no address (today's inputs)", () => {
            const { network: _n, stateful: _s, ...rest } = base;
            const s = placeStack(parseConfig(rest, "s"), { members: [], recorded: {} });
            assert.deepEqual(s.problems, []);
            assert.deepEqual(s.containers["p-api-blue-1"], {});
            assert.deepEqual(s.haproxy, {});
        });
        it("spread: false leaves the member to Incus's scheduler", () => {
            const config = parseConfig({ ...base, components: { api: { hostPort: 18110, route: "/api", nodes: 3, spread: false } } }, "s");
            assert.deepEqual(placeStack(config, { members: cluster(3), recorded: {} }).containers["p-api-blue-2"], { address: "10.9.0.102" });
        });
        it("a stateful service on a cluster needs its member; HAProxy's member must be in use; a range over a member's address is refused", () => {
            const { stateful: _s, ...rest } = base;
            const noMember = parseConfig(
                { ...rest, haproxy: { ...base.haproxy, member: "m4" }, stateful: { db: { release: "bbbbbbb", hostPort: 18150, volumes: { data: "/d" } } } },
                "s",
            );
            const p = placeStack(noMember, {
                members: [
                    { name: "m1", state: "online", address: "10.9.0.105" },
                    { name: "m2", state: "online" },
                ],
                recorded: {},
            }).problems.join("\n");
            assert.match(p, /bluegreen:stateful\.db\.member: expected the member its volumes live on/);
            assert.match(p, /bluegreen:haproxy\.member: m4 is not a member in use \(m1, m2\)/);
            assert.match(p, /overlaps the address of member m1 \(10\.9\.0\.105\)/);
        });
        it("describes the placement for the preview and status: members with states, then each pool and pinned instance", () => {
            const s = placeStack(parseConfig({ ...base, components: { api: { hostPort: 18110, route: "/api", nodes: 3, allowReschedule: true } } }, "s"), {
                members: cluster(3, [2]),
                recorded: {},
            });
            assert.deepEqual(describePlacement(s), [
                "members: m1 online, m2 offline, m3 online",
                "api blue: 1 m1 10.9.0.101, 2 m3 10.9.0.102 (rescheduled from m2), 3 m3 10.9.0.103",
                "api green: 1 m1 10.9.0.104, 2 m3 10.9.0.105 (rescheduled from m2), 3 m3 10.9.0.106",
                "haproxy: m1 10.9.0.100",
                "stateful p-db: m3 10.9.0.107",
            ]);
            const off = placeStack(parseConfig(base, "s"), { members: cluster(3, [3]), recorded: {} });
            assert.match(describePlacement(off).join("\n"), /3 m3 10\.9\.0\.103 \(m3 offline\)/);
            assert.deepEqual(describePlacement(placeStack(parseConfig({ ...base, network: undefined, stateful: {} }, "s"), { members: [], recorded: {} })), [
                "not a cluster: Incus places every instance",
            ]);
        });

        it("spread: true without a cluster is refused at run time", () => {
            const config = parseConfig({ ...base, components: { api: { hostPort: 18110, route: "/api", nodes: 2, spread: true } } }, "s");
            assert.match(
                placeStack(config, { members: [], recorded: {} }).problems.join("\n"),
                /bluegreen:components\.api\.spread: true needs two or more members, and none is in use/,
            );
        });

        it("with the stack's instances listed: only a node that must be created on an offline member refuses; an evacuated member's nodes move, and status says so", () => {
            const config = parseConfig(base, "s");
            const located = { "p-api-blue-1": "m1", "p-api-blue-2": "m2", "p-api-blue-3": "m3" };
            assert.deepEqual(placeStack(config, { members: cluster(3, [2]), recorded: {}, located }).problems, [], "blue-2 waits on m2; green is absent");
            const grown = parseConfig({ ...base, components: { ...base.components, api: { hostPort: 18110, route: "/api", nodes: 5 } } }, "s");
            const [p, ...rest] = placeStack(grown, { members: cluster(3, [2]), recorded: {}, located }).problems;
            assert.deepEqual(rest, []);
            assert.match(p, /^api's blue node 5 belongs on member m2, which is offline, and must be created/);
            const both = parseConfig({ ...base, colors: { blue: { release: "aaaaaaa" }, green: { release: "ccccccc" } } }, "s");
            assert.match(placeStack(both, { members: cluster(3, [2]), recorded: {}, located }).problems.join("\n"), /api's green node 2 belongs on member m2/);
            const evacuated = [m("m1"), m("m2", "evacuated"), m("m3")];
            // Incus migrated blue-2 to m3: recorded there.
            const ev = placeStack(config, { members: evacuated, recorded: {}, located: { ...located, "p-api-blue-2": "m3" } });
            assert.deepEqual(ev.problems, []);
            assert.equal(ev.containers["p-api-blue-2"]!.member, "m3");
            assert.match(describePlacement(ev).join("\n"), /api blue: 1 m1 10\.9\.0\.101, 2 m3 10\.9\.0\.102 \(moved off m2, evacuated\), 3 m3/);
            // Incus stopped it on m2: it waits there for the restore.
            const stopped = placeStack(config, { members: evacuated, recorded: {}, located });
            assert.deepEqual(stopped.problems, []);
            assert.equal(stopped.containers["p-api-blue-2"]!.member, "m2");
            assert.match(describePlacement(stopped).join("\n"), /api blue: 1 m1 10\.9\.0\.101, 2 m2 10\.9\.0\.102 \(m2 evacuated\), 3 m3/);
        });

        it("incus.drain: the nodes that belong to a listed member, or are on it, are drained (both colors), through evacuation and restore; status says so", () => {
            const both = { ...base, colors: { blue: { release: "aaaaaaa" }, green: { release: "ccccccc" } }, incus: { remote: "prod", drain: ["m2"] } };
            const config = parseConfig(both, "s");
            const located = { "p-api-blue-1": "m1", "p-api-blue-2": "m2", "p-api-blue-3": "m3" };
            const before = placeStack(config, { members: cluster(3), recorded: {}, located });
            assert.deepEqual(before.problems, []);
            assert.deepEqual(before.drained, ["p-api-blue-2", "p-api-green-2"], "web's pool of one is on m1");
            assert.match(describePlacement(before).join("\n"), /api blue: 1 m1 10\.9\.0\.101, 2 m2 10\.9\.0\.102 \(drained\), 3 m3 10\.9\.0\.103$/m);
            // Incus moved blue-2 to m3: it stays drained (it goes home on restore), and is recorded there.
            const moved = placeStack(config, {
                members: [m("m1"), m("m2", "evacuated"), m("m3")],
                recorded: {},
                located: { ...located, "p-api-blue-2": "m3" },
            });
            assert.deepEqual(moved.drained, ["p-api-blue-2", "p-api-green-2"]);
            assert.equal(moved.containers["p-api-blue-2"]!.member, "m3");
            assert.match(describePlacement(moved).join("\n"), /2 m3 10\.9\.0\.102 \(moved off m2, evacuated\) \(drained\)/);
            // Without the key nothing is drained.
            assert.deepEqual(placeStack(parseConfig(base, "s"), { members: cluster(3), recorded: {} }).drained, []);
        });

        it("incus.drain refuses a member not in use, and a drain that leaves a serving pool no node", () => {
            const named = placeStack(parseConfig({ ...base, incus: { remote: "prod", drain: ["m9"] } }, "s"), { members: cluster(3), recorded: {} });
            assert.deepEqual(named.problems, ["bluegreen:incus.drain[0]: m9 is not a member in use (m1, m2, m3); fix the name or remove it"]);
            const two = { ...base, components: { api: { hostPort: 18110, route: "/api", nodes: 2 } }, incus: { remote: "prod", drain: ["m1", "m2"] } };
            const all = placeStack(parseConfig(two, "s"), { members: cluster(3), recorded: {} });
            assert.deepEqual(all.problems, [
                "bluegreen:incus.drain: api's blue serves traffic, and every node of it belongs to m1, m2: draining would leave it none. " +
                    "Drain one member at a time, or grow the pool (bluegreen:components.api.nodes)",
            ]);
            assert.match(
                placeStack(parseConfig({ ...base, network: undefined, incus: { remote: "prod", drain: ["m2"] } }, "s"), {
                    members: [],
                    recorded: {},
                }).problems.join("\n"),
                /incus\.drain\[0\]: m2: the target is not a cluster, so there is no member to drain; remove the key/,
            );
        });

        it("records are reused: a replaced node keeps its address", () => {
            const s = placeStack(parseConfig(base, "s"), { members: cluster(3), recorded: { "p-api-blue-2": "10.9.0.119" } });
            assert.equal(s.containers["p-api-blue-2"]!.address, "10.9.0.119");
            assert.equal(s.containers["p-api-blue-3"]!.address, "10.9.0.102");
        });
    });
});
