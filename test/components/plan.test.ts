import assert from "node:assert/strict";
import {
    canaryInputs,
    colorContainerInputs,
    haproxyHostOf,
    haproxyInputs,
    lockInputs,
    prometheusInputs,
    servingGuard,
    statefulInputs,
    switchInputs,
} from "../../components/plan";
import { statefulDisks, statefulInstanceConfig } from "../../components/release/stateful/stateful";
import { ServingGuard } from "../../components/release/cleanup";
import { stackConfig } from "../helpers/stackConfig";

const BOTH = { colors: { blue: { release: "abc1234" }, green: { release: "def5678" } } };
const INCUS_HAPROXY = { haproxy: { placement: "incus", frontendPort: 18100, exporterPort: 18101 } };

/** The dev stack's HAProxy files on this host. */
const DEV_LAYOUT = {
    configPath: "/var/lib/bluegreen/dev/haproxy.cfg",
    adminSocket: "/var/lib/bluegreen/dev/admin.sock",
    masterSocket: "/var/lib/bluegreen/dev/master.sock",
    hostAdminSocket: "/var/lib/bluegreen/dev/admin.sock",
    hostMasterSocket: "/var/lib/bluegreen/dev/master.sock",
    pidFile: "/var/lib/bluegreen/dev/haproxy.pid",
    logFile: "/var/lib/bluegreen/dev/haproxy.log",
    stateDir: "/var/lib/bluegreen/dev",
};
describe("plan", () => {
    describe("haproxyHostOf", () => {
        it("is this host for host placement", () => {
            assert.deepEqual(haproxyHostOf(stackConfig()), { placement: "host" });
        });

        it("is the <prefix>haproxy instance for incus placement, on the remote only when set", () => {
            assert.deepEqual(haproxyHostOf(stackConfig(INCUS_HAPROXY, "staging")), { placement: "incus", instance: "staging-haproxy" });
            assert.deepEqual(haproxyHostOf(stackConfig({ ...INCUS_HAPROXY, incus: { remote: "prod" } }, "prod")), {
                placement: "incus",
                instance: "prod-haproxy",
                remote: "prod",
            });
        });
    });

    describe("prometheusInputs", () => {
        it("host placement: the server on this host, no instance in its inputs or the canary's", () => {
            const c = stackConfig({ ...INCUS_HAPROXY, canary: {} }, "staging");
            assert.equal(prometheusInputs(c)?.dir, "/var/lib/bluegreen/staging/prometheus");
            assert.equal("instance" in prometheusInputs(c)!, false);
            assert.equal("instance" in canaryInputs(c)!.prometheus, false);
        });

        it("incus placement: in the HAProxy instance, on the remote when set, for the scraping and the canary", () => {
            const c = stackConfig({ ...INCUS_HAPROXY, canary: {}, prometheus: { placement: "incus" } }, "staging");
            assert.equal(prometheusInputs(c)?.dir, "/opt/bluegreen/prometheus");
            assert.deepEqual(prometheusInputs(c)?.instance, { name: "staging-haproxy" });
            assert.deepEqual(canaryInputs(c)?.prometheus, {
                dir: "/opt/bluegreen/prometheus",
                port: 19090,
                scrapeIntervalSeconds: 15,
                instance: { name: "staging-haproxy" },
            });
            const r = stackConfig({ ...INCUS_HAPROXY, canary: {}, incus: { remote: "prod" } }, "prod");
            assert.deepEqual(prometheusInputs(r)?.instance, { name: "prod-haproxy", remote: "prod" });
        });
    });

    describe("servingGuard", () => {
        it("points at the per-stack dir on this host", () => {
            assert.deepEqual(servingGuard(stackConfig()), {
                host: { placement: "host" },
                stateDir: "/var/lib/bluegreen/dev",
                adminSocket: "/var/lib/bluegreen/dev/admin.sock",
            });
            assert.deepEqual(servingGuard(stackConfig({ haproxy: { frontendPort: 18100, exporterPort: 18101, dir: "/srv/hx" } })), {
                host: { placement: "host" },
                stateDir: "/srv/hx",
                adminSocket: "/srv/hx/admin.sock",
            });
        });

        it("points into the instance for incus placement, and at the admin socket's proxy on this host", () => {
            assert.deepEqual(servingGuard(stackConfig({ ...INCUS_HAPROXY, app: "veza" })), {
                host: { placement: "incus", instance: "dev-haproxy" },
                stateDir: "/var/lib/veza",
                adminSocket: "/var/lib/veza/dev/admin.sock",
            });
        });
    });

    describe("haproxyInputs", () => {
        it("has no backend ports on this host", () => {
            assert.deepEqual(haproxyInputs(stackConfig(BOTH)), {
                stack: "dev",
                host: { placement: "host" },
                layout: DEV_LAYOUT,
                frontendPort: 18100,
                exporterPort: 18101,
                backendPorts: [],
                image: "bluegreen-base",
                profiles: ["default"],
            });
        });

        it("lists both colors' ports for incus placement, even with one color present", () => {
            const i = haproxyInputs(stackConfig(INCUS_HAPROXY));
            assert.deepEqual(i.backendPorts, [18110, 18111, 18120, 18121, 18130, 18131]);
            assert.deepEqual(i.host, { placement: "incus", instance: "dev-haproxy" });
            assert.equal(i.layout.configPath, "/etc/haproxy/bluegreen.cfg");
            assert.deepEqual(haproxyInputs(stackConfig({ ...INCUS_HAPROXY, ...BOTH })).backendPorts, i.backendPorts);
        });
    });

    describe("switchInputs", () => {
        it("maps the config onto the switch: both colors' ports, the active color's containers and release", () => {
            const s = switchInputs(stackConfig());
            assert.deepEqual(s, {
                stack: "dev",
                host: { placement: "host" },
                layout: DEV_LAYOUT,
                method: "runtime",
                active: "blue",
                release: "abc1234",
                frontendPort: 18100,
                exporterPort: 18101,
                extra: { global: [], defaults: [], frontend: [] },
                components: [
                    { name: "backend", route: "/api", healthPath: "/health", ports: { blue: 18110, green: 18111 }, container: "dev-backend-blue" },
                    { name: "stream", route: "/stream", healthPath: "/health", ports: { blue: 18120, green: 18121 }, container: "dev-stream-blue" },
                    { name: "web", route: "/", healthPath: "/health", ports: { blue: 18130, green: 18131 }, container: "dev-web-blue" },
                ],
                timeoutMs: 2000,
                settleMs: 15000,
            });
        });

        it("with green active, targets green's containers and release", () => {
            const s = switchInputs(stackConfig({ ...BOTH, active: "green" }));
            assert.equal(s.active, "green");
            assert.equal(s.release, "def5678");
            assert.deepEqual(
                s.components.map((c) => c.container),
                ["dev-backend-green", "dev-stream-green", "dev-web-green"],
            );
        });

        it("carries the routed stateful services only, and none when none is routed", () => {
            const volumes = { data: "/var/lib/data" };
            const s = switchInputs(
                stackConfig({
                    stateful: { db: { release: "1a1a1a1", hostPort: 18150, route: "/db", volumes }, cache: { release: "1a1a1a1", hostPort: 18160, volumes } },
                }),
            );
            assert.deepEqual(s.services, [{ service: "db", route: "/db", healthPath: "/health", healthStatus: "200-299", port: 18150 }]);
            const unrouted = switchInputs(stackConfig({ stateful: { cache: { release: "1a1a1a1", hostPort: 18160, volumes } } }));
            assert.deepEqual(unrouted, switchInputs(stackConfig()), "a service without a route leaves the switch as it was");
            const incus = haproxyInputs(stackConfig({ ...INCUS_HAPROXY, stateful: { db: { release: "1a1a1a1", hostPort: 18150, route: "/db", volumes } } }));
            assert.equal(incus.backendPorts.at(-1), 18150, "the HAProxy instance reaches it");
        });

        it("is unchanged when the inactive color is added or removed", () => {
            assert.deepEqual(switchInputs(stackConfig(BOTH)), switchInputs(stackConfig()));
            assert.deepEqual(
                switchInputs(stackConfig({ ...BOTH, active: "green" })),
                switchInputs(stackConfig({ colors: { green: { release: "def5678" } }, active: "green" })),
            );
        });

        it("with bluegreen:preview, carries the idle color's release, which its preview answers name; none without an idle color", () => {
            const preview = { header: "x-preview" };
            assert.equal(switchInputs(stackConfig({ ...BOTH, preview })).previewRelease, "def5678");
            assert.equal(switchInputs(stackConfig({ ...BOTH, preview, active: "green" })).previewRelease, "abc1234");
            assert.equal("previewRelease" in switchInputs(stackConfig({ preview })), false);
            assert.equal("previewRelease" in switchInputs(stackConfig(BOTH)), false, "without a preview an idle deploy leaves the switch as it was");
        });

        it("carries the switch method, remote and settle bound from config", () => {
            const s = switchInputs(
                stackConfig({
                    incus: { remote: "prod" },
                    haproxy: { placement: "incus", frontendPort: 18100, exporterPort: 18101, switchMethod: "reload", settleMs: 5000 },
                    health: { timeoutMs: 700 },
                }),
            );
            assert.equal(s.method, "reload");
            assert.equal(s.remote, "prod");
            assert.equal(s.settleMs, 5000);
            assert.equal(s.timeoutMs, 700);
            assert.equal("remote" in switchInputs(stackConfig()), false);
        });

        it("a progressive shift reads the local Prometheus at its loopback URL, and with a remote the in-instance one by port (its address is the remote's)", () => {
            const local = switchInputs(stackConfig({ ...BOTH, progressive: { steps: [50, 100] }, prometheus: { port: 19090 } }));
            assert.equal(local.progressive?.prometheusUrl, "http://127.0.0.1:19090");
            assert.equal("prometheusPort" in local.progressive!, false);
            const remote = switchInputs(
                stackConfig({ ...BOTH, ...INCUS_HAPROXY, incus: { remote: "prod" }, progressive: { steps: [50, 100] }, prometheus: { port: 19090 } }),
            );
            assert.equal(remote.progressive?.prometheusPort, 19090);
            assert.equal("prometheusUrl" in remote.progressive!, false);
        });
    });
});

const GUARD: ServingGuard = { host: { placement: "host" }, stateDir: "/var/lib/bluegreen/dev", adminSocket: "/var/lib/bluegreen/dev/admin.sock" };

describe("plan: containers", () => {
    describe("colorContainerInputs", () => {
        it("gives blue one container per component on hostPort", () => {
            const config = stackConfig();
            assert.deepEqual(colorContainerInputs(config, "blue", "abc1234", GUARD), [
                {
                    name: "dev-backend-blue",
                    stack: "dev",
                    component: "backend",
                    color: "blue",
                    release: "abc1234",
                    port: 8080,
                    hostPort: 18110,
                    healthPath: "/health",
                    image: "bluegreen-base",
                    profiles: ["default"],
                    artifacts: { type: "dir", path: ".artifacts" },
                    health: { attempts: 30, intervalMs: 1000, timeoutMs: 2000 },
                    guard: GUARD,
                },
                {
                    name: "dev-stream-blue",
                    stack: "dev",
                    component: "stream",
                    color: "blue",
                    release: "abc1234",
                    port: 8080,
                    hostPort: 18120,
                    healthPath: "/health",
                    image: "bluegreen-base",
                    profiles: ["default"],
                    artifacts: { type: "dir", path: ".artifacts" },
                    health: { attempts: 30, intervalMs: 1000, timeoutMs: 2000 },
                    guard: GUARD,
                },
                {
                    name: "dev-web-blue",
                    stack: "dev",
                    component: "web",
                    color: "blue",
                    release: "abc1234",
                    port: 8080,
                    hostPort: 18130,
                    healthPath: "/health",
                    image: "bluegreen-base",
                    profiles: ["default"],
                    artifacts: { type: "dir", path: ".artifacts" },
                    health: { attempts: 30, intervalMs: 1000, timeoutMs: 2000 },
                    guard: GUARD,
                },
            ]);
        });

        it("gives green hostPort + 1 and its own names and release", () => {
            const config = stackConfig({ colors: { blue: { release: "abc1234" }, green: { release: "def5678" } } });
            const green = colorContainerInputs(config, "green", "def5678", GUARD);
            assert.deepEqual(
                green.map((i) => [i.name, i.color, i.release, i.hostPort]),
                [
                    ["dev-backend-green", "green", "def5678", 18111],
                    ["dev-stream-green", "green", "def5678", 18121],
                    ["dev-web-green", "green", "def5678", 18131],
                ],
            );
        });

        it("carries component settings, the prefix and incus settings", () => {
            const config = stackConfig({
                prefix: "acme-",
                components: { api: { hostPort: 18200, route: "/api", port: 3000, healthPath: "/ready" } },
                incus: { image: "my-image", profiles: ["default", "small"] },
            });
            const [api] = colorContainerInputs(config, "blue", "abc1234", GUARD);
            assert.equal(api.name, "acme-api-blue");
            assert.equal(api.port, 3000);
            assert.equal(api.healthPath, "/ready");
            assert.equal(api.image, "my-image");
            assert.deepEqual(api.profiles, ["default", "small"]);
        });

        it("has a remote only when one is configured", () => {
            const local = colorContainerInputs(stackConfig(), "blue", "abc1234", GUARD);
            assert.ok(local.every((i) => !("remote" in i)));
            const remote = colorContainerInputs(stackConfig({ ...INCUS_HAPROXY, incus: { remote: "prod" } }), "blue", "abc1234", GUARD);
            assert.deepEqual(
                remote.map((i) => i.remote),
                ["prod", "prod", "prod"],
            );
        });

        it("never carries a token", () => {
            assert.ok(colorContainerInputs(stackConfig(), "blue", "abc1234", GUARD).every((i) => !("artifactToken" in i)));
        });
    });

    describe("statefulInputs", () => {
        const config = stackConfig({
            stateful: { db: { release: "1a1a1a1", hostPort: 18150, pool: "fast", volumes: { logs: "/var/log/db", data: "/var/lib/data" } } },
        });

        it("names the container and volumes from the prefix, and keeps the records beside the history", () => {
            const [db] = statefulInputs(config);
            assert.equal(db.name, "dev-db");
            assert.deepEqual(db.volumes, [
                { name: "data", volume: "dev-db-data", path: "/var/lib/data" },
                { name: "logs", volume: "dev-db-logs", path: "/var/log/db" },
            ]);
            assert.equal(db.pool, "fast");
            assert.equal(db.deleteVolumes, false);
            assert.deepEqual(db.host, { placement: "host" });
            assert.equal(db.stateDir, DEV_LAYOUT.stateDir);
            assert.ok(!("artifactToken" in db) && !("restore" in db) && !("env" in db));
            assert.deepEqual(statefulInputs(stackConfig()), []);
        });

        it("mounts every volume and points the app at the first", () => {
            const [db] = statefulInputs(config);
            assert.deepEqual(statefulDisks(db), {
                "vol-data": { pool: "fast", volume: "dev-db-data", path: "/var/lib/data" },
                "vol-logs": { pool: "fast", volume: "dev-db-logs", path: "/var/log/db" },
            });
            const c = statefulInstanceConfig(db, "2b2b2b2");
            assert.equal(c["environment.BLUEGREEN_DATA_DIR"], "/var/lib/data");
            assert.equal(c["environment.BLUEGREEN_RELEASE"], "2b2b2b2");
            assert.equal(c["user.bluegreen.stateful"], "db");
            assert.equal(c["user.bluegreen.release"], "2b2b2b2");
        });
    });
});

describe("plan: the deploy lock and adoption", () => {
    it("carries only what it always did when nothing more is configured (state written before stays the same)", () => {
        assert.deepEqual(Object.keys(lockInputs(stackConfig(), "up", false)).sort(), ["host", "mode", "release", "stack", "stateDir"]);
    });

    it("carries the stateful services' volumes, the Incus remote, and where adopt comes from", () => {
        const c = stackConfig({
            ...INCUS_HAPROXY,
            incus: { remote: "lab" },
            stateful: {
                db: { release: "1a1a1a1", hostPort: 18150, pool: "fast", volumes: { data: "/var/lib/data", logs: "/var/log/db" } },
                kc: { release: "2b2b2b2", hostPort: 18160, volumes: { data: "/d" } },
            },
        });
        const i = lockInputs(c, "preview", false);
        assert.equal(i.remote, "lab");
        assert.deepEqual(i.volumes, [
            { pool: "fast", volume: "dev-db-data" },
            { pool: "fast", volume: "dev-db-logs" },
            { pool: "default", volume: "dev-kc-data" },
        ]);
        assert.equal(i.adopt, undefined);
        assert.equal(lockInputs(c, "up", true).adopt, "env");
        assert.equal(lockInputs(stackConfig({ adopt: true }), "up", false).adopt, "config");
        assert.equal(lockInputs(stackConfig({ adopt: true }), "up", true).adopt, "config", "the config key is what a pull request shows");
    });
});
