import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { haproxyInputs } from "../../components/app";
import { HaproxyInputs, HaproxyOutputs, bootstrapConfig, haproxyArgv, haproxyProvider, instanceProxies } from "../../components/haproxy";
import { haproxyLayout } from "../../components/naming";
import { CliSocket, haproxyCliSocket } from "../helpers/haproxySocket";
import { quietProgress } from "../helpers/quiet";
import { stackConfig } from "../helpers/stackConfig";

const INCUS = haproxyInputs(
    stackConfig({ app: "veza", haproxy: { placement: "incus", frontendPort: 18200, exporterPort: 18201 }, colors: { blue: { release: "abc1234" } } }, "staging"),
);

describe("haproxy", () => {
    quietProgress();
    it("haproxyArgv runs a master-worker with its master CLI", () => {
        assert.deepEqual(haproxyArgv(haproxyLayout("host", "bluegreen", "dev")), [
            "haproxy",
            "-W",
            "-f",
            "/var/lib/bluegreen/dev/haproxy.cfg",
            "-S",
            "/var/lib/bluegreen/dev/master.sock",
        ]);
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

    describe("provider.diff", () => {
        let dir: string;
        let master: CliSocket | undefined;
        let inputs: HaproxyInputs;
        const outputs = (i: HaproxyInputs): HaproxyOutputs => ({ ...i, running: true, masterPid: 100 });
        beforeEach(async () => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "bg-haproxy-"));
            inputs = { ...INCUS, layout: { ...INCUS.layout, hostAdminSocket: path.join(dir, "admin.sock"), hostMasterSocket: path.join(dir, "master.sock") } };
        });
        afterEach(async () => {
            await master?.close();
            master = undefined;
            fs.rmSync(dir, { recursive: true, force: true });
        });

        async function running(): Promise<void> {
            const proc = "#<PID> <type> <reloads>\n100 master 0 [failed: 0] 0d00h00m07s 2.6.12\n# workers\n200 worker 0 0d00h00m07s 2.6.12\n";
            master = await haproxyCliSocket(inputs.layout.hostMasterSocket, () => proc);
        }

        it("is no change while haproxy runs and nothing moved", async () => {
            await running();
            assert.deepEqual(await haproxyProvider.diff!("staging-haproxy", outputs(inputs), inputs), { changes: false, replaces: [], deleteBeforeReplace: true });
        });

        it("is an update when haproxy does not answer: the next up starts it", async () => {
            assert.deepEqual(await haproxyProvider.diff!("staging-haproxy", outputs(inputs), inputs), { changes: true, replaces: [], deleteBeforeReplace: true });
        });

        it("moving where this host reaches the sockets is an update (the proxy devices follow), not a replace", async () => {
            await running();
            const olds = outputs({ ...inputs, layout: { ...inputs.layout, hostAdminSocket: "/elsewhere/admin.sock" } });
            assert.deepEqual(await haproxyProvider.diff!("staging-haproxy", olds, inputs), { changes: true, replaces: [], deleteBeforeReplace: true });
        });

        it("a state written before the sockets were forwarded updates in place", async () => {
            await running();
            const { hostAdminSocket: _a, hostMasterSocket: _m, ...older } = inputs.layout;
            const olds = outputs({ ...inputs, layout: older as HaproxyInputs["layout"] });
            assert.deepEqual(await haproxyProvider.diff!("staging-haproxy", olds, inputs), { changes: true, replaces: [], deleteBeforeReplace: true });
        });

        it("moving HAProxy's own files or its host replaces it", async () => {
            await running();
            const moved = outputs({ ...inputs, layout: { ...inputs.layout, stateDir: "/data/state" } });
            assert.deepEqual((await haproxyProvider.diff!("staging-haproxy", moved, inputs)).replaces, ["layout"]);
            const elsewhere = outputs({ ...inputs, host: { placement: "incus", instance: "other-haproxy" } });
            assert.deepEqual((await haproxyProvider.diff!("staging-haproxy", elsewhere, inputs)).replaces, ["host"]);
        });
    });
});
