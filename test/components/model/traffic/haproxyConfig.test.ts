import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import {
    ACTIVE_WEIGHT,
    BackendModel,
    HaproxyModel,
    configShape,
    configWeights,
    parseReleasesMap,
    releasesMapChanges,
    poolsOf,
    renderConfig,
    renderReleasesMap,
    serverStateFor,
} from "../../../../components/model/traffic/haproxyConfig";
import { allOn, desiredWeights as weightsFor } from "../../../../components/model/traffic/traffic";
import type { Color } from "../../../../components/model/naming";
import { makeTmp, removeTmp } from "../../../helpers/tmp";

const HAPROXY = "/usr/sbin/haproxy";

function backend(component: string, route: string, hostPort: number, colors: readonly Color[] = ["blue", "green"]): BackendModel {
    return {
        component,
        route,
        healthPath: "/health",
        healthStatus: "200-299",
        servers: colors.map((color) => ({ color, port: color === "blue" ? hostPort : hostPort + 1 })),
    };
}

function model(over: Partial<HaproxyModel> = {}): HaproxyModel {
    return {
        stack: "dev",
        split: allOn("blue"),
        release: "abc1234",
        frontendPort: 18100,
        exporterPort: 18101,
        adminSocket: "/var/lib/bluegreen/dev/admin.sock",
        pidFile: "/var/lib/bluegreen/dev/haproxy.pid",
        serverStateFile: "/var/lib/bluegreen/dev/server-state",
        releasesMap: "/var/lib/bluegreen/dev/releases.map",
        backends: [backend("web", "/", 18130), backend("backend", "/api", 18110), backend("stream", "/stream", 18120)],
        extra: { global: [], defaults: [], frontend: [] },
        ...over,
    };
}

const lines = (text: string) => text.split("\n");

/** `haproxy -c -q -f` on the rendered text; sockets and pidfile point into `dir`. */
function haproxyCheck(dir: string, m: HaproxyModel, quiet = true): { status: number | null; stderr: string; stdout: string } {
    const file = path.join(dir, "haproxy.cfg");
    // The config opens the releases map: it must exist, as the switch writes it first.
    fs.writeFileSync(path.join(dir, "releases.map"), renderReleasesMap({ blue: "abc1234" }));
    fs.writeFileSync(
        file,
        renderConfig({
            ...m,
            adminSocket: path.join(dir, "admin.sock"),
            pidFile: path.join(dir, "haproxy.pid"),
            serverStateFile: path.join(dir, "server-state"),
            releasesMap: path.join(dir, "releases.map"),
        }),
    );
    const r = spawnSync(HAPROXY, ["-c", ...(quiet ? ["-q"] : []), "-f", file], { encoding: "utf8", timeout: 10_000 });
    if (r.error) throw r.error;
    return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

/** The weights the model's split gives its servers. */
function desiredWeights(m: HaproxyModel) {
    return weightsFor(poolsOf(m), m.split);
}

describe("haproxyConfig", () => {
    describe("renderConfig", () => {
        it("renders the whole config for three components, blue active", () => {
            assert.equal(
                renderConfig(model()),
                [
                    "# Managed by bluegreen for stack dev; changes by hand are overwritten.",
                    "# active: blue abc1234",
                    "global",
                    "    master-worker",
                    "    stats socket /var/lib/bluegreen/dev/admin.sock mode 600 level admin expose-fd listeners",
                    "    pidfile /var/lib/bluegreen/dev/haproxy.pid",
                    "    hard-stop-after 30s",
                    "    server-state-file /var/lib/bluegreen/dev/server-state",
                    "",
                    "defaults",
                    "    mode http",
                    "    timeout connect 2s",
                    "    timeout client 30s",
                    "    timeout server 30s",
                    "    timeout http-keep-alive 10s",
                    "    option idle-close-on-response",
                    "    option redispatch",
                    "    retries 2",
                    "    load-server-state-from-file global",
                    "",
                    "frontend fe_main",
                    "    bind 127.0.0.1:18100",
                    "    use_backend be_stream if { path /stream } || { path_beg /stream/ }",
                    "    use_backend be_backend if { path /api } || { path_beg /api/ }",
                    "    default_backend be_web",
                    "",
                    "frontend fe_metrics",
                    "    bind 127.0.0.1:18101",
                    "    http-request use-service prometheus-exporter if { path /metrics }",
                    "    http-request return status 404",
                    "",
                    "backend be_backend",
                    "    option httpchk GET /health",
                    "    http-check expect status 200-299",
                    "    default-server inter 1s fastinter 250ms downinter 250ms fall 2 rise 2",
                    "    http-response set-header x-bluegreen-color blue if { srv_name blue }",
                    "    http-response set-header x-bluegreen-color green if { srv_name green }",
                    "    http-response set-header x-bluegreen-release %[srv_name,map(/var/lib/bluegreen/dev/releases.map,unknown)]",
                    "    server blue 127.0.0.1:18110 check weight 100",
                    "    server green 127.0.0.1:18111 check weight 0",
                    "",
                    "backend be_stream",
                    "    option httpchk GET /health",
                    "    http-check expect status 200-299",
                    "    default-server inter 1s fastinter 250ms downinter 250ms fall 2 rise 2",
                    "    http-response set-header x-bluegreen-color blue if { srv_name blue }",
                    "    http-response set-header x-bluegreen-color green if { srv_name green }",
                    "    http-response set-header x-bluegreen-release %[srv_name,map(/var/lib/bluegreen/dev/releases.map,unknown)]",
                    "    server blue 127.0.0.1:18120 check weight 100",
                    "    server green 127.0.0.1:18121 check weight 0",
                    "",
                    "backend be_web",
                    "    option httpchk GET /health",
                    "    http-check expect status 200-299",
                    "    default-server inter 1s fastinter 250ms downinter 250ms fall 2 rise 2",
                    "    http-response set-header x-bluegreen-color blue if { srv_name blue }",
                    "    http-response set-header x-bluegreen-color green if { srv_name green }",
                    "    http-response set-header x-bluegreen-release %[srv_name,map(/var/lib/bluegreen/dev/releases.map,unknown)]",
                    "    server blue 127.0.0.1:18130 check weight 100",
                    "    server green 127.0.0.1:18131 check weight 0",
                    "",
                ].join("\n"),
            );
        });

        it("with sticky sessions, a cookie per backend naming the server, ignored for a server at weight 0", () => {
            const text = renderConfig(
                model({
                    split: { blue: 80, green: 20 },
                    sticky: true,
                    backends: [
                        {
                            ...backend("web", "/", 18130),
                            servers: [
                                { color: "blue", node: 1, port: 18130 },
                                { color: "green", node: 1, port: 18131 },
                            ],
                        },
                    ],
                }),
            );
            const be = lines(text).slice(lines(text).indexOf("backend be_web"));
            assert.deepEqual(be, [
                "backend be_web",
                "    option httpchk GET /health",
                "    http-check expect status 200-299",
                "    default-server inter 1s fastinter 250ms downinter 250ms fall 2 rise 2",
                "    cookie bluegreen_web insert indirect nocache httponly",
                "    ignore-persist if { req.cook(bluegreen_web) -m str blue-1 } { srv_weight(be_web/blue-1) eq 0 }",
                "    ignore-persist if { req.cook(bluegreen_web) -m str green-1 } { srv_weight(be_web/green-1) eq 0 }",
                "    http-response set-header x-bluegreen-color blue if { srv_name blue-1 }",
                "    http-response set-header x-bluegreen-color green if { srv_name green-1 }",
                "    http-response set-header x-bluegreen-release %[srv_name,map(/var/lib/bluegreen/dev/releases.map,unknown)]",
                "    server blue-1 127.0.0.1:18130 cookie blue-1 check weight 80",
                "    server green-1 127.0.0.1:18131 cookie green-1 check weight 20",
                "",
            ]);
            // The steps of a shift change weights only: the same shape, set over the runtime API.
            assert.equal(
                configShape(text),
                configShape(
                    renderConfig(
                        model({
                            split: allOn("green"),
                            sticky: true,
                            backends: [
                                {
                                    ...backend("web", "/", 18130),
                                    servers: [
                                        { color: "blue", node: 1, port: 18130 },
                                        { color: "green", node: 1, port: 18131 },
                                    ],
                                },
                            ],
                        }),
                    ),
                ),
            );
            assert.deepEqual(
                configWeights(text).map((w) => w.weight),
                [80, 20],
            );
            assert.doesNotMatch(renderConfig(model()), /cookie|ignore-persist/);
        });

        it("with a probe map, names the server that answered and routes a token request naming a server to it", () => {
            const text = renderConfig(
                model({
                    probeMap: "/var/lib/bluegreen/dev/maintenance.map",
                    backends: [
                        {
                            ...backend("web", "/", 18130),
                            servers: [
                                { color: "blue", node: 1, port: 18130 },
                                { color: "blue", node: 2, port: 18132 },
                            ],
                        },
                    ],
                }),
            );
            const be = lines(text).slice(lines(text).indexOf("backend be_web"));
            assert.deepEqual(be, [
                "backend be_web",
                "    option httpchk GET /health",
                "    http-check expect status 200-299",
                "    default-server inter 1s fastinter 250ms downinter 250ms fall 2 rise 2",
                "    http-response set-header x-bluegreen-color blue if { srv_name blue-1 }",
                "    http-response set-header x-bluegreen-color blue if { srv_name blue-2 }",
                "    http-response set-header x-bluegreen-release %[srv_name,map(/var/lib/bluegreen/dev/releases.map,unknown)]",
                "    http-response set-header x-bluegreen-server %[srv_name]",
                "    use-server blue-1 if { req.hdr(x-bluegreen-probe),map(/var/lib/bluegreen/dev/maintenance.map,-) -m str probe } { req.hdr(x-bluegreen-node) -m str blue-1 }",
                "    use-server blue-2 if { req.hdr(x-bluegreen-probe),map(/var/lib/bluegreen/dev/maintenance.map,-) -m str probe } { req.hdr(x-bluegreen-node) -m str blue-2 }",
                "    server blue-1 127.0.0.1:18130 check weight 50",
                "    server blue-2 127.0.0.1:18132 check weight 50",
                "",
            ]);
            assert.doesNotMatch(renderConfig(model()), /use-server|x-bluegreen-server/);
        });

        it("gives the weight to green when green is active", () => {
            const l = lines(renderConfig(model({ split: allOn("green"), release: "def5678" })));
            assert.equal(l[1], "# active: green def5678");
            assert.ok(l.includes("    server blue 127.0.0.1:18110 check weight 0"));
            assert.ok(l.includes("    server green 127.0.0.1:18111 check weight 100"));
            assert.equal(ACTIVE_WEIGHT, 100);
        });

        it("renders every server at weight 0 with no active color", () => {
            const text = renderConfig(model({ split: {}, release: undefined }));
            assert.equal(lines(text)[1], "# active: none -");
            const servers = lines(text).filter((l) => l.trim().startsWith("server "));
            assert.equal(servers.length, 6);
            assert.ok(servers.every((l) => l.endsWith(" weight 0")));
        });

        it("orders routes longest first, ties by name, and strips trailing slashes in ACLs", () => {
            const text = renderConfig(
                model({ backends: [backend("a", "/api/", 18110), backend("b", "/api/v2", 18120), backend("c", "/zzz", 18130), backend("d", "/aaa", 18140)] }),
            );
            assert.deepEqual(
                lines(text).filter((l) => l.includes("use_backend")),
                [
                    "    use_backend be_b if { path /api/v2 } || { path_beg /api/v2/ }",
                    "    use_backend be_a if { path /api } || { path_beg /api/ }",
                    "    use_backend be_d if { path /aaa } || { path_beg /aaa/ }",
                    "    use_backend be_c if { path /zzz } || { path_beg /zzz/ }",
                ],
            );
        });

        it("without a '/' route, defaults to a be_no_route backend that answers 404", () => {
            const text = renderConfig(model({ backends: [backend("backend", "/api", 18110)] }));
            assert.ok(lines(text).includes("    default_backend be_no_route"));
            assert.ok(text.endsWith('\nbackend be_no_route\n    http-request return status 404 content-type text/plain string "no route"\n'), text);
            assert.equal(renderConfig(model()).includes("be_no_route"), false);
        });

        it("renders only the servers the model has", () => {
            const text = renderConfig(model({ backends: [backend("web", "/", 18130, ["blue"])] }));
            assert.deepEqual(
                lines(text).filter((l) => l.trim().startsWith("server ")),
                ["    server blue 127.0.0.1:18130 check weight 100"],
            );
        });

        it("appends extra lines at the end of their section", () => {
            const l = lines(
                renderConfig(
                    model({
                        extra: {
                            global: ["maxconn 4096"],
                            defaults: ["timeout queue 5s", "option forwardfor"],
                            frontend: ["http-response set-header X-Frame-Options DENY"],
                        },
                    }),
                ),
            );
            const lastGlobal = l.indexOf("    server-state-file /var/lib/bluegreen/dev/server-state");
            assert.equal(l[lastGlobal + 1], "    maxconn 4096");
            const lastDefault = l.indexOf("    load-server-state-from-file global");
            assert.deepEqual(l.slice(lastDefault + 1, lastDefault + 4), ["    timeout queue 5s", "    option forwardfor", ""]);
            assert.deepEqual(l.slice(l.indexOf("    default_backend be_web") + 1, l.indexOf("    default_backend be_web") + 3), [
                "    http-response set-header X-Frame-Options DENY",
                "",
            ]);
        });

        it("routes a stateful service to its one unweighted server, longest prefix first among the components' routes", () => {
            const db = { service: "db", route: "/api/db/", healthPath: "/ready", healthStatus: "200", healthBody: "ok", port: 18150 };
            const text = renderConfig(model({ services: [db] }));
            assert.deepEqual(
                lines(text).filter((l) => l.includes("use_backend")),
                [
                    "    use_backend svc_db if { path /api/db } || { path_beg /api/db/ }",
                    "    use_backend be_stream if { path /stream } || { path_beg /stream/ }",
                    "    use_backend be_backend if { path /api } || { path_beg /api/ }",
                ],
            );
            const at = lines(text).indexOf("backend svc_db");
            assert.deepEqual(lines(text).slice(at, at + 8), [
                "backend svc_db",
                "    option httpchk GET /ready",
                "    http-check expect status 200",
                "    http-check expect string ok",
                "    default-server inter 1s fastinter 250ms downinter 250ms fall 2 rise 2",
                "    http-response set-header x-bluegreen-service db",
                "    server db 127.0.0.1:18150 check",
                "",
            ]);
            assert.equal(configShape(renderConfig(model({ services: [db], split: allOn("green") }))), configShape(text), "a flip never reloads for it");
            assert.ok(!weightsFor(poolsOf(model({ services: [db] })), allOn("blue")).some((w) => w.backend === "svc_db"), "no switch weights it");
        });

        it("is deterministic whatever the order of backends", () => {
            const m = model();
            assert.equal(renderConfig(m), renderConfig({ ...m, backends: [...m.backends].reverse() }));
        });
    });

    describe("haproxy -c accepts what renderConfig produces", () => {
        let dir: string;
        beforeEach(() => {
            dir = makeTmp();
        });
        afterEach(() => removeTmp(dir));

        it("the standard three components", () => {
            assert.deepEqual(haproxyCheck(dir, model()), { status: 0, stdout: "", stderr: "" });
        });

        it("with extra lines in global, defaults and frontend", () => {
            const r = haproxyCheck(
                dir,
                model({
                    extra: {
                        global: ["maxconn 4096", "tune.bufsize 32768"],
                        defaults: ["timeout queue 5s", "option forwardfor"],
                        frontend: ["http-response set-header X-Frame-Options DENY", "maxconn 2000"],
                    },
                }),
            );
            assert.equal(r.status, 0, r.stderr);
        });

        it("with sticky sessions", () => {
            assert.deepEqual(haproxyCheck(dir, model({ sticky: true, split: { blue: 90, green: 10 } })), { status: 0, stdout: "", stderr: "" });
        });

        it("with a probe map (the per-node route)", () => {
            fs.writeFileSync(path.join(dir, "maintenance.map"), "enabled off\n0123456789abcdef0123456789abcdef probe\n");
            assert.deepEqual(haproxyCheck(dir, model({ probeMap: path.join(dir, "maintenance.map"), sticky: true })), { status: 0, stdout: "", stderr: "" });
        });

        it("with a status list and a body match", () => {
            const r = haproxyCheck(dir, model({ backends: [{ ...backend("web", "/", 18130), healthStatus: "200-299,304", healthBody: "status:ok" }] }));
            assert.equal(r.status, 0, r.stderr);
        });

        it("without a '/' route (be_no_route)", () => {
            const r = haproxyCheck(dir, model({ backends: [backend("backend", "/api", 18110), backend("stream", "/stream", 18120)] }));
            assert.equal(r.status, 0, r.stderr);
        });

        it("with one color only, and with no active color", () => {
            const one = [backend("web", "/", 18130, ["green"]), backend("backend", "/api", 18110, ["green"])];
            const r1 = haproxyCheck(dir, model({ split: allOn("green"), backends: one }));
            assert.equal(r1.status, 0, r1.stderr);
            const r2 = haproxyCheck(dir, model({ split: {}, release: undefined }));
            assert.equal(r2.status, 0, r2.stderr);
        });

        it("with a routed stateful service, also as the default backend", () => {
            const db = { service: "db", route: "/db", healthPath: "/health", healthStatus: "200-299", port: 18150 };
            const r1 = haproxyCheck(dir, model({ services: [db] }));
            assert.equal(r1.status, 0, r1.stderr);
            const r2 = haproxyCheck(dir, model({ backends: [backend("backend", "/api", 18110)], services: [{ ...db, route: "/" }] }));
            assert.equal(r2.status, 0, r2.stderr);
        });

        it("with no backends at all (the bootstrap config)", () => {
            const r = haproxyCheck(dir, model({ split: {}, release: undefined, backends: [] }));
            assert.equal(r.status, 0, r.stderr);
        });

        it("but refuses a bad extra line", () => {
            const bad = model({ extra: { global: [], defaults: ["option no-such-option"], frontend: [] } });
            assert.notEqual(haproxyCheck(dir, bad).status, 0);
            const loud = haproxyCheck(dir, bad, false);
            assert.notEqual(loud.status, 0);
            assert.match(loud.stdout + loud.stderr, /unknown option 'no-such-option'/);
        });
    });

    describe("health expectations and the headers HAProxy adds", () => {
        it("renders the status list, and the body match after it", () => {
            const l = lines(renderConfig(model({ backends: [{ ...backend("web", "/", 18130), healthStatus: "200-299,304", healthBody: "status:ok" }] })));
            const i = l.indexOf("    http-check expect status 200-299,304");
            assert.ok(i > 0);
            assert.equal(l[i + 1], "    http-check expect string status:ok");
        });

        it("a releases map names a release per color, '-' for none, and reads back", () => {
            assert.equal(renderReleasesMap({ green: "def5678" }), "blue -\ngreen def5678\n");
            assert.deepEqual(parseReleasesMap("blue -\ngreen def5678\n"), { green: "def5678" });
            assert.deepEqual(parseReleasesMap(undefined), {});
            assert.deepEqual(parseReleasesMap("purple x\n"), {});
        });

        it("releasesMapChanges: the servers whose release differs, '-' and absent alike", () => {
            assert.deepEqual(releasesMapChanges("blue a\ngreen -\n", "blue a\ngreen b\n"), ["green"]);
            assert.deepEqual(releasesMapChanges(undefined, "blue -\ngreen -\n"), []);
            assert.deepEqual(releasesMapChanges("blue a\ngreen b\n", "blue c\ngreen -\n"), ["blue", "green"]);
        });
    });

    describe("configShape", () => {
        it("ignores the weights and the `# active:` header", () => {
            const blue = renderConfig(model());
            const green = renderConfig(model({ split: allOn("green"), release: "def5678" }));
            const none = renderConfig(model({ split: {}, release: undefined }));
            assert.notEqual(blue, green);
            assert.equal(configShape(blue), configShape(green));
            assert.equal(configShape(blue), configShape(none));
        });

        it("blanks each server weight to W and drops the header line", () => {
            const shape = lines(configShape(renderConfig(model())));
            assert.ok(shape.includes("    server blue 127.0.0.1:18110 check weight W"));
            assert.ok(shape.includes("    server green 127.0.0.1:18111 check weight W"));
            assert.equal(
                shape.some((l) => l.startsWith("# active:")),
                false,
            );
            assert.equal(shape[0], "# Managed by bluegreen for stack dev; changes by hand are overwritten.");
        });

        it("sees every other change: ports, servers, routes, extra lines, health paths", () => {
            const base = configShape(renderConfig(model()));
            const variants: HaproxyModel[] = [
                model({ frontendPort: 18200 }),
                model({ backends: [backend("web", "/", 18130, ["blue"]), backend("backend", "/api", 18110), backend("stream", "/stream", 18120)] }),
                model({ backends: [backend("web", "/", 18130), backend("backend", "/api2", 18110), backend("stream", "/stream", 18120)] }),
                model({ backends: [backend("web", "/", 18140), backend("backend", "/api", 18110), backend("stream", "/stream", 18120)] }),
                model({
                    backends: [{ ...backend("web", "/", 18130), healthPath: "/ready" }, backend("backend", "/api", 18110), backend("stream", "/stream", 18120)],
                }),
                model({ extra: { global: [], defaults: [], frontend: ["maxconn 10"] } }),
                model({ stack: "staging" }),
            ];
            for (const v of variants) assert.notEqual(configShape(renderConfig(v)), base);
        });
    });

    describe("desiredWeights", () => {
        it("lists every (backend, server) with the active color at 100, in model order", () => {
            assert.deepEqual(
                desiredWeights(model({ split: allOn("green"), backends: [backend("web", "/", 18130), backend("backend", "/api", 18110, ["blue"])] })),
                [
                    { backend: "be_web", server: "blue", weight: 0 },
                    { backend: "be_web", server: "green", weight: 100 },
                    { backend: "be_backend", server: "blue", weight: 0 },
                ],
            );
        });

        it("gives 0 everywhere with no active color", () => {
            assert.deepEqual(
                desiredWeights(model({ split: {}, backends: [backend("web", "/", 18130)] })).map((w) => w.weight),
                [0, 0],
            );
        });
    });
    it("configWeights reads each server's weight as HAProxy loads the config (no weight is 1)", () => {
        const text = renderConfig(
            model({ split: { blue: 90, green: 10 }, services: [{ service: "db", route: "/db", healthPath: "/h", healthStatus: "200", port: 18150 }] }),
        );
        assert.deepEqual(
            configWeights(text).filter((w) => w.backend === "be_web" || w.backend === "svc_db"),
            [
                { backend: "be_web", server: "blue", weight: 90 },
                { backend: "be_web", server: "green", weight: 10 },
                { backend: "svc_db", server: "db", weight: 1 },
            ],
        );
        assert.deepEqual(configWeights("frontend f\n    server x 1.2.3.4:1 weight 5\n"), [], "only backends");
    });

    describe("serverStateFor", () => {
        const HEAD =
            "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n";
        const line = (be: string, srv: string, port: number, admin = 0) =>
            `3 ${be} 1 ${srv} 127.0.0.1 2 ${admin} 100 100 5 6 3 4 6 0 0 0 - ${port} - 0 0 - - 0`;

        it("keeps the saved state of every server the config has at the same address and port", () => {
            const state = HEAD + [line("be_web", "blue", 18130), line("be_web", "green", 18131, 1), line("be_api", "blue", 18110)].join("\n") + "\n";
            const cfg = renderConfig(model({ backends: [backend("web", "/", 18130), backend("api", "/api", 18110)] }));
            assert.equal(serverStateFor(state, cfg), state);
        });

        it("drops a server whose address or port the config changed, so HAProxy takes the config's (it would carry the old one over)", () => {
            const state = HEAD + [line("be_web", "blue", 18130), line("be_web", "green", 18131, 1), line("be_api", "blue", 18110)].join("\n") + "\n";
            const cfg = renderConfig(model({ backends: [backend("web", "/", 18170), backend("api", "/api", 18110)] }));
            assert.equal(serverStateFor(state, cfg), HEAD + line("be_api", "blue", 18110) + "\n");
        });

        it("drops a server the config no longer has, and keeps a routed service's", () => {
            const state = HEAD + [line("be_old", "blue", 18150), line("svc_db", "db", 18400)].join("\n") + "\n";
            const cfg = renderConfig(model({ services: [{ service: "db", route: "/db", healthPath: "/health", healthStatus: "200", port: 18400 }] }));
            assert.equal(serverStateFor(state, cfg), HEAD + line("svc_db", "db", 18400) + "\n");
        });
    });
});
