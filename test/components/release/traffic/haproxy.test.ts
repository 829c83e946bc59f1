import assert from "node:assert/strict";
import { haproxyInputs } from "../../../../components/plan";
import {
    INSTANCE_START_SCRIPT,
    bootstrapConfig,
    devicePlan,
    haproxyArgv,
    instanceProxies,
    staleBackendDevices,
} from "../../../../components/release/traffic/haproxy";
import { proxyDevice } from "../../../../components/io/incus";
import { haproxyLayout } from "../../../../components/model/naming";
import { stackConfig } from "../../../helpers/stackConfig";

const INCUS = haproxyInputs(
    stackConfig(
        { app: "veza", haproxy: { placement: "incus", frontendPort: 18200, exporterPort: 18201 }, colors: { blue: { release: "abc1234" } } },
        "staging",
    ),
);

describe("haproxy (pure parts)", () => {
    it("haproxyArgv runs a master-worker with its master CLI, whose socket is 0600 whatever the umask", () => {
        assert.deepEqual(haproxyArgv(haproxyLayout("host", "bluegreen", "dev")), [
            "haproxy",
            "-W",
            "-f",
            "/var/lib/bluegreen/dev/haproxy.cfg",
            "-S",
            "/var/lib/bluegreen/dev/master.sock,mode,600",
        ]);
    });

    it("the instance's start script sets the master socket's mode too", () => {
        assert.match(INSTANCE_START_SCRIPT, /^exec haproxy -W -f \/etc\/haproxy\/bluegreen\.cfg -S \/run\/haproxy\/master\.sock,mode,600$/m);
    });

    it("instanceProxies: frontend and exporter out, backends in, and both HAProxy sockets onto this host", () => {
        assert.deepEqual(instanceProxies(INCUS), {
            frontend: { listenPort: 18200, connectPort: 18200 },
            metrics: { listenPort: 18201, connectPort: 18201 },
            "admin-sock": { listenSocket: "/var/lib/veza/staging/admin.sock", connectSocket: "/run/haproxy/admin.sock" },
            "master-sock": { listenSocket: "/var/lib/veza/staging/master.sock", connectSocket: "/run/haproxy/master.sock" },
            ...Object.fromEntries(INCUS.backendPorts.map((p) => [`be-${p}`, { listenPort: p, connectPort: p, bind: "instance" }])),
        });
        assert.ok(INCUS.backendPorts.length > 0);
    });

    it("bootstrapConfig serves on the frontend port and opens the admin socket where HAProxy runs", () => {
        const cfg = bootstrapConfig(INCUS);
        assert.match(cfg, /bind 127\.0\.0\.1:18200/);
        assert.match(cfg, /stats socket \/run\/haproxy\/admin\.sock /);
    });

    describe("the instance's proxy devices", () => {
        const wanted = instanceProxies(INCUS);
        const have = Object.fromEntries(Object.entries(wanted).map(([k, p]) => [k, proxyDevice(p)]));
        const stale = proxyDevice({ listenPort: 19999, connectPort: 19999, bind: "instance" });

        it("devicePlan leaves the prometheus device alone: the Prometheus resource keeps it (prometheus.placement: incus)", () => {
            const live = { prometheus: { type: "proxy", listen: "tcp:127.0.0.1:19090", connect: "tcp:127.0.0.1:19090" } };
            assert.deepEqual(devicePlan(live, {}), { add: [], remove: [] });
        });

        it("devicePlan adds what is missing or changed and removes other proxies, but never a backend's: the switch removes those once HAProxy dropped them", () => {
            const port = INCUS.backendPorts[0];
            const live: Record<string, Record<string, string>> = {
                ...have,
                "be-19999": stale,
                metrics: { ...have.metrics, listen: "tcp:127.0.0.1:1" },
                old: stale,
            };
            delete live[`be-${port}`];
            const plan = devicePlan(live, wanted);
            assert.deepEqual(plan.add.sort(), [`be-${port}`, "metrics"].sort());
            assert.deepEqual(plan.remove, ["old"]);
            assert.deepEqual(devicePlan(have, wanted), { add: [], remove: [] });
        });

        it("staleBackendDevices: the backend proxies at ports the config no longer routes to", () => {
            assert.deepEqual(staleBackendDevices({ ...have, "be-19999": stale, root: { type: "disk", path: "/" } }, INCUS.backendPorts), ["be-19999"]);
            assert.deepEqual(staleBackendDevices(have, INCUS.backendPorts), []);
        });
    });
});
