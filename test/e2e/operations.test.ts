// Issue 12 end to end, through the runner on real Incus and HAProxy: hooks as
// @pulumi/command local.Commands, the deploy lock on the HAProxy host, the audit log and
// its broadcast.

import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { RunResult, TestStack, instance } from "../../harness/stack";

const A = "aaa1201";
const B = "bbb1202";
const C = "ccc1203";

function lines(file: string): string[] {
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
}

describe("e2e: hooks, the deploy lock, the audit log", function () {
    this.timeout(600_000);
    const s = new TestStack({ name: "ops", basePort: 20300 });
    const hooks = path.join(s.dir, "hooks");
    const ran = path.join(s.dir, "ran.log");
    const broadcast = path.join(s.dir, "broadcast.log");
    const audit = () => lines(path.join(s.layout().stateDir, "audit.jsonl")).map((l) => JSON.parse(l));
    const lockFile = () => path.join(s.layout().stateDir, "lock.json");

    /** A hook that appends its name and its BLUEGREEN_* variables, one JSON line, to ran.log. */
    const recorder = (name: string) => {
        const file = path.join(hooks, name);
        fs.writeFileSync(
            file,
            `#!/bin/sh\nnode -e 'const e={};for(const[k,v]of Object.entries(process.env))if(k.startsWith("BLUEGREEN_"))e[k]=v;require("fs").appendFileSync(process.argv[1],JSON.stringify({hook:process.argv[2],env:e})+"\\n")' ${ran} ${name}\n`,
            { mode: 0o755 },
        );
        return file;
    };
    const runs = () => lines(ran).map((l) => JSON.parse(l) as { hook: string; env: Record<string, string> });

    before(async () => {
        s.reset();
        fs.mkdirSync(hooks, { recursive: true });
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/" } };
        for (const r of [A, B, C]) await s.publishOne("web", r);
        s.config.hooks = {
            preDeploy: recorder("preDeploy"),
            postDeploy: recorder("postDeploy"),
            preSwitch: recorder("preSwitch"),
            postSwitch: recorder("postSwitch"),
        };
        s.config.broadcast = `echo "$BLUEGREEN_OPERATION $BLUEGREEN_COLOR $BLUEGREEN_RELEASE $BLUEGREEN_PERFORMER" >> ${broadcast}`;
        s.setColors({ blue: A }, "blue");
    });
    after(() => s.teardown());

    it("a first deploy runs each hook once at its moment, and a post-switch hook sees the right BLUEGREEN_* variables", async () => {
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(
            runs().map((x) => x.hook),
            ["preDeploy", "postDeploy", "preSwitch", "postSwitch"],
        );
        const post = runs().find((x) => x.hook === "postSwitch")!.env;
        assert.equal(post.BLUEGREEN_STACK, s.stack);
        assert.equal(post.BLUEGREEN_OPERATION, "switch");
        assert.equal(post.BLUEGREEN_COLOR, "blue");
        assert.equal(post.BLUEGREEN_ACTIVE, "blue");
        assert.equal(post.BLUEGREEN_RELEASE, A);
        assert.ok(post.BLUEGREEN_PERFORMER && post.BLUEGREEN_PERFORMER.length > 0);
        assert.match(post.BLUEGREEN_TIME!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        assert.match(post.BLUEGREEN_RUNTIME!, /^\d+$/);
        assert.equal(post.BLUEGREEN_PREVIOUS_RELEASE, undefined, "nothing served before the first switch");
    });

    it("a no-op up runs no hook", async () => {
        const before = runs().length;
        const r = await s.run(["up"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /Resources: \d+ unchanged$/m);
        assert.equal(runs().length, before);
    });

    it("a deploy and a switch to green: the switch hooks see the previous release, with BLUEGREEN_PERFORMER", async () => {
        fs.rmSync(ran, { force: true });
        s.setColors({ blue: A, green: B }, "blue");
        const d = await s.run(["up"]);
        assert.equal(d.code, 0, d.stderr);
        assert.deepEqual(
            runs().map((x) => `${x.hook} ${x.env.BLUEGREEN_COLOR}`),
            ["preDeploy green", "postDeploy green"],
            "deploying green runs green's deploy hooks only",
        );
        s.config.active = "green";
        const sw = await s.start(["up"], undefined, { BLUEGREEN_PERFORMER: "ci-bot" }).done;
        assert.equal(sw.code, 0, sw.stderr);
        const post = runs()
            .filter((x) => x.hook === "postSwitch")
            .at(-1)!.env;
        assert.equal(post.BLUEGREEN_COLOR, "green");
        assert.equal(post.BLUEGREEN_RELEASE, B);
        assert.equal(post.BLUEGREEN_PREVIOUS_RELEASE, A);
        assert.equal(post.BLUEGREEN_PERFORMER, "ci-bot");
        assert.deepEqual(
            runs().map((x) => x.hook),
            ["preDeploy", "postDeploy", "preSwitch", "postSwitch"],
            "a switch is not a deploy",
        );
    });

    it("a pre-deploy hook that exits 3 aborts up: no container is created, traffic is unchanged, its output is in the error", async () => {
        const failing = path.join(hooks, "fail");
        fs.writeFileSync(failing, "#!/bin/sh\necho 'CI is red for this release' >&2\nexit 3\n", { mode: 0o755 });
        s.config.hooks = { ...s.config.hooks, preDeploy: failing };
        s.setColors({ blue: C, green: B }, "green");
        const before = instance(s.containerName("web", "blue"))!.createdAt;
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /exit status 3/);
        assert.match(r.stderr, /CI is red for this release/);
        assert.match(r.stderr, /error: up failed:/);
        assert.equal(instance(s.containerName("web", "blue"))!.createdAt, before, "blue was not replaced");
        assert.equal(instance(s.containerName("web", "blue"))!.config["user.bluegreen.release"], A);
        assert.equal(await s.servedColor(), "green");
        s.config.hooks = { ...s.config.hooks, preDeploy: path.join(hooks, "preDeploy") };
        s.setColors({ blue: A, green: B }, "green");
        assert.equal((await s.up()).code, 0);
    });

    it("a lock held by hand refuses up with who and the message; releasing it lets up through", async () => {
        const held = await s.start(["lock", "acquire", "-m", "db maintenance until 14:00"], undefined, { BLUEGREEN_PERFORMER: "ana" }).done;
        assert.equal(held.code, 0, held.stderr);
        assert.match(held.stdout, new RegExp(`locked stack ${s.stack}: ana since`));
        const st = await s.run(["lock", "status", "--json"]);
        assert.equal(JSON.parse(st.stdout).state, "held");
        s.setColors({ blue: C, green: B }, "green");
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(
            r.stderr,
            new RegExp(`the deploy lock of stack ${s.stack} is held by ana since \\S+, by hand \\(lock acquire\\): "db maintenance until 14:00"`),
        );
        assert.match(r.stderr, new RegExp(`lock release --stack ${s.stack}`));
        assert.equal(instance(s.containerName("web", "blue"))!.config["user.bluegreen.release"], A, "nothing was touched");
        const pr = await s.run(["preview", "--refresh"]);
        assert.notEqual(pr.code, 0, "preview --refresh is refused too");
        assert.match(pr.stderr, /held by ana/);
        const rel = await s.run(["lock", "release"]);
        assert.equal(rel.code, 0, rel.stderr);
        const ok = await s.up();
        assert.equal(ok.code, 0, ok.stderr);
        assert.equal(instance(s.containerName("web", "blue"))!.config["user.bluegreen.release"], C);
    });

    it("up --lock-wait waits for a held lock, saying who holds it, and goes on once it is freed", async () => {
        assert.equal((await s.start(["lock", "acquire", "-m", "hold on"], undefined, { BLUEGREEN_PERFORMER: "bo" }).done).code, 0);
        s.setColors({ blue: A, green: B }, "green");
        let released: Promise<unknown> | undefined;
        const run = s.start(["up", "--lock-wait", "30"], (err) => {
            if (!released && /lock: held by bo since .*"hold on"; waiting, \d+ s left/.test(err)) released = s.run(["lock", "release"]);
        });
        const r = await run.done;
        assert.ok(released, r.stderr);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(instance(s.containerName("web", "blue"))!.config["user.bluegreen.release"], A);
    });

    it("two concurrent ups from two state backends: exactly one proceeds", async () => {
        // A second checkout: the same stack, its own copy of the state.
        const other = path.join(s.dir, "state2");
        fs.cpSync(path.join(s.dir, "state"), other, { recursive: true });
        // The first holds the lock in its preDeploy hook until the second has ended, so the two
        // overlap however fast an up is (a no-op up holds the lock for well under a second).
        const gate = path.join(s.dir, "gate");
        const hold = path.join(hooks, "hold");
        fs.writeFileSync(hold, `#!/bin/sh\ni=0\nwhile [ ! -e ${gate} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done\n`, { mode: 0o755 });
        const saved = s.config.hooks;
        s.config.hooks = { ...saved, preDeploy: hold };
        s.setColors({ blue: C, green: B }, "green");
        let second: Promise<RunResult> | undefined;
        const first = s.start(["up"], (err) => {
            if (!second && err.includes(`lock: stack ${s.stack} is locked for this run`)) {
                second = s.start(["up"], undefined, { PULUMI_BACKEND_URL: `file://${other}` }).done;
            }
        });
        try {
            for (let i = 0; i < 600 && !second; i++) await new Promise((r) => setTimeout(r, 100));
            assert.ok(second, "the first up took the lock");
            const r2 = await second;
            fs.writeFileSync(gate, "");
            const r1 = await first.done;
            assert.equal(r1.code, 0, `${r1.stderr}\n----\n${r2.stderr}`);
            assert.notEqual(r2.code, 0, `${r1.stderr}\n----\n${r2.stderr}`);
            assert.match(r2.stderr, new RegExp(`the deploy lock of stack ${s.stack} is held by .* by an up \\(pid \\d+ on `));
        } finally {
            fs.writeFileSync(gate, "");
            await first.done;
            s.config.hooks = saved;
        }
    });

    it("a killed up leaves a lock that is recognised as stale, and `lock release --force` clears it", async () => {
        s.setColors({ blue: C, green: B }, "green");
        const run = s.start(["up"], (err, child) => {
            if (err.includes(`lock: stack ${s.stack} is locked for this run`)) child.kill("SIGKILL");
        });
        const killed = await run.done;
        assert.equal(killed.code, 137, killed.stderr);
        assert.ok(fs.existsSync(lockFile()), "the killed run left its lock");
        // The provider host dies with the runner (its stdin closes); give it a moment.
        let st: any;
        for (let i = 0; i < 50; i++) {
            st = JSON.parse((await s.run(["lock", "status", "--json"])).stdout);
            if (st.state === "stale") break;
            await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(st.state, "stale");
        assert.match(st.why, /its process \d+ on .* is gone/);
        const plain = await s.run(["lock", "release"]);
        assert.notEqual(plain.code, 0);
        assert.match(plain.stderr, /ended without freeing it .*lock release --force/);
        const forced = await s.run(["lock", "release", "--force"]);
        assert.equal(forced.code, 0, forced.stderr);
        assert.equal(fs.existsSync(lockFile()), false);
        const ok = await s.up();
        assert.equal(ok.code, 0, ok.stderr);
    });

    it("the audit log has the whole cycle in order, in UTC, and the broadcast received every event", async () => {
        const events = audit();
        for (const e of events) {
            assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
            assert.equal(e.stack, s.stack);
            assert.ok(e.performer);
        }
        const ops = events.map((e) => `${e.operation}${e.color ? ` ${e.color}` : ""}${e.release ? ` ${e.release}` : ""}`);
        const at = (what: string, from = 0) => {
            const i = ops.indexOf(what, from);
            assert.ok(i >= 0, `${what} in\n${ops.join("\n")}`);
            return i;
        };
        const deploy = at(`deploy blue ${A}`);
        const switched = at(`switch blue ${A}`, deploy);
        const green = at(`deploy green ${B}`, switched);
        const flip = at(`switch green ${B}`, green);
        at(`cleanup blue ${A}`, flip);
        at(`deploy blue ${C}`, flip);
        assert.ok(
            ops.some((o) => o.startsWith("hook")),
            "hooks are audited",
        );
        assert.ok(events.some((e) => e.operation === "lock" && e.details.action === "acquire" && e.details.kind === "manual"));
        assert.ok(events.some((e) => e.operation === "lock" && e.details.action === "force-release"));
        // The cycle's own events are in time order (concurrent writers may append a few ms out of order).
        const cycle = [deploy, switched, green, flip].map((i) => Date.parse(events[i].time));
        assert.deepEqual(
            [...cycle].sort((x, y) => x - y),
            cycle,
            "the cycle is in time order",
        );
        // Every event but the hooks' own lines (written by the hook runner, not broadcast).
        const told = lines(broadcast);
        const expected = events.filter((e) => e.operation !== "hook").map((e) => `${e.operation} ${e.color ?? ""} ${e.release ?? ""} ${e.performer}`);
        assert.deepEqual(told, expected);
    });

    it("status shows the lock and the last audit lines", async () => {
        const st = await s.run(["status", "--json"]);
        assert.equal(st.code, 0, st.stderr);
        const j = JSON.parse(st.stdout);
        assert.ok(["free", "stale"].includes(j.lock.state), j.lock.state);
        assert.ok(j.audit.length > 0);
        assert.deepEqual(j.audit.at(-1), audit().at(-1));
        const text = await s.run(["status"]);
        assert.match(text.stdout, /audit \(last lines\):\n {2}\S+ \S+ /);
    });
});

describe("e2e: release retention never deletes a rollback target", function () {
    this.timeout(300_000);
    const s = new TestStack({ name: "keep", basePort: 20400 });
    const R = Array.from({ length: 10 }, (_, n) => `${n + 1}`.padStart(2, "0").padEnd(7, "a"));
    const stored = () =>
        fs
            .readdirSync(path.join(s.artifactsDir, "web"))
            .filter((n) => !n.startsWith("."))
            .sort();

    before(async () => {
        s.reset();
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/" } };
        // Published in order, a second apart: "newest" is the publish time.
        for (const [n, r] of R.entries()) {
            await s.publishOne("web", r);
            const t = new Date(Date.UTC(2026, 11, 1, 0, 0, n));
            fs.utimesSync(path.join(s.artifactsDir, "web", r), t, t);
        }
        s.setColors({ blue: R[0]! }, "blue");
        await s.upOk();
        s.setColors({ blue: R[0]!, green: R[1]! }, "blue");
        await s.upOk();
        s.config.active = "green";
        await s.upOk();
    });
    after(() => s.teardown());

    it("keeps the newest N, what the colors run and the previous active release across 10 releases, and prunes the rest", async () => {
        s.setColors({ blue: R[2]!, green: R[1]! }, "green");
        s.config.retain = { releases: 2 };
        const preview = await s.run(["preview"]);
        assert.equal(preview.code, 0, preview.stderr);
        assert.match(preview.stderr, new RegExp(`retention: web: up will prune ${R.slice(3, 8).join(", ")}`));
        assert.equal(stored().length, 10, "preview deletes nothing");
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        // R1 served before R2 (the previous active), R2 serves, R3 is blue's; R9 and R10 are the newest.
        assert.deepEqual(stored(), [R[0], R[1], R[2], R[8], R[9]].sort());
        assert.match(r.stderr, new RegExp(`retention: web: pruned ${R.slice(3, 8).join(", ")}`));
        const again = await s.run(["up"]);
        assert.equal(again.code, 0, again.stderr);
        assert.doesNotMatch(again.stderr, /retention: web/, "nothing more to prune");
    });

    it("a full rollback to a pruned release is refused before anything is stopped", async () => {
        const before = instance(s.containerName("web", "blue"))!;
        s.setColors({ blue: R[4]!, green: R[1]! }, "green");
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`release ${R[4]} of web is not in artifact directory .*Nothing was touched`));
        const after = instance(s.containerName("web", "blue"))!;
        assert.equal(after.createdAt, before.createdAt);
        assert.equal(after.status, "Running");
        assert.equal(after.config["user.bluegreen.release"], R[2]);
    });
});

describe("e2e: boot in groups", function () {
    this.timeout(300_000);
    const s = new TestStack({ name: "boot", basePort: 20450 });
    const base = s.componentPort("backend", "blue");
    const nodes = [1, 2, 3, 4];
    const names = nodes.map((n) => `${s.prefix}web-blue-${n}`);
    const ports = nodes.map((n) => base + 2 * n);

    before(async () => {
        s.reset();
        s.config.components = { web: { hostPort: base, route: "/", nodes: 4 } };
        s.config.boot = { limit: 2, waitSeconds: 1 };
        await s.publishOne("web", A);
        s.setColors({ blue: A }, "blue");
    });
    after(() => s.teardown());

    it("with 4 nodes and limit 2, no more than 2 are ever starting at once (observed through Incus and their health ports)", async () => {
        const run = s.start(["up"]);
        let exited = false;
        const done = run.done.then((r) => {
            exited = true;
            return r;
        });
        const healthy = async (port: number) => {
            try {
                const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(500) });
                await r.text();
                return r.status === 200;
            } catch {
                return false;
            }
        };
        let maxStarting = 0;
        const firstSeen: Record<string, number> = {};
        const healthyAt: Record<string, number> = {};
        // Bounded: the up ends well within 3000 ticks of about 100 ms.
        for (let tick = 0; tick < 3000 && !exited; tick++) {
            const list = spawnSync("incus", ["list", "--format", "json"], { encoding: "utf8" });
            const present = new Set<string>((JSON.parse(list.stdout || "[]") as { name: string }[]).map((i) => i.name));
            let starting = 0;
            for (const [k, name] of names.entries()) {
                if (!present.has(name)) continue;
                firstSeen[name] ??= Date.now();
                if (healthyAt[name] === undefined && (await healthy(ports[k]!))) healthyAt[name] = Date.now();
                if (healthyAt[name] === undefined) starting++;
            }
            maxStarting = Math.max(maxStarting, starting);
            await new Promise((r) => setTimeout(r, 50));
        }
        const r = await done;
        assert.equal(r.code, 0, r.stderr);
        assert.ok(maxStarting <= 2, `at most 2 starting at once, saw ${maxStarting}`);
        assert.equal(maxStarting, 2, "the first group really starts 2 together");
        // Group 2 appears only after group 1 is healthy, and after the pause.
        const group1Healthy = Math.max(healthyAt[names[0]!]!, healthyAt[names[1]!]!);
        assert.ok(firstSeen[names[2]!]! >= group1Healthy, "node 3 waited for nodes 1 and 2");
        assert.ok(firstSeen[names[3]!]! >= group1Healthy, "node 4 waited for nodes 1 and 2");
        assert.match(r.stderr, /web-blue-3: boot group waits 1 s/);
        assert.doesNotMatch(r.stderr, /web-blue-[12]: boot group waits/);
    });
});
