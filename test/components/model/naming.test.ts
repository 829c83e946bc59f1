import assert from "node:assert/strict";
import { COLORS, containerName, haproxyBackendName, haproxyInstanceName, haproxyLayout, otherColor } from "../../../components/model/naming";

describe("naming", () => {
    it("has exactly the two colors, blue first", () => {
        assert.deepEqual([...COLORS], ["blue", "green"]);
    });

    it("otherColor flips blue and green", () => {
        assert.equal(otherColor("blue"), "green");
        assert.equal(otherColor("green"), "blue");
    });

    it("containerName is <prefix><component>-<color>", () => {
        assert.equal(containerName("veza-", "backend", "blue"), "veza-backend-blue");
        assert.equal(containerName("", "web", "green"), "web-green");
    });

    it("haproxyInstanceName is <prefix>haproxy", () => {
        assert.equal(haproxyInstanceName("staging-"), "staging-haproxy");
        assert.equal(haproxyInstanceName(""), "haproxy");
    });

    it("haproxyBackendName is be_<component>", () => {
        assert.equal(haproxyBackendName("stream"), "be_stream");
    });

    describe("haproxyLayout", () => {
        it("host placement keeps everything under /var/lib/<app>/<stack> by default", () => {
            assert.deepEqual(haproxyLayout("host", "bluegreen", "dev"), {
                configPath: "/var/lib/bluegreen/dev/haproxy.cfg",
                adminSocket: "/var/lib/bluegreen/dev/admin.sock",
                masterSocket: "/var/lib/bluegreen/dev/master.sock",
                hostAdminSocket: "/var/lib/bluegreen/dev/admin.sock",
                hostMasterSocket: "/var/lib/bluegreen/dev/master.sock",
                pidFile: "/var/lib/bluegreen/dev/haproxy.pid",
                logFile: "/var/lib/bluegreen/dev/haproxy.log",
                stateDir: "/var/lib/bluegreen/dev",
            });
        });

        it("host placement honours an explicit dir", () => {
            assert.deepEqual(haproxyLayout("host", "bluegreen", "dev", "/srv/hx"), {
                configPath: "/srv/hx/haproxy.cfg",
                adminSocket: "/srv/hx/admin.sock",
                masterSocket: "/srv/hx/master.sock",
                hostAdminSocket: "/srv/hx/admin.sock",
                hostMasterSocket: "/srv/hx/master.sock",
                pidFile: "/srv/hx/haproxy.pid",
                logFile: "/srv/hx/haproxy.log",
                stateDir: "/srv/hx",
            });
        });

        it("incus placement uses Debian paths and its own config file name; this host reaches the sockets under /var/lib/<app>/<stack>", () => {
            assert.deepEqual(haproxyLayout("incus", "veza", "prod"), {
                configPath: "/etc/haproxy/bluegreen.cfg",
                adminSocket: "/run/haproxy/admin.sock",
                masterSocket: "/run/haproxy/master.sock",
                hostAdminSocket: "/var/lib/veza/prod/admin.sock",
                hostMasterSocket: "/var/lib/veza/prod/master.sock",
                pidFile: "/run/haproxy/haproxy.pid",
                logFile: "/var/log/bluegreen-app.log",
                stateDir: "/var/lib/veza",
            });
            assert.equal(haproxyLayout("incus", "veza", "prod", "/data/state").stateDir, "/data/state");
            assert.equal(haproxyLayout("incus", "veza", "prod", "/data/state").configPath, "/etc/haproxy/bluegreen.cfg");
        });
    });
});
