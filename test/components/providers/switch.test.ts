// The Switch provider's lifecycle around HAProxy's ownership: a failed create stays in state
// (a partial failure), and a replaced Switch's delete leaves traffic alone. The exec seam is
// stubbed and HAProxy's sockets are local fakes that record what they are told.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { switchInputs } from "../../../components/plan";
import { switchProvider } from "../../../components/providers/switch";
import { SwitchOutputs } from "../../../components/release/traffic/switch";
import { CliSocket, haproxyCliSocket } from "../../helpers/haproxySocket";
import { quietProgress } from "../../helpers/quiet";
import { INCUS_NOT_FOUND, RunnerStub, ok, stubRunner } from "../../helpers/runnerStub";
import { stackConfig } from "../../helpers/stackConfig";
import { makeTmp, removeTmp } from "../../helpers/tmp";

const PROC = "#<PID> <type> <reloads> <uptime> <version>\n100 master 0 [failed: 0] 0d00h01m00s 2.6.12\n# workers\n101 worker 0 0d00h00m01s 2.6.12\n";

describe("switch provider", () => {
    quietProgress();
    let dir: string;
    let stub: RunnerStub | undefined;
    const sockets: CliSocket[] = [];
    beforeEach(() => {
        dir = makeTmp("bluegreen-switch-");
    });
    afterEach(async () => {
        stub?.restore();
        stub = undefined;
        for (const s of sockets.splice(0)) await s.close();
        removeTmp(dir);
    });
    const inputs = () => switchInputs(stackConfig({ haproxy: { frontendPort: 18100, exporterPort: 18101, dir } }));

    it("a create that fails is a partial failure under the Switch's own id, holding __provider and what its delete and read use", async () => {
        // The blue containers do not exist (an empty listing): the readiness check refuses before HAProxy is touched.
        stub = stubRunner((cmd) => (cmd.argv.at(-1)?.endsWith("/1.0/instances?recursion=1") ? ok("[]") : INCUS_NOT_FOUND));
        const withProvider = { ...inputs(), __provider: "the serialized provider" };
        const e = await switchProvider.create!(withProvider).then(
            () => assert.fail("the create succeeded"),
            (x) => x as { id: string; properties: Record<string, unknown>; reasons: string[] },
        );
        assert.match(e.id, /^dev-switch-[0-9a-f]{8}$/);
        assert.equal(e.properties.__provider, "the serialized provider");
        for (const k of ["host", "layout", "components", "stack", "active"]) assert.deepEqual(e.properties[k], (withProvider as Record<string, unknown>)[k], k);
        assert.match(e.reasons[0], /switching traffic to blue needs every blue container/);
        assert.equal(fs.readFileSync(path.join(dir, "switch-owner"), "utf8"), `${e.id}\n`, "it owns HAProxy");
    });

    it("each create has its own id", async () => {
        stub = stubRunner(() => INCUS_NOT_FOUND);
        const ids = await Promise.all([1, 2].map(() => switchProvider.create!(inputs()).catch((e: { id: string }) => e.id)));
        assert.notEqual(ids[0], ids[1]);
    });

    describe("delete", () => {
        async function haproxy(): Promise<{ admin: CliSocket }> {
            sockets.push(await haproxyCliSocket(path.join(dir, "master.sock"), (c) => (c === "show proc" ? PROC : "")));
            const admin = await haproxyCliSocket(path.join(dir, "admin.sock"), () => "");
            sockets.push(admin);
            return { admin };
        }
        const props = (): SwitchOutputs => ({ ...inputs(), served: "blue", recorded: "blue" });

        it("by the Switch that owns HAProxy: every weight to 0, the records cleared", async () => {
            const { admin } = await haproxy();
            fs.writeFileSync(path.join(dir, "switch-owner"), "dev-switch-aaaa0001\n");
            fs.writeFileSync(path.join(dir, "active-color"), "blue\n");
            fs.writeFileSync(path.join(dir, "shift.json"), "{}\n");
            await switchProvider.delete!("dev-switch-aaaa0001", props());
            assert.match(admin.received.join(""), /set server be_web\/blue weight 0/);
            assert.equal(fs.readFileSync(path.join(dir, "active-color"), "utf8"), "");
            assert.equal(fs.existsSync(path.join(dir, "switch-owner")), false);
            assert.equal(fs.existsSync(path.join(dir, "shift.json")), false);
        });

        it("by a Switch that another replaced (create, then the old delete): nothing is touched", async () => {
            const { admin } = await haproxy();
            fs.writeFileSync(path.join(dir, "switch-owner"), "dev-switch-bbbb0002\n");
            fs.writeFileSync(path.join(dir, "active-color"), "blue\n");
            await switchProvider.delete!("dev-switch-aaaa0001", props());
            assert.deepEqual(admin.received, []);
            assert.equal(fs.readFileSync(path.join(dir, "active-color"), "utf8"), "blue\n");
            assert.equal(fs.readFileSync(path.join(dir, "switch-owner"), "utf8"), "dev-switch-bbbb0002\n");
        });

        it("with no owner recorded (a Switch created before owners were): as the owner", async () => {
            const { admin } = await haproxy();
            await switchProvider.delete!("dev-switch", props());
            assert.match(admin.received.join(""), /set server be_web\/blue weight 0/);
        });
    });
});
