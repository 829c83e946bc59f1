import assert from "node:assert/strict";
import * as dgram from "dgram";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { haproxyInputs } from "../../../components/plan";
import { haproxyProvider } from "../../../components/providers/haproxy";
import { HaproxyInputs, HaproxyOutputs } from "../../../components/release/traffic/haproxy";
import { CliSocket, haproxyCliSocket } from "../../helpers/haproxySocket";
import { quietProgress } from "../../helpers/quiet";
import { stackConfig } from "../../helpers/stackConfig";

const INCUS = haproxyInputs(
    stackConfig(
        { app: "veza", haproxy: { placement: "incus", frontendPort: 18200, exporterPort: 18201 }, colors: { blue: { release: "abc1234" } } },
        "staging",
    ),
);

describe("haproxy", () => {
    quietProgress();
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
            assert.deepEqual(await haproxyProvider.diff!("staging-haproxy", outputs(inputs), inputs), {
                changes: false,
                replaces: [],
                deleteBeforeReplace: true,
            });
        });

        it("host placement: is an update when the access log's receiver is gone, so the next up starts it again", async () => {
            const port = 30000 + Math.floor(Math.random() * 20000);
            const host = haproxyInputs(stackConfig({ accessLog: { port } }));
            inputs = { ...host, layout: { ...host.layout, masterSocket: inputs.layout.hostMasterSocket, hostMasterSocket: inputs.layout.hostMasterSocket } };
            await running();
            assert.equal((await haproxyProvider.diff!("dev-haproxy", outputs(inputs), inputs)).changes, true);
            const receiver = dgram.createSocket("udp4");
            await new Promise<void>((r) => receiver.bind(port, "127.0.0.1", () => r()));
            try {
                assert.equal((await haproxyProvider.diff!("dev-haproxy", outputs(inputs), inputs)).changes, false);
            } finally {
                receiver.close();
            }
        });

        it("is an update when haproxy does not answer: the next up starts it", async () => {
            assert.deepEqual(await haproxyProvider.diff!("staging-haproxy", outputs(inputs), inputs), {
                changes: true,
                replaces: [],
                deleteBeforeReplace: true,
            });
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
