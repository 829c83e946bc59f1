import assert from "node:assert/strict";
import { SERVER_HEADER, nodeProbeHeaders, nodeProbeProblem, nodeRouteLines, routesNode } from "../../../../components/model/edge/nodeProbe";
import { renderConfig } from "../../../../components/model/traffic/haproxyConfig";
import { allOn } from "../../../../components/model/traffic/traffic";

const MAP = "/var/lib/bluegreen/dev/maintenance.map";
const TOKEN = "0123456789abcdef0123456789abcdef";

function config(probeMap?: string): string {
    return renderConfig({
        stack: "dev",
        split: allOn("blue"),
        frontendPort: 18100,
        exporterPort: 18101,
        adminSocket: "/a.sock",
        pidFile: "/p",
        serverStateFile: "/s",
        releasesMap: "/r.map",
        backends: [
            {
                component: "web",
                route: "/",
                healthPath: "/health",
                healthStatus: "200-299",
                servers: [
                    { color: "blue", node: 1, port: 18130 },
                    { color: "blue", node: 2, port: 18131 },
                ],
            },
        ],
        extra: { global: [], defaults: [], frontend: [] },
        ...(probeMap ? { probeMap } : {}),
    });
}

describe("model/edge/nodeProbe", () => {
    it("routes a request with the token and a server's name to that server", () => {
        assert.deepEqual(nodeRouteLines(MAP, ["blue-3"]), [
            `use-server blue-3 if { req.hdr(x-bluegreen-probe),map(${MAP},-) -m str probe } { req.hdr(x-bluegreen-node) -m str blue-3 }`,
        ]);
        assert.deepEqual(nodeProbeHeaders(TOKEN, "blue-3"), { "x-bluegreen-probe": TOKEN, "x-bluegreen-node": "blue-3" });
    });

    it("tells a config that routes token requests to a server in a backend from one rendered before (or another backend)", () => {
        assert.equal(routesNode(config(MAP), "be_web", "blue-2", MAP), true);
        assert.equal(routesNode(config(MAP), "be_api", "blue-2", MAP), false);
        assert.equal(routesNode(config(MAP), "be_web", "blue-3", MAP), false);
        assert.equal(routesNode(config(MAP), "be_web", "blue-2", "/other.map"), false);
        assert.equal(routesNode(config(), "be_web", "blue-2", MAP), false);
        assert.equal(routesNode("", "be_web", "blue-2", MAP), false);
    });

    it("passes only an answer HAProxy names as the node's, on the release", () => {
        const ok = { status: 200, headers: { [SERVER_HEADER]: "blue-2", "x-bluegreen-release": "b2" } };
        assert.equal(nodeProbeProblem(ok, "blue-2", "b2", "x-bluegreen-release"), undefined);
        // Any HTTP answer of the node's app proves the route, as the switch's check does.
        assert.equal(nodeProbeProblem({ ...ok, status: 404 }, "blue-2", "b2", "x-bluegreen-release"), undefined);
        assert.equal(
            nodeProbeProblem({ ...ok, headers: { [SERVER_HEADER]: "blue-1", "x-bluegreen-release": "b2" } }, "blue-2", "b2", "x-bluegreen-release"),
            "HTTP 200 answered by blue-1, not blue-2",
        );
        assert.equal(nodeProbeProblem({ status: 503, headers: {} }, "blue-2", "b2", "x-bluegreen-release"), "HTTP 503 answered by no server, not blue-2");
        assert.equal(nodeProbeProblem(ok, "blue-2", "b3", "x-bluegreen-release"), "HTTP 200 from blue-2 on b2, not b3");
        assert.equal(nodeProbeProblem({ status: 0, headers: {}, detail: "ECONNREFUSED" }, "blue-2", "b2", "x-bluegreen-release"), "no answer (ECONNREFUSED)");
    });
});
