// Placement wired into the program (issue 21 part 2): the cluster is read once before planning
// (exact argv, failing closed), HAProxy carries its member and routed address, the switch's
// servers and readiness probes are the nodes' addresses at the app's port, and containers are
// created on their member with a routed NIC and their address recorded.
import assert from "node:assert/strict";
import { canaryInputs, haproxyInputs, prometheusInputs, statefulInputs, switchInputs } from "../../components/plan";
import { renderTargets } from "../../components/model/rollout/prometheusConfig";
import { planCanary } from "../../components/model/rollout/canary";
import { nodeHealthUrl } from "../../components/release/rollout/canary";
import { placeStack } from "../../components/model/cluster/placement";
import { renderConfig } from "../../components/model/traffic/haproxyConfig";
import { ADDRESS_KEY } from "../../components/model/cluster/network";
import { Cmd, CmdResult, setRunner } from "../../components/io/exec";
import { healthUrl, instanceConfig, liveDifferences } from "../../components/release/deploy";
import { frontendAddress, routedConfig, routedNics } from "../../components/release/traffic/haproxy";
import {
    assertMemberLive,
    proxyOnClusterProblems,
    unreadableProblems,
    placementRefusal,
    placementView,
    readPlacement,
    flipProblems,
    strandedRefusal,
    unreachable,
    wantsPlacement,
} from "../../components/release/cluster/placement";
import { describePlacementView } from "../../components/release/status";
import { statefulHealthUrl, statefulMismatch } from "../../components/release/stateful/stateful";
import { modelOf, nodeTargets } from "../../components/release/traffic/switch";
import { stackConfig } from "./../helpers/stackConfig";
import { containerInputs } from "../helpers/containerInputs";

const CLUSTER = {
    incus: { remote: "prod" },
    haproxy: { placement: "incus", frontendPort: 18100, exporterPort: 18101 },
    components: { api: { hostPort: 18110, route: "/", nodes: 2 } },
    network: { mode: "routed", parent: "eth0", addresses: "10.9.0.100-10.9.0.119" },
    stateful: { db: { release: "bbbbbbb", hostPort: 18150, volumes: { data: "/var/lib/db" }, member: "m3", route: "/db" } },
};
const MEMBERS = ["m1", "m2", "m3"].map((name, k) => ({ name, state: "online" as const, address: `10.9.1.${k + 1}` }));

function fakeIncus(answers: Record<string, Partial<CmdResult>>, seen: string[][]): () => void {
    return setRunner(async (cmd: Cmd) => {
        seen.push([...cmd.argv]);
        const a = answers[cmd.argv.join(" ")];
        if (!a) return { code: 1, stdout: "", stderr: `unexpected ${cmd.argv.join(" ")}` };
        return { code: 0, stdout: "", stderr: "", ...a };
    });
}

describe("placement wired into the program", () => {
    const config = stackConfig(CLUSTER, "prod");
    const placement = placeStack(config, { members: MEMBERS, recorded: {} });

    it("HAProxy goes on the first member with its own routed address, and through no backend device", () => {
        const h = haproxyInputs(config, placement);
        assert.equal(h.member, "m1");
        assert.equal(h.routedAddress, "10.9.0.100", "not `address`: that output is the frontend's");
        assert.equal(h.parent, "eth0");
        assert.deepEqual(h.backendPorts, []);
        const plain = haproxyInputs(config);
        assert.ok(!("member" in plain) && !("routedAddress" in plain) && !("parent" in plain));
        assert.ok(plain.backendPorts.length > 0);
    });

    it("the switch's servers are each node's address at the app's port; readiness probes them there", () => {
        const s = switchInputs(config, placement);
        const api = s.components[0];
        assert.deepEqual(api.routed, {
            port: 8080,
            addresses: { blue: ["10.9.0.101", "10.9.0.102"], green: ["10.9.0.103", "10.9.0.104"] },
        });
        assert.deepEqual(
            nodeTargets(api, "green").map((t) => [t.container, t.server, t.address, t.port]),
            [
                ["prod-api-blue-1", "green-1", "10.9.0.103", 8080],
                ["prod-api-blue-2", "green-2", "10.9.0.104", 8080],
            ],
        );
        const text = renderConfig(modelOf(s));
        assert.match(text, /server blue-1 10\.9\.0\.101:8080 check weight 50/);
        assert.match(text, /server green-2 10\.9\.0\.104:8080 check weight 0/);
        assert.match(text, /server db 10\.9\.0\.105:8080 check/, "a routed stateful service on its address at its own port");
        assert.ok(!("routed" in switchInputs(config).components[0]), "no placement: inputs as before");
        assert.doesNotMatch(renderConfig(modelOf(switchInputs(config))), /10\.9\./);
    });

    it("a container is probed on its address at the app's port; a stateful service too", () => {
        assert.equal(healthUrl(containerInputs({ address: "10.9.0.101", parent: "eth0" })), "http://10.9.0.101:8080/health");
        assert.equal(healthUrl(containerInputs()), "http://127.0.0.1:18131/health");
        const [db] = statefulInputs(config, placement);
        assert.equal(statefulHealthUrl(db), "http://10.9.0.105:8080/health");
        assert.equal(statefulHealthUrl(statefulInputs(config)[0]), "http://127.0.0.1:18150/health");
    });

    it("Prometheus scrapes each routed node at its address and the app's port; the canary probes its nodes there, on another member than a peer", () => {
        const withCanary = stackConfig({ ...CLUSTER, canary: {} }, "prod");
        const placed = placeStack(withCanary, { members: MEMBERS, recorded: {} });
        const scraping = prometheusInputs(withCanary, placed)!;
        assert.deepEqual(
            scraping.targets.map((t) => [t.color, t.node, t.address, t.port]),
            [
                ["blue", 1, "10.9.0.101", 8080],
                ["blue", 2, "10.9.0.102", 8080],
            ],
            "the colors present (blue only here)",
        );
        const json = renderTargets(scraping.targets);
        assert.match(json, /"10\.9\.0\.102:8080"/);
        assert.doesNotMatch(json, /127\.0\.0\.1/);
        assert.match(renderTargets(prometheusInputs(withCanary)!.targets), /"127\.0\.0\.1:181\d\d"/, "no placement: loopback ports as before");
        const c = canaryInputs(withCanary, placed)!;
        const { plan } = planCanary(c.prefix, c.active, c.components);
        const [canary] = plan!.canaries;
        assert.equal(nodeHealthUrl(c, canary), "http://10.9.0.102:8080/health");
        assert.equal(nodeHealthUrl(c, plan!.peers[0]), "http://10.9.0.101:8080/health");
        const member = (n: { container: string }) => placed.containers[n.container]?.member;
        assert.ok(
            plan!.peers.some((p) => member(p) !== member(canary)),
            "the canary node shares its member with every peer",
        );
        const plainCanary = canaryInputs(withCanary)!;
        assert.match(
            nodeHealthUrl(plainCanary, planCanary(c.prefix, c.active, plainCanary.components).plan!.canaries[0]),
            /^http:\/\/127\.0\.0\.1:181\d\d\/health$/,
        );
    });

    it("routed instances record their address and get a routed NIC off the parent, with no proxy device", () => {
        assert.deepEqual(routedConfig({ address: "10.9.0.101" }), { [ADDRESS_KEY]: "10.9.0.101" });
        assert.deepEqual(routedConfig({}), {});
        assert.deepEqual(routedNics({ address: "10.9.0.101", parent: "eth0" }), { nics: { eth0: { parent: "eth0", address: "10.9.0.101" } } });
        assert.deepEqual(routedNics({}), {});
        const i = containerInputs({ address: "10.9.0.101", parent: "eth0" });
        const nic = { type: "nic", nictype: "routed", parent: "eth0", "ipv4.address": "10.9.0.101" };
        const live = (config: Record<string, string>, devices: Record<string, Record<string, string>>) => ({ config, devices });
        const labels = {
            "environment.PORT": "8080",
            "environment.BLUEGREEN_STACK": "dev",
            "environment.BLUEGREEN_COMPONENT": "web",
            "environment.BLUEGREEN_COLOR": "green",
            "environment.BLUEGREEN_RELEASE": "def5678",
            "environment.BLUEGREEN_HEALTH_PATH": "/health",
            "environment.HOST": "10.9.0.101",
            "user.bluegreen.managed": "true",
            "user.bluegreen.stack": "dev",
            "user.bluegreen.component": "web",
            "user.bluegreen.color": "green",
            "user.bluegreen.release": "def5678",
        };
        assert.deepEqual(liveDifferences(live({ ...labels, [ADDRESS_KEY]: "10.9.0.101" }, { eth0: nic }), i), []);
        assert.deepEqual(liveDifferences(live({ ...labels, [ADDRESS_KEY]: "10.9.0.107" }, { eth0: { ...nic, "ipv4.address": "10.9.0.107" } }), i), ["address"]);
        assert.equal(instanceConfig(i)["environment.HOST"], "10.9.0.101", "the app listens on its address");
        assert.ok(!("environment.HOST" in instanceConfig(containerInputs())), "proxy mode: as before");
        const [db] = statefulInputs(config, placement);
        const dbLive = { name: db.name, status: "Running", config: {}, devices: {} } as never;
        assert.match(statefulMismatch(dbLive, db) ?? "", /differs|is null/);
    });

    it("reads the cluster once (exact argv) only for a remote, members or a routed network; fails closed", async () => {
        assert.equal(wantsPlacement(stackConfig({}, "dev")), false);
        assert.equal(wantsPlacement(config), true);
        const seen: string[][] = [];
        const members = JSON.stringify(MEMBERS.map((m) => ({ server_name: m.name, status: "Online", url: `https://${m.address}:8443` })));
        const restore = fakeIncus(
            {
                "incus cluster list prod: --format json": { stdout: members },
                "incus query prod:/1.0/instances?recursion=1": {
                    stdout: JSON.stringify([
                        {
                            name: "prod-api-blue-1",
                            status: "Running",
                            config: { "user.bluegreen.managed": "true", "user.bluegreen.stack": "prod", [ADDRESS_KEY]: "10.9.0.110" },
                            devices: {},
                            expanded_devices: {},
                        },
                    ]),
                },
            },
            seen,
        );
        try {
            const p = await readPlacement(config);
            assert.deepEqual(seen, [
                ["incus", "cluster", "list", "prod:", "--format", "json"],
                ["incus", "query", "prod:/1.0/instances?recursion=1"],
            ]);
            assert.equal(p?.containers["prod-api-blue-1"]?.address, "10.9.0.110", "a recorded address is kept");
            assert.equal(p?.containers["prod-api-blue-2"]?.member, "m2");
        } finally {
            restore();
        }
        const down = fakeIncus({}, []);
        try {
            await assert.rejects(readPlacement(config), /cannot read the members of prod, so nothing was placed/);
        } finally {
            down();
        }
    });

    it("a placement with problems refuses the up, naming each, and touches nothing", () => {
        const bad = placeStack(stackConfig({ ...CLUSTER, haproxy: { ...CLUSTER.haproxy, member: "m9" } }, "prod"), { members: MEMBERS, recorded: {} });
        const e = placementRefusal(bad);
        assert.ok(e);
        assert.equal(e.name, "RefusedError");
        assert.match(e.message, /bluegreen:haproxy\.member: m9 is not a member in use \(m1, m2, m3\)/);
        assert.match(e.message, /Nothing was touched/);
        assert.equal(placementRefusal(placement), undefined);
    });

    it("status shows each member's state and where each node is; a cluster it cannot read is UNKNOWN, never an error", async () => {
        const members = JSON.stringify(
            MEMBERS.map((m) => ({ server_name: m.name, status: m.name === "m2" ? "Offline" : "Online", url: `https://${m.address}:8443` })),
        );
        const restore = fakeIncus(
            { "incus cluster list prod: --format json": { stdout: members }, "incus query prod:/1.0/instances?recursion=1": { stdout: "[]" } },
            [],
        );
        let view;
        try {
            view = await placementView(config);
        } finally {
            restore();
        }
        assert.ok(view && !("error" in view));
        assert.deepEqual(describePlacementView(view).slice(0, 3), [
            "placement:",
            "  members: m1 online, m2 offline, m3 online",
            "  api blue: 1 m1 10.9.0.101, 2 m2 10.9.0.102 (m2 offline)",
        ]);
        const down = fakeIncus({}, []);
        try {
            const v = await placementView(config);
            assert.ok(v && "error" in v);
            assert.match(describePlacementView(v)[0], /^placement: UNKNOWN \(cannot read the members of prod/);
        } finally {
            down();
        }
        assert.equal(await placementView(stackConfig({}, "dev")), undefined, "this host: no placement, no incus call");
    });

    it("with haproxy.member, the frontend listens on that member's address, not the remote's (one query, exact argv)", async () => {
        const seen: string[][] = [];
        const restore = fakeIncus(
            {
                "incus query prod:/1.0/cluster/members/m2": { stdout: JSON.stringify({ server_name: "m2", status: "Online", url: "https://10.9.1.2:8443" }) },
                "incus query prod:/1.0": { stdout: JSON.stringify({ environment: { addresses: ["10.9.1.1:8443"] }, config: {} }) },
            },
            seen,
        );
        try {
            assert.equal(await frontendAddress({ remote: "prod" }, "m2"), "10.9.1.2");
            assert.deepEqual(seen, [["incus", "query", "prod:/1.0/cluster/members/m2"]]);
            assert.equal(await frontendAddress({ remote: "prod" }), "10.9.1.1", "no member: the remote's own address");
        } finally {
            restore();
        }
    });

    it("a create on a member that is not online is refused before anything is touched, naming the member (one query, exact argv)", async () => {
        const seen: string[][] = [];
        const member = (status: string) => ({ stdout: JSON.stringify({ server_name: "m2", status, url: "https://10.9.1.2:8443" }) });
        let restore = fakeIncus({ "incus query prod:/1.0/cluster/members/m2": member("Online") }, seen);
        try {
            await assertMemberLive({ remote: "prod" }, "m2", "prod-api-blue-2", []);
        } finally {
            restore();
        }
        assert.deepEqual(seen, [["incus", "query", "prod:/1.0/cluster/members/m2"]]);
        for (const status of ["Offline", "Evacuated"]) {
            restore = fakeIncus({ "incus query prod:/1.0/cluster/members/m2": member(status) }, []);
            try {
                await assert.rejects(
                    assertMemberLive({ remote: "prod" }, "m2", "prod-api-blue-2", ["set bluegreen:components.api.allowReschedule: true"]),
                    (e: Error) =>
                        e.name === "RefusedError" &&
                        new RegExp(`prod-api-blue-2 belongs on member m2, which is ${status.toLowerCase()}`).test(e.message) &&
                        (status === "Offline" ? /bring m2 back online/ : /restore m2 \(incus cluster restore m2\) once its maintenance is done/).test(
                            e.message,
                        ) &&
                        /allowReschedule/.test(e.message) &&
                        /Nothing of prod-api-blue-2 was touched/.test(e.message),
                );
            } finally {
                restore();
            }
        }
        restore = fakeIncus({}, []);
        try {
            await assert.rejects(assertMemberLive({ remote: "prod" }, "m2", "prod-api-blue-2", []), /cannot read the state of member m2/);
        } finally {
            restore();
        }
    });

    it("routed: an instance of the stack listed without its record (its member unreachable) refuses the placement, naming the member", () => {
        const members = MEMBERS.map((m) => (m.name === "m2" ? { ...m, state: "offline" as const } : m));
        const lost = { name: "prod-api-blue-2", status: "Error", config: {}, location: "m2" };
        const fine = { name: "prod-api-blue-1", status: "Running", config: { [ADDRESS_KEY]: "10.9.0.101" }, location: "m1" };
        assert.deepEqual(unreadableProblems(config, members, [fine]), []);
        const [p] = unreadableProblems(config, members, [fine, lost, { ...lost, name: "other-x" }]);
        assert.match(p, /^the addresses of prod-api-blue-2 on member m2 \(offline\) cannot be read \(nor from HAProxy.s config\), so no address is placed/);
        assert.match(p, /bring m2 back online/);
        assert.deepEqual(unreadableProblems({ ...config, network: undefined }, members, [lost]), [], "proxy mode: no address to lose");
        assert.deepEqual(unreadableProblems(config, members, [fine, lost], { "prod-api-blue-2": "10.9.0.102" }), [], "read back from HAProxy's config");
        assert.match(p, /cannot be read \(nor from HAProxy's config\)/);
    });

    it("a replacement on a member that does not answer is refused naming it (an evacuated member still answers)", () => {
        assert.equal(unreachable({ name: "m2", state: "offline" }), true);
        assert.equal(unreachable({ name: "m2", state: "unknown" }), true);
        assert.equal(unreachable({ name: "m2", state: "evacuated" }), false);
        assert.equal(unreachable({ name: "m2", state: "online" }), false);
        const e = strandedRefusal("prod-api-green-2", { name: "m2", state: "offline" }, "green");
        assert.match(e.message, /prod-api-green-2 would be removed or replaced, but it is on member m2, which is offline/);
        assert.match(e.message, /bring m2 back online/);
        assert.match(e.message, /Nothing of prod-api-green-2 was touched/);
    });

    it("moving traffic onto a color with a node on a member that is not online is refused naming it; staying is not", () => {
        const members = MEMBERS.map((m) => (m.name === "m2" ? { ...m, state: "offline" as const } : m));
        const located = { "prod-api-blue-1": "m1", "prod-api-blue-2": "m2", "prod-api-green-1": "m1", "prod-api-green-2": "m2" };
        const p = placeStack(stackConfig({ ...CLUSTER, stateful: {} }, "prod"), { members, recorded: {}, located });
        const [f, ...rest] = flipProblems("green", "blue", p.pools);
        assert.deepEqual(rest, []);
        assert.match(f, /^switching traffic to green needs every node of green ready, and api's green node 2 is on member m2, which is offline/);
        assert.match(f, /keep bluegreen:active: blue/);
        assert.deepEqual(flipProblems("blue", "blue", p.pools), [], "blue keeps serving: its lost node waits");
        assert.deepEqual(flipProblems("green", undefined, p.pools), [], "HAProxy's config not read");
        assert.deepEqual(switchInputs(stackConfig({ ...CLUSTER, stateful: {} }, "prod"), p).waiting, ["prod-api-blue-2"], "the readiness check skips it");
        assert.ok(!("waiting" in switchInputs(config, placement)), "nothing lost: the switch's inputs stay as they were");
        assert.deepEqual(
            flipProblems("green", "blue", placeStack(stackConfig({ ...CLUSTER, stateful: {} }, "prod"), { members: MEMBERS, recorded: {} }).pools),
            [],
        );
    });

    it("a pool spread over members without routed addresses is refused (HAProxy would reach only its own member's nodes)", () => {
        const proxy = stackConfig({ ...CLUSTER, network: undefined }, "prod");
        const [p] = proxyOnClusterProblems(proxy, placeStack(proxy, { members: MEMBERS, recorded: {} }));
        assert.match(p, /^bluegreen:components\.api: spread over 3 members, but HAProxy reaches nodes through proxy devices on its own member only/);
        const single = stackConfig({ ...CLUSTER, network: undefined, components: { api: { hostPort: 18110, route: "/", nodes: 2, spread: false } } }, "prod");
        assert.deepEqual(proxyOnClusterProblems(single, placeStack(single, { members: MEMBERS, recorded: {} })), []);
        assert.deepEqual(proxyOnClusterProblems(config, placement), [], "routed: fine");
        assert.deepEqual(proxyOnClusterProblems(proxy, placeStack(proxy, { members: [], recorded: {} })), [], "a plain remote: nothing spread");
    });
});
