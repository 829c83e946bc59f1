// Issue 22, sticky sessions: bluegreen:progressive.sticky: cookie on real Incus, HAProxy and
// Prometheus, under wrk load. During a 20% step, a client with the cookie stays on the color it
// landed on; a shift cut short leaves the split and the stickiness; flipping back (the rollback)
// moves every client, the green cookie's too, to blue at once; a full shift moves blue's cookies
// to green. wrk runs throughout, with and without a cookie, and no request fails. Then
// bluegreen:canary.sticky: during a canary window each cookie client sees one release.

import assert from "node:assert/strict";
import * as http from "http";
import * as path from "path";
import { ChildProcess } from "child_process";
import { LoadOptions, LoadResult, RunningLoad, startLoad } from "../../harness/load";
import { TestStack, eventually } from "../../harness/stack";
import { stopPrometheus } from "../../components/release/rollout/prometheus";
import { stickyCookie } from "../../components/model/edge/sticky";

const A = "a5c3e001";
const B = "b5c3e002";
const C = "c5c3e003";
const COOKIE = stickyCookie("web");

interface Answer {
    readonly color: string;
    readonly release?: string;
    /** The value of the persistence cookie HAProxy set, if it set one. */
    readonly set?: string;
}

function get(port: number, cookie?: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
        const req = http.get(
            `http://127.0.0.1:${port}/`,
            { agent: false, timeout: 15_000, headers: { connection: "close", ...(cookie ? { cookie: `${COOKIE}=${cookie}` } : {}) } },
            (res) => {
                res.resume();
                res.on("end", () => {
                    const set = ((res.headers["set-cookie"] ?? []) as string[]).map((c) => new RegExp(`^${COOKIE}=([^;]+)`).exec(c)?.[1]).find(Boolean);
                    resolve({
                        color: (res.headers["x-bluegreen-color"] as string) ?? `HTTP ${res.statusCode}`,
                        release: res.headers["x-bluegreen-release"] as string | undefined,
                        ...(set ? { set } : {}),
                    });
                });
            },
        );
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
    });
}

type Browser = { landed: string; seen: string[] };

/**
 * Browsers, each landing once without a cookie, then asking `again` times with the cookie it got,
 * until `each` of them landed on every one of `on` (what `key` reads of an answer), within
 * `maxClients` landings: a small sample that still sees both sides of a 20% split.
 */
async function browsers(
    port: number,
    o: { on: readonly string[]; each: number; again: number; maxClients: number; key?: (a: Answer) => string },
): Promise<Browser[]> {
    const key = o.key ?? ((a: Answer) => a.color);
    const out: Browser[] = [];
    for (let k = 0; k < o.maxClients && o.on.some((v) => out.filter((b) => b.landed === v).length < o.each); k++) {
        const first = await get(port);
        assert.ok(first.set, `HAProxy set ${COOKIE} on a cookieless request (${JSON.stringify(first)})`);
        const landed = key(first);
        // Enough of this side already: its cookie is not asked again.
        if (out.filter((b) => b.landed === landed).length >= o.each) continue;
        const seen: string[] = [];
        for (let n = 0; n < o.again; n++) seen.push(key(await get(port, first.set)));
        out.push({ landed, seen });
    }
    return out;
}

/** A paced load's request count follows its length, and the checks run beside it can end in a second: it runs `ms` at least. */
async function lastsAtLeast(ms: number, from: number): Promise<void> {
    await new Promise((r) => setTimeout(r, Math.max(0, ms - (Date.now() - from))));
}

function noFailures(name: string, res: LoadResult, atLeast = 50): void {
    assert.ok(res.requests > atLeast, `${name}: enough requests (${JSON.stringify(res)})`);
    assert.deepEqual(
        { status: res.status, connect: res.connect, read: res.read, write: res.write, timeout: res.timeout },
        { status: 0, connect: 0, read: 0, write: 0, timeout: 0 },
        `${name}: no failed request (${JSON.stringify(res)})`,
    );
}

describe("e2e: sticky sessions during a progressive shift (bluegreen:progressive.sticky)", function () {
    this.timeout(600_000);
    const s = new TestStack({ name: "sticky", basePort: 24300 });
    const promDir = () => path.join(s.haproxyDir, "prometheus");
    const url = () => `http://127.0.0.1:${s.frontendPort}/`;
    // Every wrk started, so a failed assertion never leaves one running.
    const running: RunningLoad[] = [];
    const load = (o: Omit<LoadOptions, "url" | "connections" | "threads" | "keepAlive" | "pauseMs">): RunningLoad => {
        const l = startLoad({ url: url(), connections: 2, threads: 1, keepAlive: true, pauseMs: 10, ...o });
        running.push(l);
        return l;
    };
    afterEach(async () => {
        for (const l of running.splice(0)) await l.stop().catch(() => undefined);
    });

    before(async () => {
        await stopPrometheus(promDir()).catch(() => undefined);
        s.reset();
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/" } };
        s.config.prometheus = { port: s.frontendPort + 5, scrapeIntervalSeconds: 1 };
        s.config.progressive = {
            steps: [20, 100],
            stepSeconds: 30,
            probeIntervalSeconds: 2,
            minRequests: 3,
            // Loose: a loaded machine must not roll the step back while it is measured.
            p95Seconds: 2,
            errorRatio: 0.05,
            sticky: "cookie",
        };
        for (const r of [A, B]) await s.publishOne("web", r);
        s.setColors({ blue: A, green: B }, "blue");
        await s.upOk();
    });
    after(async () => {
        await s.teardown();
        await stopPrometheus(promDir()).catch(() => undefined);
    });

    it("in a 20% step each cookie client stays on its color; cut short, the split and the stickiness stay; the rollback moves green's cookies to blue at once", async () => {
        const plain = load({});
        let child: ChildProcess | undefined;
        let stepped = false;
        let exited = false;
        // A step far longer than its measure: the run is killed in it, so its length costs nothing.
        s.config.progressive = { ...s.config.progressive, stepSeconds: 300 };
        s.config.active = "green";
        let err = "";
        const run = s.start(["up"], (e, c) => {
            child = c;
            err = e;
            if (/shift: step 1\/2: 20% on/.test(e)) stepped = true;
        });
        void run.done.then(() => (exited = true));
        await eventually(() => stepped || exited, "the shift's first step", 240_000);
        assert.ok(stepped && !exited, `the up reached the first step and runs: ${exited ? (await run.done).stderr : ""}`);
        // Green's cookie, as a client that landed on green carries it, under load during the step.
        const pinned = load({ headers: [`Cookie: ${COOKIE}=green`] });
        const duringFrom = Date.now();
        const during = await browsers(s.frontendPort, { on: ["blue", "green"], each: 4, again: 4, maxClients: 150 });
        await lastsAtLeast(5000, duringFrom);
        const pinnedDuring = await pinned.stop();
        const stillInStep = !exited && !/step 2\/2|all traffic is back on/.test(err);
        child!.kill("SIGKILL");
        const killed = await run.done;
        assert.ok(stillInStep, `the step lasted while it was measured:\n${killed.stderr}`);
        assert.equal(killed.code, 137, killed.stderr);

        for (const b of during) assert.deepEqual(new Set(b.seen), new Set([b.landed]), `a client that landed on ${b.landed} saw ${b.seen.join(",")}`);
        const landed = during.map((b) => b.landed);
        assert.ok(landed.includes("green") && landed.includes("blue"), `clients landed on both colors at 20%: ${landed.join(",")}`);
        assert.equal(pinnedDuring.blue, 0, `the green cookie never reached blue during the step: ${JSON.stringify(pinnedDuring)}`);
        assert.ok(pinnedDuring.green > 20, JSON.stringify(pinnedDuring));

        // The kill left the step's split, and the cookies still hold.
        const st = JSON.parse((await s.run(["status", "--json"])).stdout);
        assert.equal(st.active.served, "blue=80,green=20");
        assert.equal((await get(s.frontendPort, "green")).color, "green");

        // Back to blue (the refresh sees the killed step's split as drift): instant, and persistence to green (weight 0 now) stops with it.
        s.config.active = "blue";
        const back = await s.run(["up", "--refresh"]);
        assert.equal(back.code, 0, back.stderr);
        assert.equal(await s.servedColor(), "blue");
        const pinnedAfter = load({ headers: [`Cookie: ${COOKIE}=green`] });
        const afterFrom = Date.now();
        const after = await browsers(s.frontendPort, { on: ["blue"], each: 5, again: 4, maxClients: 5 });
        for (let n = 0; n < 20; n++) assert.equal((await get(s.frontendPort, "green")).color, "blue", "a green cookie after the rollback");
        await lastsAtLeast(5000, afterFrom);
        const pinnedRes = await pinnedAfter.stop();
        assert.equal(pinnedRes.green, 0, `no green answer after the rollback: ${JSON.stringify(pinnedRes)}`);
        assert.ok(pinnedRes.blue > 20, JSON.stringify(pinnedRes));
        assert.ok(
            after.every((b) => b.landed === "blue" && b.seen.every((c) => c === "blue")),
            JSON.stringify(after),
        );
        noFailures("cookieless", await plain.stop());
        noFailures("green cookie during the step", pinnedDuring, 20);
        noFailures("green cookie after the rollback", pinnedRes, 20);
    });

    it("a completed shift moves blue's cookies to green", async () => {
        const pinned = load({ headers: [`Cookie: ${COOKIE}=blue`] });
        // Cookieless clients too: the step's SLIs need traffic that lands on green.
        const plain = load({});
        s.config.progressive = { ...s.config.progressive, stepSeconds: 6 };
        s.config.active = "green";
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /shift: step 1\/2: 20% on/);
        assert.equal(await s.servedColor(), "green");
        for (let n = 0; n < 20; n++) assert.equal((await get(s.frontendPort, "blue")).color, "green", "a blue cookie after the shift");
        const res = await pinned.stop();
        noFailures("blue cookie through the shift", res);
        noFailures("cookieless through the shift", await plain.stop());
        assert.ok(res.green > 0, JSON.stringify(res));
    });
    it("canary.sticky: during the canary window each cookie client sees one release, while the pool serves both", async () => {
        // A pool of two on green: the canary takes node 2, its peer keeps B.
        s.config.components.web.nodes = 2;
        await s.upOk();
        await s.publishOne("web", C);
        s.config.canary = {
            // Longer than its measure: the run is killed in it.
            windowSeconds: 300,
            probeIntervalSeconds: 2,
            minRequests: 3,
            healthTimeoutSeconds: 120,
            p95Seconds: 2,
            errorRatio: 0.05,
            sticky: "cookie",
        };
        s.setColors({ blue: A, green: C }, "green");
        const plain = load({});
        let child: ChildProcess | undefined;
        let err = "";
        let exited = false;
        const run = s.start(["up"], (e, c) => {
            child = c;
            err = e;
        });
        void run.done.then(() => (exited = true));
        await eventually(() => /the window opens/.test(err) || exited, "the canary window", 240_000);
        assert.ok(!exited, `the up reached the canary window and runs:\n${err}`);
        const during = await browsers(s.frontendPort, { on: [B, C], each: 4, again: 4, maxClients: 100, key: (a) => a.release ?? "none" });
        const stillInWindow = !exited && !/rolling the peers|rolling .* back|runs on every node/.test(err);
        child!.kill("SIGKILL");
        const killed = await run.done;
        assert.ok(stillInWindow, `the window lasted while it was measured:\n${killed.stderr}`);
        for (const b of during) assert.deepEqual(new Set(b.seen), new Set([b.landed]), `a client that landed on ${b.landed} saw ${b.seen.join(",")}`);
        assert.deepEqual([...new Set(during.map((b) => b.landed))].sort(), [B, C], "clients landed on both releases");
        noFailures("cookieless through the canary window", await plain.stop());
    });
});
