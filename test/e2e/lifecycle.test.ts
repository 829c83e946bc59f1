// Issue 2 end to end, through the runner on the real local Incus host: containers
// come up healthy, a release change replaces them, a removed color goes away, an
// unchanged `up` is a no-op, a broken release fails and is kept, preview touches nothing.

import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import { COMPONENTS, TestStack, eventually, httpGet, instance } from "../../harness/stack";

const A = "aaa0001";
const B = "bbb0002";
const C = "ccc0003";
const BROKEN = "dead004";

describe("e2e: color containers through the runner", function () {
    this.timeout(300_000);
    const s = new TestStack({ name: "life", basePort: 19100 });

    before(async () => {
        s.reset();
        await s.publish(A);
        await s.publish(B);
        await s.publish(C);
        await s.publish(BROKEN, "health");
    });
    after(async () => s.teardown());

    it("preview from nothing plans every create and touches nothing", async () => {
        s.setColors({ blue: A }, "blue");
        const r = await s.run(["preview", "--json"]);
        assert.equal(r.code, 0, r.stderr);
        const plan = JSON.parse(r.stdout);
        assert.deepEqual(
            plan.steps.map((x: any) => `${x.op} ${x.name}`).sort(),
            [
                "create backend-blue",
                "create stream-blue",
                "create web-blue",
                `create ${s.prefix}haproxy`,
                `create ${s.prefix}lock`,
                `create ${s.prefix}switch`,
                `create ${s.prefix}unlock`,
            ].sort(),
        );
        for (const c of COMPONENTS) assert.equal(instance(s.containerName(c, "blue")), undefined, "preview created nothing");
        assert.equal(fs.existsSync(s.statePath()), false, "preview wrote no state");
    });

    it("up from nothing: every container RUNNING and healthy on loopback with its release", async () => {
        const out = await s.upOk();
        assert.equal(out.activeColor, "blue");
        assert.deepEqual(out.releases, { blue: A });
        assert.equal(out.url, `http://127.0.0.1:${s.frontendPort}/`);
        for (const c of COMPONENTS) {
            const inst = instance(s.containerName(c, "blue"));
            assert.equal(inst?.status, "Running", c);
            assert.equal(inst?.config["user.bluegreen.release"], A);
            const h = await httpGet(`http://127.0.0.1:${s.componentPort(c, "blue")}/health`);
            assert.deepEqual(h, { status: 200, color: "blue", release: A }, c);
        }
    });

    it("a second up with nothing changed is a no-op", async () => {
        const before = COMPONENTS.map((c) => instance(s.containerName(c, "blue"))!.createdAt);
        const r = await s.run(["up"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /Resources: 7 unchanged/);
        assert.doesNotMatch(r.stdout, /: (create|update|replace|delete)/);
        assert.deepEqual(
            COMPONENTS.map((c) => instance(s.containerName(c, "blue"))!.createdAt),
            before,
        );
    });

    it("adding a color creates its containers next to the live ones", async () => {
        s.setColors({ blue: A, green: B });
        await s.upOk();
        for (const c of COMPONENTS) {
            assert.equal(instance(s.containerName(c, "green"))?.status, "Running");
            assert.equal((await httpGet(`http://127.0.0.1:${s.componentPort(c, "green")}/health`)).release, B);
        }
        assert.equal(await s.servedColor(), "blue", "adding green does not switch traffic");
    });

    it("a release that was never published is refused by preview and up; the standby color is untouched", async () => {
        const before = COMPONENTS.map((c) => instance(s.containerName(c, "green"))!.createdAt);
        s.setColors({ blue: A, green: "0badc0de" });
        for (const verb of ["preview", "up"]) {
            const r = await s.run([verb]);
            assert.notEqual(r.code, 0, `${verb} must fail`);
            assert.match(r.stderr, /release 0badc0de of \w+ is not in artifact directory .*; publish it first .*Nothing was touched/, verb);
        }
        assert.deepEqual(
            COMPONENTS.map((c) => instance(s.containerName(c, "green"))!.createdAt),
            before,
            "green's containers were not deleted",
        );
        for (const c of COMPONENTS) assert.equal(instance(s.containerName(c, "green"))?.config["user.bluegreen.release"], B);
        s.setColors({ blue: A, green: B });
    });

    it("preview of a release change shows the replacement and changes nothing", async () => {
        const stateBefore = fs.readFileSync(s.statePath(), "utf8");
        const created = instance(s.containerName("web", "green"))!.createdAt;
        s.setColors({ blue: A, green: C });
        const r = await s.run(["preview"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /\+- web-green: replace \(delete first\)\n\s+~ release: "bbb0002" => "ccc0003" \[replace\]/);
        assert.equal(fs.readFileSync(s.statePath(), "utf8"), stateBefore, "state untouched");
        assert.equal(instance(s.containerName("web", "green"))!.createdAt, created, "container untouched");
        assert.equal((await httpGet(`http://127.0.0.1:${s.componentPort("web", "green")}/health`)).release, B);
    });

    it("changing a release replaces that color's containers, which serve the new release", async () => {
        const before = COMPONENTS.map((c) => instance(s.containerName(c, "green"))!.createdAt);
        const blueBefore = COMPONENTS.map((c) => instance(s.containerName(c, "blue"))!.createdAt);
        s.setColors({ blue: A, green: C });
        const out = await s.upOk();
        assert.deepEqual(out.releases, { blue: A, green: C });
        COMPONENTS.forEach((c, i) => assert.notEqual(instance(s.containerName(c, "green"))!.createdAt, before[i], `${c}-green replaced`));
        assert.deepEqual(
            COMPONENTS.map((c) => instance(s.containerName(c, "blue"))!.createdAt),
            blueBefore,
            "blue untouched",
        );
        for (const c of COMPONENTS) {
            assert.deepEqual(await httpGet(`http://127.0.0.1:${s.componentPort(c, "green")}/health`), { status: 200, color: "green", release: C });
        }
    });

    it("changing the release of the color that serves traffic is refused", async () => {
        s.setColors({ blue: B, green: C });
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /refusing to delete t\w+-\w+-blue: blue is the active color/);
        assert.match(r.stderr, /set it on green \(bluegreen:colors\.green\.release\)/);
        // It ends cleanly: the switch that depends on blue is reported as skipped, and the last
        // lines are the failing resources with the provider's message.
        assert.doesNotMatch(r.stderr, /never finished registering/);
        assert.match(r.stderr, /Skipped \(\d+\):\n(?: {2}- .*\n)*? {2}- \S*switch: update \(depends on [\w, -]*-blue[\w, -]*, which did not complete\)\n/);
        assert.match(r.stderr, /\nerror: up failed:\n(?: {2}\S+-blue: replace failed: refusing to delete t\w+-\w+-blue: blue is the active color.*\n)+$/);
        for (const c of COMPONENTS) assert.equal(instance(s.containerName(c, "blue"))?.config["user.bluegreen.release"], A);
        assert.equal(await s.servedColor(), "blue");
        s.setColors({ blue: A, green: C });
    });

    it("a broken release fails the up, keeps its containers for forensics and leaves traffic alone", async () => {
        s.setColors({ blue: A, green: BROKEN });
        const r = await s.up();
        assert.notEqual(r.code, 0, "up must fail");
        assert.match(r.stderr, /stayed unhealthy after \d+ health checks .*HTTP 500/);
        assert.match(r.stderr, /kept for forensics/);
        for (const c of COMPONENTS) {
            const inst = instance(s.containerName(c, "green"));
            assert.equal(inst?.status, "Running", `${c}-green kept`);
            assert.equal(inst?.config["user.bluegreen.release"], BROKEN);
        }
        const kept = s.state().resources.filter((x: any) => x.name.endsWith("-green"));
        assert.equal(kept.length, 3);
        for (const k of kept) {
            assert.equal(k.id, s.containerName(k.name.replace(/-green$/, ""), "green"), "state keeps the id");
            assert.match(k.initErrors[0], /stayed unhealthy/);
        }
        assert.equal(await s.servedColor(), "blue");
    });

    it("removing a color deletes its containers", async () => {
        s.setColors({ blue: A });
        const out = await s.upOk();
        assert.deepEqual(out.releases, { blue: A });
        for (const c of COMPONENTS) assert.equal(instance(s.containerName(c, "green")), undefined, `${c}-green gone`);
        assert.equal(s.state().resources.filter((x: any) => x.name.endsWith("-green")).length, 0);
        assert.equal(await s.servedColor(), "blue");
    });

    it("refresh shows a container deleted by hand, and the next up recreates it", async () => {
        const name = s.containerName("stream", "blue");
        // The live color is guarded by the product, not by Incus: an operator can still delete by hand.
        spawnSync("incus", ["delete", "--force", name]);
        const r = await s.run(["refresh"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /stream-blue: gone \(deleted outside Pulumi\)/);
        await s.upOk();
        assert.equal(instance(name)?.status, "Running");
        // HAProxy's own checks (rise 2, downinter 250ms) bring the recreated server back within seconds.
        await eventually(async () => (await s.servedColor()) === "blue", "blue to serve /stream again");
    });

    it("a container stopped by hand: up --refresh shows it stopped, then starts it", async () => {
        const name = s.containerName("web", "blue");
        spawnSync("incus", ["stop", "--force", name]);
        const r = await s.run(["up", "--refresh"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /status: "Running" => "Stopped"/, "refresh shows the drift");
        assert.match(r.stderr, new RegExp(`${name}: Stopped; starting it`));
        assert.equal(instance(name)?.status, "Running");
        await eventually(async () => (await s.servedColor()) === "blue", "blue to serve / again");
    });

    it("destroy removes everything, the switch first (even though stream-blue was recreated after it)", async () => {
        const r = await s.run(["destroy"]);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(r.stdout.indexOf(`${s.prefix}switch: delete`) < r.stdout.indexOf("stream-blue: delete"), r.stdout);
        for (const c of COMPONENTS) assert.equal(instance(s.containerName(c, "blue")), undefined);
        assert.deepEqual(s.state().resources, []);
    });
});
