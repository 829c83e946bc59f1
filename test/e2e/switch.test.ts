// Issue 3 end to end on a real haproxy and real Incus, through the runner: deploy,
// switch, fast and full rollback, cleanup, every refusal (after each, the previous
// color still answers real requests), and a runner killed in the middle of a switch.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as net from "net";
import { spawnSync } from "child_process";
import { fileActive } from "../../components/model/traffic/haproxyConfig";
import { COMPONENTS, TestStack, eventually, httpGet, instance } from "../../harness/stack";

const A = "aaa1001";
const B = "bbb1002";
const BROKEN = "dead1003";
const HISTORY_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (blue|green) [0-9a-f]{7}$/;

describe("e2e: the switch through a real HAProxy", function () {
    this.timeout(300_000);
    const s = new TestStack({ name: "sw", basePort: 19200 });

    before(async () => {
        s.reset();
        await s.publish(A);
        await s.publish(B);
        await s.publish(BROKEN, "health");
    });
    after(async () => s.teardown());

    /** Every source of truth agrees on `color`: config file, active-color file, live weights, real traffic. */
    async function assertServing(color: string, release?: string): Promise<void> {
        const cfg = s.readHaproxyFile(s.layout().config)!;
        assert.equal(fileActive(cfg), color, "haproxy.cfg names the color");
        assert.equal(s.activeColorFile(), color, "active-color file");
        const weighted = s.serverStates().filter((x) => x.weight > 0);
        assert.deepEqual([...new Set(weighted.map((x) => x.server))], [color], "live weights");
        await eventually(async () => (await s.servedColor()) === color, `the frontend to serve ${color}`);
        if (release) for (const p of ["/api", "/stream", "/"]) assert.equal((await s.get(p)).release, release, p);
    }

    it("deploy: blue serves through the frontend; the switch records it", async () => {
        s.setColors({ blue: A }, "blue");
        await s.upOk();
        await assertServing("blue", A);
        const h = s.history();
        assert.equal(h.length, 1);
        assert.match(h[0], HISTORY_LINE);
        assert.match(h[0], / blue aaa1001$/);
        const metrics = await fetch(`http://127.0.0.1:${s.exporterPort}/metrics`).then((r) => r.text());
        assert.match(metrics, /haproxy_backend_http_requests_total\{proxy="be_web"\}/, "HAProxy's own exporter");
    });

    it("a failed deploy keeps the unhealthy green for forensics and traffic on blue", async () => {
        const history = s.history().length;
        s.setColors({ blue: A, green: BROKEN }, "green");
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`${s.prefix}\\w+-green stayed unhealthy .*kept for forensics.*Traffic was not switched`, "s"));
        assert.doesNotMatch(r.stderr, /switch: new config/, "the switch never ran");
        for (const c of COMPONENTS) assert.equal(instance(s.containerName(c, "green"))?.status, "Running", `${c}-green kept`);
        await assertServing("blue", A);
        assert.equal(s.history().length, history);
    });

    it("deploy green and switch: green serves, .bak keeps the blue config", async () => {
        s.setColors({ blue: A, green: B }, "green");
        await s.upOk();
        await assertServing("green", B);
        assert.equal(fileActive(s.readHaproxyFile(`${s.layout().config}.bak`)!), "blue");
        assert.match(s.history().at(-1)!, / green bbb1002$/);
    });

    it("status shows the stack at a glance from live state, and changes nothing", async () => {
        const stateBefore = fs.readFileSync(s.statePath(), "utf8");
        const r = await s.run(["status", "--json"]);
        assert.equal(r.code, 0, r.stderr);
        const st = JSON.parse(r.stdout);
        assert.equal(st.version, 1);
        assert.equal(st.stack, s.stack);
        assert.deepEqual(st.active, { config: "green", recorded: "green", served: "green", drift: false });
        assert.equal(st.colors.blue.release, A);
        assert.equal(st.colors.green.release, B);
        for (const color of ["blue", "green"]) {
            assert.deepEqual(
                st.colors[color].containers.map((c: any) => [c.name, c.state, c.release, c.healthy]),
                COMPONENTS.map((c) => [s.containerName(c, color), "RUNNING", color === "blue" ? A : B, true]),
            );
        }
        assert.equal(st.haproxy.running, true);
        assert.equal(st.haproxy.configValid, true);
        assert.equal(st.haproxy.configActive, "green");
        assert.deepEqual(
            st.haproxy.servers.filter((x: any) => x.weight > 0).map((x: any) => `${x.backend}/${x.server} ${x.state}`),
            ["be_backend/green UP", "be_stream/green UP", "be_web/green UP"],
        );
        assert.deepEqual(st.history, s.history());
        const text = await s.run(["status"]);
        assert.match(text.stdout, /active: green \(config\), green \(active-color file\), green \(HAProxy serves\)\n/);
        assert.equal(fs.readFileSync(s.statePath(), "utf8"), stateBefore, "state untouched");
    });

    it("fast rollback flips back over the runtime API, without a reload", async () => {
        const reloads = s.proc()!.reloads;
        s.config.active = "blue";
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /weights flipped to blue over the runtime API/);
        await assertServing("blue", A);
        assert.equal(s.proc()!.reloads, reloads, "no reload");
        assert.match(s.history().at(-1)!, / blue aaa1001$/);
    });

    it("re-applying the same state is a no-op: no reload, no history line", async () => {
        const reloads = s.proc()!.reloads;
        const history = s.history().length;
        const r = await s.run(["up"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /Resources: 10 unchanged/);
        assert.equal(s.proc()!.reloads, reloads);
        assert.equal(s.history().length, history);
    });

    it("a reload keeps what was changed at runtime: a drained server stays drained (server-state-file)", async () => {
        s.admin("set server be_web/green state drain");
        const drained = () => s.serverStates().find((x) => x.backend === "be_web" && x.server === "green")!.adminState;
        assert.equal(drained() & 0x08, 0x08, "drained before the reload");
        const reloads = s.proc()!.reloads;
        s.config.haproxy.extra = { defaults: ["timeout queue 5s"] };
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /haproxy reloaded \(master-worker\)/);
        assert.ok(s.proc()!.reloads > reloads, "HAProxy reloaded");
        assert.equal(drained() & 0x08, 0x08, "still drained after the reload");
        await assertServing("blue", A);
        s.admin("set server be_web/green state ready");
        delete s.config.haproxy.extra;
        await s.upOk();
        assert.equal(drained(), 0);
    });

    it("refresh shows a hand-made flip as drift, and up puts the configured color back", async () => {
        s.admin("set server be_backend/green weight 100; set server be_backend/blue weight 0");
        const r = await s.run(["refresh"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /switch: drift\n\s+~ served: "blue" => "mixed"/);
        const p = await s.run(["preview"]);
        assert.match(p.stdout, /~ \w+-switch: update/);
        await s.upOk();
        await assertServing("blue", A);
    });

    it("refuses to clean up the active color: config validation", async () => {
        s.setColors({ green: B }, "blue");
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /bluegreen:colors\.blue: blue is the active color and serves traffic.*bluegreen:active: green/);
        for (const c of COMPONENTS) assert.equal(instance(s.containerName(c, "blue"))?.status, "Running");
        await assertServing("blue", A);
        s.setColors({ blue: A, green: B }, "blue");
    });

    it("refuses to clean up the live color even when the config is stale: the provider reads HAProxy's host", async () => {
        // Another operator switched to green outside this config (seed: rollback.yml).
        s.admin(["backend", "stream", "web"].map((b) => `set server be_${b}/green weight 100; set server be_${b}/blue weight 0`).join("; "));
        fs.writeFileSync(`${s.layout().stateDir}/active-color`, "green\n");
        // This config still says blue is active, and asks to remove green.
        s.setColors({ blue: A }, "blue");
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /refusing to delete t\w+-\w+-green: green is the active color/);
        for (const c of COMPONENTS) assert.equal(instance(s.containerName(c, "green"))?.status, "Running", `${c}-green kept`);
        await eventually(async () => (await s.servedColor()) === "green", "green to keep serving");
        // Back to a config that matches: blue active, both colors present.
        s.setColors({ blue: A, green: B }, "blue");
        const back = await s.run(["up", "--refresh"]);
        assert.equal(back.code, 0, back.stderr);
        await assertServing("blue", A);
    });

    it("a fast rollback to a stopped color: up starts it, waits for its health, then switches", async () => {
        const stopped = s.containerName("backend", "green");
        spawnSync("incus", ["stop", "--force", stopped]);
        s.config.active = "green";
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        const started = r.stderr.indexOf(`${stopped}: Stopped; starting it`);
        const healthy = r.stderr.indexOf(`${stopped}: healthy after`);
        const switched = r.stderr.indexOf("switch: green (bbb1002) serves traffic");
        assert.ok(started >= 0 && started < healthy && healthy < switched, r.stderr);
        assert.equal(instance(stopped)?.status, "Running");
        await assertServing("green", B);
        s.config.active = "blue";
        await s.upOk();
        await assertServing("blue", A);
    });

    it("a heal that fails keeps the container for forensics and traffic where it is", async () => {
        const broken = s.containerName("backend", "green");
        spawnSync("incus", ["stop", "--force", broken]);
        // It starts, but the app listens where the proxy device does not look.
        spawnSync("incus", ["config", "set", broken, "environment.PORT", "9"]);
        const cfgBefore = s.readHaproxyFile(s.layout().config);
        const reloads = s.proc()!.reloads;
        s.config.active = "green";
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`${broken}: Stopped; starting it`));
        assert.match(r.stderr, new RegExp(`${broken} stayed unhealthy after \\d+ health checks .*kept for forensics`, "s"));
        assert.doesNotMatch(r.stderr, /switch: new config/, "the switch never ran");
        assert.equal(instance(broken)?.status, "Running", "kept");
        assert.equal(s.readHaproxyFile(s.layout().config), cfgBefore, "config untouched");
        assert.equal(s.proc()!.reloads, reloads, "no reload");
        await assertServing("blue", A);
        spawnSync("incus", ["config", "set", broken, "environment.PORT", "8080"]);
        spawnSync("incus", ["restart", "--force", broken]);
        await eventually(
            async () => (await httpGet(`http://127.0.0.1:${s.componentPort("backend", "green")}/health`)).status === 200,
            "backend-green to come back",
        );
        s.config.active = "blue";
        await s.upOk();
    });

    it("refuses a rendered config that haproxy rejects, leaving everything as it was", async () => {
        const cfgBefore = s.readHaproxyFile(s.layout().config);
        s.config.haproxy.extra = { defaults: ["option no-such-option"] };
        s.config.active = "green";
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /HAProxy rejected the rendered config: .*no-such-option.*Nothing was changed; blue still serves/s);
        assert.equal(s.readHaproxyFile(s.layout().config), cfgBefore);
        assert.equal(fs.existsSync(`${s.layout().config}.new`), false, "no candidate left behind");
        await assertServing("blue", A);
        delete s.config.haproxy.extra;
        s.config.active = "blue";
    });

    it("a failed reload restores .bak and reloads: the previous color keeps serving", async () => {
        // haproxy -c cannot see that the new frontend port is taken; only the reload fails.
        const squatter = net.createServer(() => undefined);
        await new Promise<void>((r) => squatter.listen(s.frontendPort + 5, "127.0.0.1", r));
        try {
            const cfgBefore = s.readHaproxyFile(s.layout().config);
            s.config.haproxy.frontendPort = s.frontendPort + 5;
            s.config.active = "green";
            const r = await s.up();
            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /could not load the new config.*Restored the previous config from .*haproxy\.cfg\.bak and reloaded; blue still serves/s);
            assert.equal(s.readHaproxyFile(s.layout().config), cfgBefore, "config file restored");
            assert.equal(s.proc()!.failedReloads, 0, "the restoring reload succeeded");
            await assertServing("blue", A);
            assert.match(fs.readFileSync(`${s.haproxyDir}/haproxy.log`, "utf8"), /cannot bind socket/, "HAProxy's reason is logged");
        } finally {
            squatter.close();
            s.config.haproxy.frontendPort = s.frontendPort;
            s.config.active = "blue";
        }
    });

    for (const [label, marker] of [
        ["after the swap, before HAProxy applied it", /new config validated and swapped in/],
        ["after HAProxy applied it, before the state file", /weights flipped to \w+ over the runtime API/],
    ] as const) {
        it(`a runner killed mid-switch (${label}) and run again: config, state file and served color agree`, async () => {
            const target = s.config.active === "blue" ? "green" : "blue";
            s.config.active = target;
            let killed = false;
            const { done } = s.start(["up"], (stderr, child) => {
                if (!killed && marker.test(stderr)) {
                    killed = true;
                    child.kill("SIGKILL");
                }
            });
            const first = await done;
            assert.ok(killed, `the runner reached the marker:\n${first.stderr}`);
            assert.equal(first.code, 137);
            const again = await s.up();
            assert.equal(again.code, 0, again.stderr);
            await assertServing(target);
            assert.equal(again.outputs.activeColor, target);
        });
    }

    it("containers deleted by hand are recreated by a plain up, before a fast rollback to them", async () => {
        s.setColors({ blue: A, green: B }, "blue");
        for (const c of COMPONENTS) spawnSync("incus", ["delete", "--force", s.containerName(c, "green")]);
        s.config.active = "green";
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        for (const c of COMPONENTS) {
            assert.match(r.stderr, new RegExp(`${s.containerName(c, "green")}: missing; creating it again`));
            assert.equal(instance(s.containerName(c, "green"))?.status, "Running");
        }
        assert.ok(r.stderr.lastIndexOf("healthy after") < r.stderr.indexOf("switch: green (bbb1002) serves traffic"), "healthy before the switch");
        await assertServing("green", B);
    });

    it("the rest of the cycle: cleanup of the failed color, full rollback, cleanup", async () => {
        // Traffic on green; blue is the failed color to clean up.
        s.setColors({ blue: A, green: B }, "green");
        await s.upOk();
        s.setColors({ green: B }, "green");
        await s.upOk();
        for (const c of COMPONENTS) assert.equal(instance(s.containerName(c, "blue")), undefined, `${c}-blue destroyed`);
        await assertServing("green", B);
        const again = await s.run(["up"]);
        assert.equal(again.code, 0, again.stderr);
        assert.match(again.stdout, /Resources: 7 unchanged/, "cleaning up again is a no-op");

        // Full rollback: blue gets the previous SHA and becomes active again.
        s.setColors({ blue: A, green: B }, "blue");
        const full = await s.up();
        assert.equal(full.code, 0, full.stderr);
        const healthy = full.stderr.indexOf("backend-blue: healthy after");
        assert.ok(healthy > 0 && healthy < full.stderr.indexOf("switch: blue (aaa1001) serves traffic"), "health-checked before the switch");
        await assertServing("blue", A);

        // Green is cleaned up.
        s.setColors({ blue: A }, "blue");
        await s.upOk();
        for (const c of COMPONENTS) assert.equal(instance(s.containerName(c, "green")), undefined);
        await assertServing("blue", A);
    });
});
