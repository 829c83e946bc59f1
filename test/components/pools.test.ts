// Pools: several nodes per color of one component (bluegreen:components.<name>.nodes).
// Everything here is pure: config, names, ports, plan, HAProxy's servers and weights.

import assert from "node:assert/strict";
import { ConfigError } from "../../components/model/config";
import { parseReleasesMap, poolsOf, renderConfig, renderReleasesMap, serverNames } from "../../components/model/traffic/haproxyConfig";
import { containerName, nodesOf, serverName } from "../../components/model/naming";
import { colorHostPort, lastHostPort } from "../../components/model/traffic/topology";
import { desiredWeights } from "../../components/model/traffic/traffic";
import { drainCommand, parseStatSessions } from "../../components/io/runtimeApi";
import { colorContainerInputs, haproxyInputs, switchInputs } from "../../components/plan";
import { ServingGuard } from "../../components/release/cleanup";
import { describeServed, leavingServers, modelOf, nodeTargets } from "../../components/release/traffic/switch";
import { stackConfig } from "../helpers/stackConfig";

const GUARD: ServingGuard = { host: { placement: "host" }, stateDir: "/var/lib/bluegreen/dev", adminSocket: "/var/lib/bluegreen/dev/admin.sock" };
const API = (nodes?: number, hostPort = 18200) => ({ components: { api: { hostPort, route: "/", ...(nodes === undefined ? {} : { nodes }) } } });

function problems(over: Record<string, unknown>): string[] {
    try {
        stackConfig(over);
    } catch (e) {
        assert.ok(e instanceof ConfigError, String(e));
        return [...e.problems];
    }
    return [];
}

describe("pools", () => {
    describe("names and ports", () => {
        it("a pool of one keeps today's names and ports; a pool of N counts its nodes from 1", () => {
            assert.deepEqual(nodesOf(1), [undefined]);
            assert.deepEqual(nodesOf(3), [1, 2, 3]);
            assert.equal(containerName("dev-", "api", "blue"), "dev-api-blue");
            assert.equal(containerName("dev-", "api", "blue", 2), "dev-api-blue-2");
            assert.equal(serverName("green"), "green");
            assert.equal(serverName("green", 2), "green-2");
        });

        it("each node owns two consecutive ports, blue then green; node 1 does not reuse a pool of one's", () => {
            assert.deepEqual([colorHostPort(18200, "blue"), colorHostPort(18200, "green")], [18200, 18201]);
            assert.deepEqual(
                [1, 2, 3].map((n) => [colorHostPort(18200, "blue", n), colorHostPort(18200, "green", n)]),
                [
                    [18202, 18203],
                    [18204, 18205],
                    [18206, 18207],
                ],
            );
            assert.equal(lastHostPort(18200, 1), 18201);
            assert.equal(lastHostPort(18200, 3), 18207);
        });
    });

    describe("config", () => {
        it("nodes defaults to 1 and takes 1 to 16", () => {
            assert.equal(stackConfig(API()).components[0].nodes, 1);
            assert.equal(stackConfig(API(3)).components[0].nodes, 3);
            assert.match(problems(API(0)).join("\n"), /bluegreen:components\.api\.nodes: expected at least 1 node/);
            assert.match(problems(API(17)).join("\n"), /bluegreen:components\.api\.nodes: expected at most 16 nodes/);
            assert.match(problems(API(1.5)).join("\n"), /bluegreen:components\.api\.nodes: expected a whole number of nodes/);
        });

        it("claims every node's ports, and names the node whose port collides", () => {
            const p = problems({ components: { api: { hostPort: 18200, route: "/", nodes: 3 }, web: { hostPort: 18206, route: "/web" } } });
            assert.deepEqual(p, [
                "bluegreen:components.web.hostPort (blue): port 18206 is already used by bluegreen:components.api.hostPort + 6 (blue node 3); every loopback port must be distinct",
                "bluegreen:components.web.hostPort + 1 (green): port 18207 is already used by bluegreen:components.api.hostPort + 7 (green node 3); every loopback port must be distinct",
            ]);
            assert.match(
                problems({ components: { api: { hostPort: 18200, route: "/", nodes: 2 }, web: { hostPort: 18199, route: "/web" } } }).join("\n"),
                /web\.hostPort \+ 1 \(green\): port 18200 is already used by bluegreen:components\.api\.hostPort \(blue, kept for a pool of one\)/,
            );
        });

        it("refuses a pool whose last port is beyond 65535", () => {
            assert.match(problems(API(3, 65532)).join("\n"), /components\.api\.hostPort: expected at most 65528 \(3 nodes use hostPort to hostPort \+ 7\)/);
        });

        it("checks the longest node name against Incus's 63 characters", () => {
            const long = "a".repeat(52);
            assert.deepEqual(problems({ components: { [long]: { hostPort: 18200, route: "/" } } }), []);
            assert.match(
                problems({ components: { [long]: { hostPort: 18200, route: "/", nodes: 10 } } }).join("\n"),
                /container name dev-a+-green-10 is longer/,
            );
        });
    });

    describe("plan", () => {
        it("gives each node its container, port and node number; a pool of one has no node input", () => {
            const one = colorContainerInputs(stackConfig(API()), "blue", "abc1234", GUARD);
            assert.deepEqual(
                one.map((i) => [i.name, i.hostPort, "node" in i]),
                [["dev-api-blue", 18200, false]],
            );
            const three = colorContainerInputs(stackConfig(API(3)), "green", "abc1234", GUARD);
            assert.deepEqual(
                three.map((i) => [i.name, i.hostPort, i.node]),
                [
                    ["dev-api-green-1", 18203, 1],
                    ["dev-api-green-2", 18205, 2],
                    ["dev-api-green-3", 18207, 3],
                ],
            );
        });

        it("the switch carries nodes only for a pool, and targets every node of the active color", () => {
            const [one] = switchInputs(stackConfig(API())).components;
            assert.ok(!("nodes" in one));
            const [pool] = switchInputs(stackConfig(API(2))).components;
            assert.equal(pool.nodes, 2);
            assert.deepEqual(nodeTargets(pool, "blue"), [
                { node: 1, container: "dev-api-blue-1", server: "blue-1", port: 18202 },
                { node: 2, container: "dev-api-blue-2", server: "blue-2", port: 18204 },
            ]);
            assert.deepEqual(nodeTargets(one, "green"), [{ node: undefined, container: "dev-api-blue", server: "green", port: 18201 }]);
        });

        it("an HAProxy instance gets a proxy port for every node of both colors", () => {
            const i = haproxyInputs(stackConfig({ ...API(2), haproxy: { placement: "incus", frontendPort: 18100, exporterPort: 18101 } }));
            assert.deepEqual(i.backendPorts, [18202, 18203, 18204, 18205]);
        });
    });

    describe("HAProxy", () => {
        const model = modelOf(switchInputs(stackConfig(API(2))));

        it("balances a color across its nodes: one server per node, the color's weight shared", () => {
            const text = renderConfig(model);
            assert.match(
                text,
                /server blue-1 127\.0\.0\.1:18202 check weight 50\n {4}server blue-2 127\.0\.0\.1:18204 check weight 50\n {4}server green-1 127\.0\.0\.1:18203 check weight 0\n {4}server green-2 127\.0\.0\.1:18205 check weight 0\n/,
            );
            assert.match(text, /http-response set-header x-bluegreen-color blue if \{ srv_name blue-2 \}/);
            assert.deepEqual(
                desiredWeights(poolsOf(model), { blue: 100 }).map((w) => `${w.server}=${w.weight}`),
                ["blue-1=50", "blue-2=50", "green-1=0", "green-2=0"],
            );
        });

        it("reads a pool's live weights back as the color that serves", () => {
            const states = ["blue-1", "blue-2", "green-1", "green-2"].map((server) => ({
                backend: "be_api",
                server,
                opState: 2,
                adminState: 0,
                weight: server.startsWith("blue") ? 50 : 0,
            }));
            assert.equal(describeServed(states, ["be_api"]), "blue");
        });

        it("names each server's release in the map, so nodes of a pool may differ", () => {
            assert.deepEqual(serverNames(model), ["blue-1", "blue-2", "green-1", "green-2"]);
            const text = renderReleasesMap({ "blue-1": "abc1234", "blue-2": "def5678" }, serverNames(model));
            assert.equal(text, "blue-1 abc1234\nblue-2 def5678\ngreen-1 -\ngreen-2 -\n");
            assert.deepEqual(parseReleasesMap(text), { "blue-1": "abc1234", "blue-2": "def5678" });
            assert.equal(renderReleasesMap({ green: "def5678" }), "blue -\ngreen def5678\n", "a stack without pools writes what it did");
        });

        it("a node leaving the pool is drained if it still takes traffic; nodes at weight 0 and other backends are left alone", () => {
            const live = [
                { backend: "be_api", server: "blue-1", opState: 2, adminState: 0, weight: 50 },
                { backend: "be_api", server: "blue-2", opState: 2, adminState: 0, weight: 50 },
                { backend: "be_api", server: "blue-3", opState: 2, adminState: 0, weight: 33 },
                { backend: "be_api", server: "green-3", opState: 2, adminState: 0, weight: 0 },
                { backend: "be_other", server: "blue-9", opState: 2, adminState: 0, weight: 10 },
            ];
            assert.deepEqual(leavingServers(live, model), [{ backend: "be_api", server: "blue-3" }]);
        });

        it("drains through the runtime API and counts sessions from show stat", () => {
            assert.equal(drainCommand("be_api", "blue-3"), "set server be_api/blue-3 state drain");
            const csv = [
                "# pxname,svname,qcur,qmax,scur,smax,slim",
                "fe_main,FRONTEND,,,7,9,",
                "be_api,blue-1,0,0,4,5,",
                "be_api,blue-3,0,0,2,2,",
                "be_api,BACKEND,0,0,6,7,",
                "",
            ].join("\n");
            assert.deepEqual(
                [...parseStatSessions(csv)],
                [
                    ["be_api/blue-1", 4],
                    ["be_api/blue-3", 2],
                ],
            );
            assert.equal(parseStatSessions("garbage").size, 0);
        });
    });
});
