// RolloutRun's waits against a control record in a temp state dir (host placement: plain files).

import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { ControlRecord, RolloutRecord } from "../../../../components/model/rollout/control";
import { RolloutRun, controlPath, rolloutPath } from "../../../../components/release/rollout/control";
import { makeTmp, removeTmp } from "../../../helpers/tmp";

const ANN = { by: "ann", why: "odd", at: "2026-12-07T16:00:00.000Z" };

describe("rollout controls: RolloutRun's waits", function () {
    this.timeout(20_000);
    let dir: string;
    beforeEach(() => (dir = makeTmp()));
    afterEach(() => removeTmp(dir));

    const runOf = (holdSeconds = 10) =>
        new RolloutRun(
            { host: { placement: "host" }, stateDir: dir, audit: { host: { placement: "host" }, stateDir: dir, stack: "t" } },
            { kind: "canary", release: "a4ab0002", from: "a4ab0001", color: "blue" },
            holdSeconds,
        );
    const control = (r: RolloutRun, over: Partial<ControlRecord>) =>
        fs.writeFileSync(controlPath(dir), JSON.stringify({ runId: r.runId, promotions: 0, ...over }));
    const rollout = (): RolloutRecord => JSON.parse(fs.readFileSync(rolloutPath(dir), "utf8"));
    /** A judge that sleeps the window out on the run's clock, as runAnalysis does. */
    const judge = (windowMs: number) => async (startedAt: number, clock: { sleep(ms: number): Promise<void>; now(): number }) => {
        while (clock.now() < startedAt + windowMs) await clock.sleep(Math.min(200, startedAt + windowMs - clock.now()));
        return "green";
    };

    it("a window with no verb is judged", async () => {
        const r = runOf();
        assert.deepEqual(await r.window("w", 300, Date.now(), judge(300)), { kind: "judged", result: "green" });
        assert.equal(rollout().phase, "progressing");
    });

    it("abort ends a window within a second", async () => {
        const r = runOf();
        setTimeout(() => control(r, { aborted: ANN }), 300);
        const t0 = Date.now();
        const o = await r.window("w", 10_000, Date.now(), judge(10_000));
        assert.equal(o.kind, "aborted");
        assert.match((o as { why: string }).why, /aborted by ann: odd/);
        assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`);
    });

    it("promote skips the rest of a window", async () => {
        const r = runOf();
        setTimeout(() => control(r, { promotions: 1 }), 300);
        const t0 = Date.now();
        assert.equal((await r.window("w", 10_000, Date.now(), judge(10_000))).kind, "skipped");
        assert.ok(Date.now() - t0 < 1500);
    });

    it("pause stops the window's clock; resume goes on with the time that was left", async () => {
        const r = runOf();
        const moved: number[] = [];
        const start = Date.now();
        setTimeout(() => control(r, { paused: ANN }), 400);
        setTimeout(() => {
            const rec = rollout();
            assert.equal(rec.phase, "paused");
            assert.equal(rec.paused?.by, "ann");
            assert.ok(rec.remainingMs! > 1000 && rec.remainingMs! <= 1700, `remaining ${rec.remainingMs}`);
            control(r, {});
        }, 2400);
        const o = await r.window("w", 2000, start, judge(2000), async (s) => void moved.push(s));
        assert.equal(o.kind, "judged");
        const took = Date.now() - start;
        // 2 s of window plus about 2 s held.
        assert.ok(took >= 3500 && took < 5500, `took ${took} ms`);
        assert.equal(moved.length, 1);
        assert.ok(moved[0] - start >= 1500, `startedAt moved by ${moved[0] - start} ms`);
    });

    it("a manual gate waits for promote; a record of another run is ignored", async () => {
        const r = runOf();
        fs.writeFileSync(controlPath(dir), JSON.stringify({ runId: "other", promotions: 9, aborted: ANN }));
        setTimeout(() => assert.equal(rollout().phase, "gated"), 600);
        setTimeout(() => control(r, { promotions: 1 }), 900);
        const t0 = Date.now();
        assert.equal((await r.gate("gate")).kind, "skipped");
        assert.ok(Date.now() - t0 >= 800);
    });

    it("a gate times out into a rollback", async () => {
        const r = runOf(1);
        const o = await r.gate("gate");
        assert.equal(o.kind, "aborted");
        assert.match((o as { why: string }).why, /past gateTimeoutSeconds \(1 s\)/);
    });

    it("a pause during a gate holds it; resume does not open it", async () => {
        const r = runOf();
        setTimeout(() => control(r, { paused: ANN }), 200);
        setTimeout(() => control(r, {}), 800);
        setTimeout(() => control(r, { aborted: ANN }), 1600);
        const o = await r.gate("gate");
        assert.equal(o.kind, "aborted");
    });

    it("promote --full skips later windows and gates", async () => {
        const r = runOf();
        control(r, { promotions: 1, full: ANN });
        assert.equal((await r.window("w", 10_000, Date.now(), judge(10_000))).kind, "skipped");
        assert.equal((await r.gate("g")).kind, "skipped");
        assert.equal((await r.window("w2", 10_000, Date.now(), judge(10_000))).kind, "skipped");
    });

    it("finish and close end the record; close leaves a finished one alone", async () => {
        const r = runOf();
        await r.write({ step: "x" });
        await r.close();
        assert.equal(rollout().phase, "rolledBack");
        const d = runOf();
        await d.finish("done");
        await d.close();
        assert.equal(JSON.parse(fs.readFileSync(path.join(dir, "rollout.json"), "utf8")).phase, "done");
    });
});
