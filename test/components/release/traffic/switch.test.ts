import assert from "node:assert/strict";
import { HaproxyModel, fileActive, poolsOf, renderConfig } from "../../../../components/model/traffic/haproxyConfig";
import { desiredWeights, weightCommands as commandsFor } from "../../../../components/model/traffic/traffic";
import { haproxyLayout, routePrefix } from "../../../../components/model/naming";
import { ServerState } from "../../../../components/io/runtimeApi";
import { SwitchInputs, backendPortsOf, memberDrainPlan, modelOf, notReady, runsModel, unavailable } from "../../../../components/release/traffic/switch";

/** The runtime commands that give the model its weights. */
function weightCommands(m: HaproxyModel): string[] {
    return commandsFor(desiredWeights(poolsOf(m), m.split));
}

function inputs(over: Partial<SwitchInputs> = {}): SwitchInputs {
    return {
        stack: "dev",
        host: { placement: "host" },
        layout: haproxyLayout("host", "bluegreen", "dev"),
        method: "runtime",
        active: "green",
        release: "def5678",
        frontendPort: 18100,
        exporterPort: 18101,
        extra: { global: ["maxconn 100"], defaults: [], frontend: [] },
        components: [
            { name: "backend", route: "/api", healthPath: "/health", ports: { blue: 18110, green: 18111 }, container: "dev-backend-green" },
            { name: "web", route: "/", healthPath: "/ready", ports: { blue: 18130, green: 18131 }, container: "dev-web-green" },
        ],
        timeoutMs: 2000,
        settleMs: 15000,
        ...over,
    };
}

const st = (backend: string, server: string, weight = 0): ServerState => ({ backend, server, opState: 2, adminState: 0, weight });

describe("switch (pure parts)", () => {
    it("modelOf maps the inputs onto the HAProxy model, with both colors' servers", () => {
        assert.deepEqual(modelOf(inputs()), {
            stack: "dev",
            split: { green: 100 },
            release: "def5678",
            frontendPort: 18100,
            exporterPort: 18101,
            adminSocket: "/var/lib/bluegreen/dev/admin.sock",
            pidFile: "/var/lib/bluegreen/dev/haproxy.pid",
            serverStateFile: "/var/lib/bluegreen/dev/server-state",
            releasesMap: "/var/lib/bluegreen/dev/releases.map",
            probeMap: "/var/lib/bluegreen/dev/maintenance.map",
            extra: { global: ["maxconn 100"], defaults: [], frontend: [] },
            backends: [
                {
                    component: "backend",
                    route: "/api",
                    healthPath: "/health",
                    healthStatus: "200-299",
                    servers: [
                        { color: "blue", port: 18110 },
                        { color: "green", port: 18111 },
                    ],
                },
                {
                    component: "web",
                    route: "/",
                    healthPath: "/ready",
                    healthStatus: "200-299",
                    servers: [
                        { color: "blue", port: 18130 },
                        { color: "green", port: 18131 },
                    ],
                },
            ],
        });
    });

    describe("weightCommands", () => {
        it("raises the new color's weights before lowering the old one's", () => {
            assert.deepEqual(weightCommands(modelOf(inputs())), [
                "set server be_backend/green weight 100",
                "set server be_web/green weight 100",
                "set server be_backend/blue weight 0",
                "set server be_web/blue weight 0",
            ]);
            assert.deepEqual(weightCommands(modelOf(inputs({ active: "blue" }))), [
                "set server be_backend/blue weight 100",
                "set server be_web/blue weight 100",
                "set server be_backend/green weight 0",
                "set server be_web/green weight 0",
            ]);
        });

        it("sets every weight to 0 with no active color", () => {
            assert.deepEqual(weightCommands({ ...modelOf(inputs()), split: {} }), [
                "set server be_backend/blue weight 0",
                "set server be_backend/green weight 0",
                "set server be_web/blue weight 0",
                "set server be_web/green weight 0",
            ]);
        });
    });

    it("routePrefix strips trailing slashes but keeps the root", () => {
        assert.equal(routePrefix("/"), "/");
        assert.equal(routePrefix("/api"), "/api");
        assert.equal(routePrefix("/api/"), "/api");
        assert.equal(routePrefix("/api/v2//"), "/api/v2");
    });

    describe("fileActive", () => {
        it("reads the color from a rendered config's header", () => {
            assert.equal(fileActive(renderConfig(modelOf(inputs()))), "green");
            assert.equal(fileActive(renderConfig(modelOf(inputs({ active: "blue" })))), "blue");
        });

        it("gives none for a config that names none, or has no header", () => {
            assert.equal(fileActive(renderConfig({ ...modelOf(inputs()), split: {}, release: undefined })), "none");
            assert.equal(fileActive("global\n    master-worker\n"), "none");
            assert.equal(fileActive(""), "none");
        });
    });

    describe("runsModel", () => {
        let m: HaproxyModel;
        beforeEach(() => {
            m = modelOf(inputs());
        });
        const exact = [st("be_backend", "blue"), st("be_backend", "green", 100), st("be_web", "blue"), st("be_web", "green", 100)];

        it("is true when HAProxy runs exactly the model's servers, whatever their weights", () => {
            assert.equal(runsModel(exact, m), true);
            assert.equal(
                runsModel(
                    [...exact].reverse().map((s) => ({ ...s, weight: 0 })),
                    m,
                ),
                true,
            );
        });

        it("ignores be_no_route and backends not named be_*", () => {
            assert.equal(runsModel([...exact, st("be_no_route", "x"), st("fe_main", "x"), st("stats", "x")], m), true);
        });

        it("is false when a server is missing or extra", () => {
            assert.equal(runsModel(exact.slice(1), m), false);
            assert.equal(runsModel([...exact, st("be_stream", "blue")], m), false);
            assert.equal(runsModel([st("be_backend", "blue"), st("be_backend", "green"), st("be_web", "blue"), st("be_web", "purple")], m), false);
            assert.equal(runsModel([], m), false);
        });

        it("is false when HAProxy still runs one color only", () => {
            const blueOnly = [st("be_backend", "blue", 100), st("be_web", "blue", 100)];
            assert.equal(runsModel(blueOnly, m), false);
        });
    });

    describe("servers a switch may move traffic onto", () => {
        const wanted = [
            { backend: "be_web", server: "green" },
            { backend: "be_api", server: "green-2" },
        ];
        const ready = [st("be_web", "green"), st("be_api", "green-2")];

        it("notReady names each target server that is drained or in maintenance, and which", () => {
            assert.deepEqual(notReady(ready, wanted), []);
            assert.deepEqual(
                notReady(
                    [
                        { ...ready[0], adminState: 0x08 },
                        { ...ready[1], adminState: 0x01, opState: 0 },
                    ],
                    wanted,
                ),
                [
                    { backend: "be_web", server: "green", admin: "drain" },
                    { backend: "be_api", server: "green-2", admin: "maint" },
                ],
            );
            assert.deepEqual(
                notReady(
                    [
                        { ...ready[0], adminState: 0x20 },
                        { ...ready[1], adminState: 0x10 },
                    ],
                    wanted,
                ),
                [
                    { backend: "be_web", server: "green", admin: "maint" },
                    { backend: "be_api", server: "green-2", admin: "drain" },
                ],
            );
        });

        it("memberDrainPlan (bluegreen:incus.drain): drains the listed servers still taking requests; makes ready only those it drained before and no longer lists", () => {
            const live = [
                st("be_web", "blue-1"),
                { ...st("be_web", "blue-2"), adminState: 0x08 },
                st("be_web", "blue-3"),
                { ...st("be_web", "green-2"), adminState: 0x08 },
            ];
            const ref = (server: string) => ({ backend: "be_web", server });
            assert.deepEqual(memberDrainPlan(live, ["be_web/blue-2", "be_web/blue-3"], ["be_web/blue-2"]), { drain: [ref("blue-3")], ready: [] });
            // green-2 was drained by something else (a paused canary): never made ready here.
            assert.deepEqual(memberDrainPlan(live, [], ["be_web/blue-2"]), { drain: [], ready: [ref("blue-2")] });
            // One in maintenance as well stays as the operator left it.
            assert.deepEqual(memberDrainPlan([{ ...live[1], adminState: 0x09 }], [], ["be_web/blue-2"]), { drain: [], ready: [] });
            assert.deepEqual(memberDrainPlan(live, [], []), { drain: [], ready: [] });
        });

        it("unavailable: a server counts as UP only when running and ready; a drained or maintained one does not", () => {
            assert.deepEqual(unavailable(ready, wanted), []);
            assert.deepEqual(unavailable([{ ...ready[0], adminState: 0x08 }, ready[1]], wanted), [wanted[0]]);
            assert.deepEqual(unavailable([ready[0], { ...ready[1], opState: 0 }], wanted), [wanted[1]]);
            assert.deepEqual(unavailable([ready[0]], wanted), [wanted[1]], "absent");
        });
    });

    it("backendPortsOf: every port the config routes to, both colors and every node, and routed services", () => {
        const m = modelOf(
            inputs({
                components: [{ name: "web", route: "/", healthPath: "/health", ports: { blue: 18130, green: 18131 }, container: "dev-web-green", nodes: 2 }],
                services: [{ service: "db", route: "/db", healthPath: "/health", healthStatus: "200", port: 18400 }],
            }),
        );
        assert.deepEqual(
            backendPortsOf(m),
            [18132, 18134, 18133, 18135, 18400].sort((a, b) => a - b),
        );
    });
});
