import assert from "node:assert/strict";
import {
    ContainerStatus,
    STATUS_EXIT,
    StatusReport,
    activeDrift,
    describeStatus,
    describeVerdict,
    serverWords,
    statusProbeUrls,
    statusVerdict,
} from "../../../components/release/status";
import { stackConfig } from "../../helpers/stackConfig";

const REPORT: StatusReport = {
    version: 1,
    stack: "dev",
    active: { config: "green", recorded: "blue", served: "blue", drift: true },
    colors: {
        blue: {
            release: "a1b2c3d",
            containers: [
                {
                    component: "web",
                    name: "dev-web-blue",
                    state: "RUNNING",
                    release: "a1b2c3d",
                    healthy: true,
                    health: "HTTP 200",
                    url: "http://127.0.0.1:18130/health",
                },
            ],
        },
        green: {
            release: "b4c5d6e",
            containers: [
                {
                    component: "web",
                    name: "dev-web-green",
                    state: "STOPPED",
                    release: "0ld0000",
                    healthy: false,
                    health: "no response: connect ECONNREFUSED",
                    url: "http://127.0.0.1:18131/health",
                },
            ],
        },
    },
    haproxy: {
        host: "this host",
        running: true,
        masterPid: 42,
        reloads: 3,
        configValid: true,
        configActive: "blue",
        servers: [
            { backend: "be_web", server: "blue", weight: 100, state: "UP", admin: "ready" },
            { backend: "be_web", server: "green", weight: 0, state: "DOWN", admin: "drain" },
        ],
    },
    history: ["2026-11-21T10:00:00Z blue a1b2c3d"],
    lock: { state: "held", holder: 'ana since 2026-11-21T10:05:00.000Z, by hand (lock acquire): "db migration"' },
    audit: [
        {
            time: "2026-11-21T10:00:00.000Z",
            performer: "ana",
            stack: "dev",
            operation: "switch",
            color: "blue",
            release: "a1b2c3d",
            details: { from: "green" },
        },
    ],
};

describe("status (pure parts)", () => {
    it("probes every node of each present color, then each stateful service, on the Incus host's loopback (along the stack's probe route)", () => {
        const config = stackConfig({
            colors: { blue: { release: "abc1234" }, green: { release: "def5678" } },
            components: { web: { hostPort: 18110, route: "/", nodes: 2 }, api: { hostPort: 18120, route: "/api", healthPath: "/ready" } },
            stateful: { db: { release: "1a1a1a1", hostPort: 18150, volumes: { data: "/var/lib/data" } } },
        });
        assert.deepEqual(statusProbeUrls(config), [
            "http://127.0.0.1:18120/ready",
            "http://127.0.0.1:18112/health",
            "http://127.0.0.1:18114/health",
            "http://127.0.0.1:18121/ready",
            "http://127.0.0.1:18113/health",
            "http://127.0.0.1:18115/health",
            "http://127.0.0.1:18150/health",
        ]);
    });

    it("on a routed network, probes a node or service at its recorded address and app port, the others on loopback", () => {
        const config = stackConfig({
            colors: { blue: { release: "abc1234" } },
            components: { web: { hostPort: 18110, port: 8080, route: "/", nodes: 2 } },
            stateful: { db: { release: "1a1a1a1", hostPort: 18150, port: 5000, volumes: { data: "/var/lib/data" } } },
        });
        const addresses = { [`${config.prefix}web-blue-1`]: "10.9.0.11", [`${config.prefix}db`]: "10.9.0.20" };
        assert.deepEqual(statusProbeUrls(config, addresses), ["http://10.9.0.11:8080/health", "http://127.0.0.1:18114/health", "http://10.9.0.20:5000/health"]);
    });

    it("serverWords names HAProxy's op and admin states", () => {
        assert.deepEqual(serverWords(2, 0), { state: "UP", admin: "ready" });
        assert.deepEqual(serverWords(0, 0), { state: "DOWN", admin: "ready" });
        assert.deepEqual(serverWords(2, 0x08), { state: "UP", admin: "drain" });
        assert.deepEqual(serverWords(2, 0x01), { state: "UP", admin: "maint" });
        assert.deepEqual(serverWords(1, 0x10), { state: "STARTING", admin: "drain" });
    });

    it("activeDrift is any disagreement of config, file and HAProxy", () => {
        assert.equal(activeDrift("blue", "blue", "blue"), false);
        assert.equal(activeDrift("blue", "green", "blue"), true);
        assert.equal(activeDrift("blue", "blue", "mixed"), true);
        assert.equal(activeDrift("blue", "blue", "unknown"), true);
    });

    it("describeStatus flags drift, unhealthy and off-release containers, and drained servers", () => {
        const text = describeStatus(REPORT);
        assert.match(text, /^stack dev\n/);
        assert.match(text, /active: green \(config\), blue \(active-color file\), blue \(HAProxy serves\)  << DRIFT: run `up`/);
        assert.match(text, /dev-web-blue +RUNNING +healthy \(HTTP 200\)  http:\/\/127\.0\.0\.1:18130\/health/);
        assert.match(text, /dev-web-green +STOPPED +UNHEALTHY \(no response: connect ECONNREFUSED\) runs 0ld0000/);
        assert.match(text, /haproxy on this host: running \(master 42, 3 reloads\)\n  config: valid, names blue\n/);
        assert.match(text, /be_web\/green +weight 0 +DOWN \(drain\)/);
        assert.match(text, /history \(last lines\):\n  2026-11-21T10:00:00Z blue a1b2c3d\n$/);
        assert.match(text, /deploy lock: held, ana since 2026-11-21T10:05:00.000Z, by hand \(lock acquire\): "db migration"\n/);
        assert.match(text, /audit \(last lines\):\n  2026-11-21T10:00:00.000Z ana switch blue a1b2c3d \(from=green\)\n/);
    });

    it("describeStatus shows maintenance under HAProxy when the key is set, and nothing otherwise", () => {
        assert.doesNotMatch(describeStatus(REPORT), /maintenance/);
        const text = describeStatus({
            ...REPORT,
            maintenance: { live: "on", config: "on", allow: ["127.0.0.2"], since: "2026-11-21T10:06:00.000Z", by: "ana" },
        });
        assert.match(text, /\n  maintenance: on since 2026-11-21T10:06:00\.000Z by ana, allowed: 127\.0\.0\.2\n/);
    });

    describe("statusVerdict: the exit code scripts and monitors read", () => {
        const web = (color: "blue" | "green", over: Partial<ContainerStatus> = {}): ContainerStatus => ({
            component: "web",
            name: `dev-web-${color}`,
            state: "RUNNING",
            release: color === "blue" ? "a1b2c3d" : "b4c5d6e",
            healthy: true,
            health: "HTTP 200",
            url: `http://127.0.0.1:${color === "blue" ? 18130 : 18131}/health`,
            ...over,
        });
        /** A stack where nothing is wrong: blue serves, green is deployed and idle. */
        const OK: StatusReport = {
            ...REPORT,
            active: { config: "blue", recorded: "blue", served: "blue", drift: false },
            colors: { blue: { release: "a1b2c3d", containers: [web("blue")] }, green: { release: "b4c5d6e", containers: [web("green")] } },
            haproxy: {
                ...REPORT.haproxy,
                servers: [
                    { backend: "be_web", server: "blue", weight: 100, state: "UP", admin: "ready" },
                    { backend: "be_web", server: "green", weight: 0, state: "UP", admin: "ready" },
                ],
            },
            lock: { state: "free" },
        };
        const code = (r: StatusReport) => statusVerdict(r).code;

        it("has distinct, stable codes", () => {
            assert.deepEqual(STATUS_EXIT, { ok: 0, failed: 1, config: 2, drift: 3, unhealthy: 4, locked: 5, paused: 6 });
            assert.equal(new Set(Object.values(STATUS_EXIT)).size, Object.keys(STATUS_EXIT).length);
        });

        it("0 when the stack is as its config says and serves healthy, with no reason", () => {
            assert.deepEqual(statusVerdict(OK), { code: 0, reasons: [] });
            assert.equal(code({ ...OK, lock: { state: "stale", why: "its process 42 on ci is gone" } }), 0, "a stale lock is taken over by the next up");
            assert.equal(code({ ...OK, canary: { release: "b4c5d6e", from: "a1b2c3d", color: "blue", phase: "done", updatedAt: "x" } }), 0);
        });

        it("3 on drift: the active color's three views disagree, or a container is missing, stopped or on another release", () => {
            assert.equal(code({ ...OK, active: { config: "blue", recorded: "green", served: "blue", drift: true } }), STATUS_EXIT.drift);
            const gone = { ...OK, colors: { ...OK.colors, green: { release: "b4c5d6e", containers: [web("green", { state: "ABSENT", healthy: false })] } } };
            assert.equal(code(gone), STATUS_EXIT.drift);
            const other = { ...OK, colors: { ...OK.colors, green: { release: "b4c5d6e", containers: [web("green", { release: "0ld0000" })] } } };
            assert.equal(code(other), STATUS_EXIT.drift);
            assert.match(statusVerdict(other).reasons.join("\n"), /drift: dev-web-green runs 0ld0000, config says b4c5d6e/);
            const stopped = {
                ...OK,
                colors: { ...OK.colors, green: { release: "b4c5d6e", containers: [web("green", { state: "STOPPED", healthy: false })] } },
            };
            assert.equal(code(stopped), STATUS_EXIT.drift, "a stopped container of the idle color is drift, not an outage");
        });

        it("4 when a container of a color HAProxy serves is unhealthy, when HAProxy is down or serves nothing", () => {
            const sick = { ...OK, colors: { ...OK.colors, blue: { release: "a1b2c3d", containers: [web("blue", { healthy: false, health: "HTTP 500" })] } } };
            assert.equal(code(sick), STATUS_EXIT.unhealthy);
            assert.match(statusVerdict(sick).reasons.join("\n"), /unhealthy: dev-web-blue serves traffic and is not healthy \(HTTP 500\)/);
            const idleSick = {
                ...OK,
                colors: { ...OK.colors, green: { release: "b4c5d6e", containers: [web("green", { healthy: false, health: "HTTP 500" })] } },
            };
            assert.equal(code(idleSick), STATUS_EXIT.ok, "an idle color's failed container is kept for forensics; it serves nothing");
            assert.equal(
                code({ ...OK, active: { ...OK.active, served: "unknown", drift: true }, haproxy: { host: "this host", running: false, servers: [] } }),
                STATUS_EXIT.unhealthy,
            );
            const none = { ...OK, haproxy: { ...OK.haproxy, servers: OK.haproxy.servers.map((x) => ({ ...x, weight: 0 })) } };
            assert.equal(code({ ...none, active: { ...OK.active, served: "none", drift: true } }), STATUS_EXIT.unhealthy);
            const split = {
                ...idleSick,
                active: { ...OK.active, served: "blue=90,green=10", drift: true },
                haproxy: { ...OK.haproxy, servers: OK.haproxy.servers.map((x) => ({ ...x, weight: x.server === "blue" ? 90 : 10 })) },
            };
            assert.equal(code(split), STATUS_EXIT.unhealthy, "both colors of a split serve");
        });

        it("4 for an unhealthy stateful service, 3 for one on another release than its config", () => {
            const svc = {
                name: "db",
                container: "dev-db",
                release: "1a1a1a1",
                liveRelease: "1a1a1a1",
                state: "RUNNING",
                healthy: true,
                health: "HTTP 200",
                url: "http://127.0.0.1:18150/health",
                volumes: [],
                alerts: [],
            };
            assert.equal(code({ ...OK, stateful: [svc] }), 0);
            assert.equal(code({ ...OK, stateful: [{ ...svc, healthy: false, health: "HTTP 503" }] }), STATUS_EXIT.unhealthy);
            assert.equal(code({ ...OK, stateful: [{ ...svc, liveRelease: "2b2b2b2" }] }), STATUS_EXIT.drift);
        });

        it("5 while the deploy lock is held, 6 while a canary is paused", () => {
            assert.equal(code({ ...OK, lock: REPORT.lock }), STATUS_EXIT.locked);
            assert.equal(code({ ...OK, canary: { release: "b4c5d6e", from: "a1b2c3d", color: "blue", phase: "paused", updatedAt: "x" } }), STATUS_EXIT.paused);
        });

        it("1 when status could not read what it needs: Incus, HAProxy's runtime API or the lock", () => {
            assert.equal(
                code({ ...OK, colors: { ...OK.colors, green: { release: "b4c5d6e", containers: [web("green", { state: "UNKNOWN" })] } } }),
                STATUS_EXIT.failed,
            );
            assert.equal(code({ ...OK, haproxy: { ...OK.haproxy, error: "connect ENOENT admin.sock", servers: [] } }), STATUS_EXIT.failed);
            assert.equal(code({ ...OK, lock: { state: "unknown", why: "cannot read lock.json" } }), STATUS_EXIT.failed);
        });

        it("the most urgent finding wins: unhealthy, then unreadable, then drift, then a paused canary, then the lock; every finding is a reason", () => {
            const all: StatusReport = {
                ...OK,
                active: { config: "blue", recorded: "green", served: "blue", drift: true },
                colors: { ...OK.colors, blue: { release: "a1b2c3d", containers: [web("blue", { healthy: false, health: "HTTP 500" })] } },
                lock: REPORT.lock,
                canary: { release: "b4c5d6e", from: "a1b2c3d", color: "blue", phase: "paused", updatedAt: "x" },
            };
            const v = statusVerdict(all);
            assert.equal(v.code, STATUS_EXIT.unhealthy);
            assert.deepEqual(
                v.reasons.map((r) => r.split(":")[0]),
                ["unhealthy", "drift", "canary paused", "lock held"],
            );
            assert.equal(code({ ...all, colors: OK.colors }), STATUS_EXIT.drift);
            assert.equal(code({ ...all, colors: OK.colors, active: OK.active }), STATUS_EXIT.paused);
            assert.equal(code({ ...all, colors: OK.colors, active: OK.active, canary: undefined }), STATUS_EXIT.locked);
        });

        it("describeVerdict says the exit code and its reasons, for the end of the text view", () => {
            assert.equal(describeVerdict(statusVerdict(OK)), "\nexit 0: ok\n");
            assert.match(
                describeVerdict(statusVerdict({ ...OK, lock: REPORT.lock })),
                /^\nexit 5: the deploy lock is held\n {2}lock held: ana since .*"db migration"\n$/,
            );
        });
    });

    it("describeStatus says how to start a HAProxy that is down", () => {
        const text = describeStatus({ ...REPORT, haproxy: { host: "instance prod-haproxy", running: false, servers: [] }, history: [] });
        assert.match(text, /haproxy on instance prod-haproxy: NOT RUNNING \(`up` starts it\)/);
        assert.match(text, /history \(last lines\):\n  \(none\)\n$/);
    });
});
