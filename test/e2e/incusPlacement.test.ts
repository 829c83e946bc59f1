// Staging/prod placement: HAProxy inside the `<prefix>haproxy` Incus instance, as in
// the seeds. Deploy, switch, fast rollback and the cleanup guard read the active
// color from inside that instance.

import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import { readHostFile } from "../../components/io/haproxyHost";
import { serversState } from "../../components/io/runtimeApi";
import { fileActive } from "../../components/model/traffic/haproxyConfig";
import { parseConfig } from "../../components/model/config";
import { isRefused } from "../../components/model/errors";
import { servingGuard } from "../../components/plan";
import { mightServe, refuseIfServing } from "../../components/release/cleanup";
import { COMPONENTS, TestStack, eventually, instance } from "../../harness/stack";

/** One GET, however long it takes (bounded at 60 s): its status and the node that answered. */
function longGet(url: string): Promise<{ status: number; node?: string; error?: string }> {
    return new Promise((resolve) => {
        const req = http.get(url, { agent: false, timeout: 60_000, headers: { connection: "close" } }, (res) => {
            res.resume();
            res.on("end", () => resolve({ status: res.statusCode ?? 0, node: res.headers["x-node"] as string }));
            res.on("error", (e) => resolve({ status: 0, error: e.message }));
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", (e) => resolve({ status: 0, error: e.message }));
    });
}

const A = "aaa2001";
const B = "bbb2002";
const H = "d20f006";

describe("e2e: HAProxy inside an Incus instance (staging/prod placement)", function () {
    this.timeout(300_000);
    const s = new TestStack({ name: "inc", basePort: 19300, placement: "incus" });

    before(async () => {
        s.reset();
        await s.publish(A);
        await s.publish(B);
    });
    after(async () => s.teardown());

    it("deploy: the haproxy instance serves blue through loopback proxies", async () => {
        s.setColors({ blue: A }, "blue");
        await s.upOk();
        const hx = instance(`${s.prefix}haproxy`);
        assert.equal(hx?.status, "Running");
        assert.equal(hx?.config["user.bluegreen.role"], "haproxy");
        await eventually(async () => (await s.servedColor()) === "blue", "blue through the instance");
        assert.equal(s.activeColorFile(), "blue", "/var/lib/<app>/active-color inside the instance");
        assert.equal(fileActive(s.readHaproxyFile("/etc/haproxy/bluegreen.cfg")!), "blue");
        const metrics = await fetch(`http://127.0.0.1:${s.exporterPort}/metrics`).then((r) => r.text());
        assert.match(metrics, /haproxy_process_/);
    });

    it("status reads the instance: HAProxy, its config, the active color and history", async () => {
        const r = await s.run(["status", "--json"]);
        assert.equal(r.code, 0, r.stderr);
        const st = JSON.parse(r.stdout);
        assert.deepEqual(st.active, { config: "blue", recorded: "blue", served: "blue", drift: false });
        assert.equal(st.haproxy.host, `instance ${s.prefix}haproxy`);
        assert.equal(st.haproxy.running, true);
        assert.equal(st.haproxy.configValid, true);
        assert.equal(st.history.length, 1);
    });

    it("the instance's files and runtime API read exactly under concurrency (Incus drops some `incus exec` output)", async () => {
        // With `incus exec cat` or `incus exec socat`, about 3% of 8 parallel reads came back empty.
        const host = { placement: "incus" as const, instance: `${s.prefix}haproxy` };
        for (let round = 0; round < 3; round++) {
            const files = await Promise.all(Array.from({ length: 8 }, () => readHostFile(host, `${s.layout().stateDir}/active-color`)));
            assert.deepEqual(new Set(files), new Set(["blue\n"]));
            const states = await Promise.all(Array.from({ length: 8 }, () => serversState(s.layout().admin)));
            for (const st of states)
                assert.deepEqual(
                    st.filter((x) => x.weight > 0).map((x) => x.server),
                    COMPONENTS.map(() => "blue"),
                );
        }
    });

    it("deploy green and switch, then fast rollback without a reload", async () => {
        s.setColors({ blue: A, green: B }, "green");
        await s.upOk();
        await eventually(async () => (await s.servedColor()) === "green", "green through the instance");
        assert.equal((await s.get("/api")).release, B);
        assert.equal(s.activeColorFile(), "green");

        const reloads = s.proc()!.reloads;
        s.config.active = "blue";
        await s.upOk();
        assert.equal(await s.servedColor(), "blue");
        assert.equal(s.proc()!.reloads, reloads, "runtime API flip, no reload");
        assert.match(s.history().at(-1)!, / blue aaa2001$/);
    });

    it("the cleanup guard reads the live color inside the instance", async () => {
        // Someone switched to green inside the instance; this stale config removes green.
        s.admin(COMPONENTS.map((c) => `set server be_${c}/green weight 100; set server be_${c}/blue weight 0`).join("; "));
        spawnSync("incus", ["exec", `${s.prefix}haproxy`, "--", "tee", `${s.layout().stateDir}/active-color`], { input: "green\n" });
        s.setColors({ blue: A }, "blue");
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`refusing to delete ${s.prefix}\\w+-green: green is the active color on instance ${s.prefix}haproxy`));
        for (const c of COMPONENTS) assert.equal(instance(s.containerName(c, "green"))?.status, "Running");
        assert.equal(await s.servedColor(), "green");
        s.setColors({ blue: A, green: B }, "blue");
        const back = await s.run(["up", "--refresh"]);
        assert.equal(back.code, 0, back.stderr);
        await eventually(async () => (await s.servedColor()) === "blue", "blue again");
    });

    it("the cleanup guard fails closed while the HAProxy instance is stopped, and an up is refused", async () => {
        const hx = `${s.prefix}haproxy`;
        spawnSync("incus", ["stop", "--force", hx]);
        try {
            const guard = servingGuard(parseConfig(s.config, s.stack));
            await assert.rejects(refuseIfServing(guard, "green", s.containerName("web", "green")), (e: Error) => {
                assert.equal(isRefused(e), true);
                assert.match(
                    e.message,
                    new RegExp(
                        `cannot read the live active color from instance ${hx} .*instance ${hx} is Stopped\\. It might serve traffic\\. Start \`incus start ${hx}\``,
                    ),
                );
                return true;
            });
            assert.equal(await mightServe(guard, "green"), true);
            // The operator may say which color serves: then the other one can go.
            await refuseIfServing({ ...guard, assumeActive: "blue" }, "green", s.containerName("web", "green"));
            // Nor does an up run without the deploy lock, which lives in the instance: it says what works.
            const up = await s.run(["up"]);
            assert.notEqual(up.code, 0, up.stdout);
            assert.match(up.stderr, new RegExp(`which is Stopped, so it cannot be taken: nothing was touched\\. Start it with \`incus start ${hx}\``));
            assert.equal(instance(hx)?.status, "Stopped", "the up did not start it");
        } finally {
            spawnSync("incus", ["start", hx]);
        }
        await s.upOk();
        await eventually(async () => (await s.servedColor()) === "blue", "blue after the restart");
    });

    it("HAProxy in the instance is supervised: killed, it is back on the next up", async () => {
        // The image's init restarts it within a second; the next `up` would start it otherwise.
        const master = s.proc()!.masterPid; // a pid inside the instance's namespace
        const init = JSON.parse(spawnSync("incus", ["query", `/1.0/instances/${s.prefix}haproxy/state`], { encoding: "utf8" }).stdout).pid;
        const hostPid = fs
            .readdirSync("/proc")
            .filter((p) => /^\d+$/.test(p))
            .find((p) => {
                const stat = fs.readFileSync(`/proc/${p}/status`, "utf8");
                return (
                    /^Name:\s+haproxy$/m.test(stat) && new RegExp(`^PPid:\\s+${init}$`, "m").test(stat) && new RegExp(`^NSpid:.*\\s${master}$`, "m").test(stat)
                );
            });
        assert.ok(hostPid, "found the instance's haproxy master from the host");
        process.kill(Number(hostPid), "SIGKILL");
        await eventually(() => (s.proc()?.masterPid ?? master) !== master, "haproxy to be restarted by the instance's init");
        await s.upOk();
        await eventually(async () => (await s.servedColor()) === "blue", "blue after the restart");
    });

    it("shrinking a serving pool drains the leaving node before its proxy device goes: a long request to it finishes", async () => {
        const hx = `${s.prefix}haproxy`;
        const devices = (): string[] => Object.keys(JSON.parse(spawnSync("incus", ["query", `/1.0/instances/${hx}`], { encoding: "utf8" }).stdout).devices);
        const web = s.config.components.web;
        // A release of this file's own: the example app that answers ?holdMs (the artifact cache is shared by SHA).
        await s.publish(H);
        s.setColors({ green: H }, "green");
        s.config.components.web = { ...web, nodes: 3 };
        await s.upOk();
        await eventually(async () => (await s.servedColor()) === "green", "green's pool of 3");
        const leaving = web.hostPort + 7; // node 3 of green
        assert.ok(devices().includes(`be-${leaving}`));
        // Long requests, spread by round robin over the three nodes, in flight while the pool shrinks.
        const long = Array.from({ length: 6 }, () => longGet(`http://127.0.0.1:${s.frontendPort}/?holdMs=15000`));
        await new Promise((r) => setTimeout(r, 500));
        s.config.components.web = { ...web, nodes: 2 };
        const r = await s.up();
        const answers = await Promise.all(long);
        assert.deepEqual(
            answers.map((a) => a.status),
            answers.map(() => 200),
            `every long request finished: ${JSON.stringify(answers)}`,
        );
        assert.equal(r.code, 0, r.stderr);
        assert.ok(
            answers.some((a) => a.node === "3"),
            `a long request went to node 3: ${JSON.stringify(answers)}`,
        );
        assert.ok(!devices().includes(`be-${leaving}`), "the leaving node's proxy device is gone after the switch dropped it");
        assert.equal(instance(`${s.prefix}web-green-3`), undefined);
        await eventually(async () => (await s.servedColor()) === "green", "green's pool of 2");
    });

    it("destroy removes the instance and every container", async () => {
        const r = await s.run(["destroy"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(instance(`${s.prefix}haproxy`), undefined);
        for (const c of COMPONENTS) for (const color of ["blue", "green"]) assert.equal(instance(s.containerName(c, color)), undefined);
    });
});
