// Issue 20 (items 1b and 3) end to end on real Incus and HAProxy, through the runner: a
// stack brought up again with other ports, a destroy that always finishes, admin states
// kept by a failed switch, a switch refused onto servers that are not ready, the Switch's
// replacement, and a stream route the switch verifies.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { fileActive } from "../../components/model/traffic/haproxyConfig";
import { switchProvider } from "../../components/providers/switch";
import { finishDeployLock } from "../../components/release/safety/lock";
import { auditTo } from "../../components/release/safety/audit";
import { removeContainer } from "../../components/release/deploy";
import { TestStack, eventually, instance } from "../../harness/stack";
import { quietProgress } from "../helpers/quiet";

const A = "d20a001";
const B = "d20b002";
const C = "d20c003";
const PARTS = ["web", "stream"] as const;

describe("e2e: no traffic lost: ports, destroy, admin states, replacement, streams", function () {
    this.timeout(600_000);
    quietProgress();
    const s = new TestStack({ name: "trf", basePort: 21300 });
    const base = s.frontendPort;
    const file = (name: string) => path.join(s.haproxyDir, name);
    /** Both components at `web` and `web + 10` (blue; green is + 1). */
    const ports = (web: number) => {
        s.config.components = { web: { hostPort: web, route: "/" }, stream: { hostPort: web + 10, route: "/stream" } };
    };
    const switchState = () => s.state().resources.find((r: any) => r.name.endsWith("-switch"));
    const serverPort = (backend: string, server: string) => {
        // `show servers state` v1: srv_port is field 18 (0-based).
        const line = s
            .admin("show servers state")
            .split("\n")
            .find((l) => l.split(" ")[1] === backend && l.split(" ")[3] === server);
        return line ? Number(line.split(" ")[18]) : undefined;
    };
    async function serving(color: string): Promise<void> {
        await eventually(async () => (await s.servedColor()) === color, `the frontend to serve ${color}`, 15_000);
    }

    before(async () => {
        s.reset();
        s.config.haproxy = { ...s.config.haproxy, settleMs: 5000 };
        for (const r of [A, B, C]) for (const c of PARTS) await s.publishOne(c, r);
    });
    after(async () => s.teardown());

    /** HAProxy's files before the destroy: what a destroy by an older version left behind. */
    const previousLife: Record<string, string> = {};
    const HAPROXY_FILES = ["haproxy.cfg", "haproxy.cfg.bak", "server-state", "releases.map"];

    it("destroy removes the stack's HAProxy files from the host; its history and audit log stay", async () => {
        ports(base + 30);
        s.setColors({ blue: A }, "blue");
        await s.upOk();
        await serving("blue");
        // A change of the config's shape reloads, and the reload saves the servers' state.
        s.config.haproxy = { ...s.config.haproxy, extra: { global: ["maxconn 4000"] } };
        await s.upOk();
        delete s.config.haproxy.extra;
        assert.match(fs.readFileSync(file("server-state"), "utf8"), new RegExp(` ${base + 30} `), "the saved server state names the port");
        for (const f of HAPROXY_FILES) if (fs.existsSync(file(f))) previousLife[f] = fs.readFileSync(file(f), "utf8");
        const r = await s.run(["destroy"]);
        assert.equal(r.code, 0, r.stderr);
        const left = [...HAPROXY_FILES, "haproxy.cfg.new", "active-color", "shift.json", "switch-owner"].filter((f) => fs.existsSync(file(f)));
        assert.deepEqual(left, [], "HAProxy's files are gone");
        assert.match(fs.readFileSync(file("history"), "utf8"), / blue d20a001\n/);
        assert.ok(fs.existsSync(file("audit.jsonl")), "the audit log stays");
    });

    it("brought up again with other ports over a previous life's files, it serves: the stale config and server state are ignored", async () => {
        for (const [f, text] of Object.entries(previousLife)) if (!fs.existsSync(file(f))) fs.writeFileSync(file(f), text);
        ports(base + 50);
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        await serving("blue");
        assert.equal(serverPort("be_web", "blue"), base + 50, "HAProxy runs blue at the new port");
        assert.equal((await s.get("/stream")).color, "blue");
    });

    it("and its destroy finishes", async () => {
        const r = await s.run(["destroy"]);
        assert.equal(r.code, 0, r.stderr);
        for (const c of PARTS) assert.equal(instance(s.containerName(c, "blue")), undefined);
        assert.deepEqual(s.state().resources, []);
    });

    it("a Switch whose create fails is kept in state (a partial failure), so its delete takes the weights off before a destroy", async () => {
        // Every answer is a 503: the first switch cannot verify the frontend and fails.
        s.config.haproxy = { ...s.config.haproxy, extra: { frontend: ["http-request return status 503"] } };
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /switch to blue failed: the frontend did not serve blue/);
        const sw = switchState();
        assert.ok(sw, "the Switch is in state");
        assert.ok(sw.id, "under an id");
        assert.ok(sw.initErrors?.length, "with its init error");
        delete s.config.haproxy.extra;
        await s.upOk();
        await serving("blue");
        assert.equal(switchState().initErrors, undefined);
    });

    it("a live stack moved to new ports by a deploy serves: the saved server state never carries an old port over the new config", async () => {
        // The serving color cannot be replaced in place: the other one is deployed at the new ports, and blue goes.
        ports(base + 70);
        s.setColors({ green: B }, "green");
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        await serving("green");
        assert.equal(serverPort("be_web", "green"), base + 71);
        assert.equal(serverPort("be_stream", "green"), base + 81);
        assert.equal((await s.get("/")).release, B);
        for (const c of PARTS) assert.equal(instance(s.containerName(c, "blue")), undefined);
    });

    it("deleting a container that is already gone is a no-op, even while its color serves", async () => {
        const web = s.state().resources.find((x: any) => x.name === "web-green");
        assert.ok(web, "web-green in state");
        // The live HAProxy gives green weight: the guard would refuse a container that exists.
        await removeContainer(`${s.prefix}ghost-green`, web.outputs);
        await serving("green");
    });

    it("a failed switch's restore keeps the admin states: a server put in maintenance by hand stays out of rotation", async () => {
        s.admin("set server be_stream/green state maint");
        s.config.haproxy = { ...s.config.haproxy, extra: { frontend: ["http-request return status 503"] } };
        s.setColors({ blue: A, green: B }, "blue");
        try {
            const r = await s.up();
            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /switch to blue failed: .*Restored the previous config from .*haproxy\.cfg\.bak and reloaded; green still serves/);
            const st = s.serverStates().find((x) => x.backend === "be_stream" && x.server === "green");
            assert.ok(st && (st.adminState & 0x01) !== 0, `be_stream/green is still in maintenance (admin state ${st?.adminState})`);
            assert.equal((await s.get("/")).color, "green");
        } finally {
            s.admin("set server be_stream/green state ready");
            delete s.config.haproxy.extra;
            s.config.active = "green";
        }
    });

    it("a switch onto a server that is not ready is refused, naming it, before HAProxy is touched", async () => {
        s.admin("set server be_web/blue state drain");
        const cfg = fs.readFileSync(file("haproxy.cfg"), "utf8");
        s.config.active = "blue";
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /be_web\/blue is in drain/);
        assert.match(r.stderr, /set server be_web\/blue state ready/);
        assert.equal(fs.readFileSync(file("haproxy.cfg"), "utf8"), cfg, "the config was not touched");
        assert.equal(await s.servedColor(), "green");
        s.admin("set server be_web/blue state ready");
        await s.upOk();
        await serving("blue");
    });

    it("a replacement of the Switch (create, then the old one's delete) leaves traffic on: the old delete sees another owner", async () => {
        const sw = switchState();
        const { __provider: _p, ...inputs } = sw.inputs;
        const created = await switchProvider.create!(inputs);
        assert.notEqual(created.id, sw.id, "the new Switch has its own id");
        await switchProvider.delete!(sw.id, sw.outputs);
        await serving("blue");
        assert.equal(s.activeColorFile(), "blue");
        assert.ok(s.serverStates().some((x) => x.backend === "be_web" && x.server === "blue" && x.weight > 0));
        // As the engine ends it: the new one is the Switch in state. The runner's next up takes it back.
        await switchProvider.delete!(created.id, { ...sw.outputs, ...created.outs });
        // These deletes ran in this process, as in a destroy: its lock is held until the deployment ends, as the DeployLock's delete ends it.
        await finishDeployLock(auditTo(sw.outputs.host, sw.outputs.layout.stateDir, sw.outputs.stack, undefined));
        const r = await s.run(["up", "--refresh"]);
        assert.equal(r.code, 0, r.stderr);
        await serving("blue");
    });

    it("a switch onto a color whose route streams without end finishes: every probe has a deadline and stops at the headers", async () => {
        s.config.components.stream.env = { EXAMPLE_STREAM_PATH: "/stream" };
        s.setColors({ blue: A, green: C }, "green");
        let killed = false;
        const run = s.start(["up"]);
        const timer = setTimeout(() => {
            killed = true;
            run.child.kill("SIGKILL");
        }, 120_000);
        const r = await run.done;
        clearTimeout(timer);
        assert.equal(killed, false, `up hung on the stream route:\n${r.stderr.slice(-2000)}`);
        assert.equal(r.code, 0, r.stderr);
        // Not servedColor: the harness's own GET waits for a body's end too.
        assert.equal((await s.get("/")).color, "green");
        const stream = spawnSync("curl", ["-s", "-N", "-m", "2", "-D", "-", `http://127.0.0.1:${s.frontendPort}/stream`], { encoding: "utf8" });
        assert.match(stream.stdout, /x-bluegreen-color: green/);
        assert.match(stream.stdout, /data: .*"release":"d20c003"/);
        assert.equal(fileActive(fs.readFileSync(file("haproxy.cfg"), "utf8")), "green");
    });
});
