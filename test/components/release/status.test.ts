import assert from "node:assert/strict";
import { StatusReport, activeDrift, describeStatus, serverWords } from "../../../components/release/status";

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

    it("describeStatus says how to start a HAProxy that is down", () => {
        const text = describeStatus({ ...REPORT, haproxy: { host: "instance prod-haproxy", running: false, servers: [] }, history: [] });
        assert.match(text, /haproxy on instance prod-haproxy: NOT RUNNING \(`up` starts it\)/);
        assert.match(text, /history \(last lines\):\n  \(none\)\n$/);
    });
});
