import assert from "node:assert/strict";
import {
    Actor,
    ControlRecord,
    NOTHING_SEEN,
    RolloutRecord,
    RolloutState,
    applyVerb,
    controlEvents,
    describeRollout,
    rejection,
    transition,
} from "../../../../components/model/rollout/control";

const ANN: Actor = { by: "ann", why: "looks odd", at: "2026-12-07T16:00:00.000Z" };
const BOB: Actor = { by: "bob", at: "2026-12-07T16:01:00.000Z" };
const ROLLOUT: RolloutRecord = {
    runId: "r1",
    kind: "canary",
    release: "a4ab0002",
    from: "a4ab0001",
    color: "blue",
    phase: "progressing",
    step: "canary window",
    windowEndsAt: 100_000,
    updatedAt: "2026-12-07T16:00:00.000Z",
};

describe("rollout controls (pure)", () => {
    describe("transition", () => {
        const progressing: RolloutState = { phase: "progressing" };
        const table: { name: string; from: RolloutState; event: Parameters<typeof transition>[1]; phase: string; effect: string }[] = [
            { name: "abort rolls back from a window", from: progressing, event: { kind: "abort", actor: ANN }, phase: "aborted", effect: "rollBack" },
            { name: "abort rolls back from a gate", from: { phase: "gated" }, event: { kind: "abort", actor: ANN }, phase: "aborted", effect: "rollBack" },
            { name: "pause holds a window", from: progressing, event: { kind: "pause", actor: ANN }, phase: "paused", effect: "hold" },
            { name: "promote skips a window", from: progressing, event: { kind: "promote", full: false }, phase: "progressing", effect: "skip" },
            { name: "promote opens a gate", from: { phase: "gated" }, event: { kind: "promote", full: false }, phase: "progressing", effect: "skip" },
            {
                name: "promote of a paused window resumes and skips it",
                from: { phase: "paused", actor: ANN, resumeTo: "progressing" },
                event: { kind: "promote", full: false },
                phase: "progressing",
                effect: "skip",
            },
            { name: "a manual gate holds", from: progressing, event: { kind: "gate" }, phase: "gated", effect: "hold" },
            {
                name: "a gate after promote --full is skipped",
                from: { phase: "progressing", full: true },
                event: { kind: "gate" },
                phase: "progressing",
                effect: "skip",
            },
            { name: "a gate that times out rolls back", from: { phase: "gated" }, event: { kind: "gateTimeout" }, phase: "timedOut", effect: "rollBack" },
            { name: "a red window rolls back", from: progressing, event: { kind: "windowRed" }, phase: "rolledBack", effect: "rollBack" },
            { name: "resume of a running window does nothing", from: progressing, event: { kind: "resume" }, phase: "progressing", effect: "none" },
            { name: "nothing leaves an ended rollout", from: { phase: "done" }, event: { kind: "abort", actor: ANN }, phase: "done", effect: "none" },
        ];
        for (const t of table) {
            it(t.name, () => {
                const r = transition(t.from, t.event);
                assert.equal(r.state.phase, t.phase);
                assert.equal(r.effect, t.effect);
            });
        }
        it("resume goes back to what the pause held: a window or a gate", () => {
            const held = transition({ phase: "gated" }, { kind: "pause", actor: ANN }).state;
            assert.deepEqual(transition(held, { kind: "resume" }).state, { phase: "gated" });
            const win = transition(progressing, { kind: "pause", actor: ANN }).state;
            assert.deepEqual(transition(win, { kind: "resume" }).state, { phase: "progressing" });
        });
        it("promote --full is kept across a pause", () => {
            const full = transition(progressing, { kind: "promote", full: true }).state;
            const paused = transition(full, { kind: "pause", actor: ANN }).state;
            assert.deepEqual(transition(paused, { kind: "resume" }).state, { phase: "progressing", full: true });
        });
    });

    describe("controlEvents", () => {
        const rec = (over: Partial<ControlRecord> = {}): ControlRecord => ({ runId: "r1", promotions: 0, ...over });
        it("ignores a record of another run", () => {
            assert.deepEqual(controlEvents(rec({ runId: "old", aborted: ANN }), "r1", NOTHING_SEEN).events, []);
        });
        it("an abort wins over everything else", () => {
            assert.deepEqual(controlEvents(rec({ aborted: ANN, paused: BOB, promotions: 3 }), "r1", NOTHING_SEEN).events, [{ kind: "abort", actor: ANN }]);
        });
        it("pause, then resume, each once", () => {
            const a = controlEvents(rec({ paused: ANN }), "r1", NOTHING_SEEN);
            assert.deepEqual(a.events, [{ kind: "pause", actor: ANN }]);
            assert.deepEqual(controlEvents(rec({ paused: ANN }), "r1", a.seen).events, []);
            assert.deepEqual(controlEvents(rec(), "r1", a.seen).events, [{ kind: "resume" }]);
        });
        it("each promote acts once", () => {
            const a = controlEvents(rec({ promotions: 1, lastPromote: BOB }), "r1", NOTHING_SEEN);
            assert.deepEqual(a.events, [{ kind: "promote", full: false }]);
            assert.deepEqual(controlEvents(rec({ promotions: 1 }), "r1", a.seen).events, []);
            assert.deepEqual(controlEvents(rec({ promotions: 2 }), "r1", a.seen).events, [{ kind: "promote", full: false }]);
            assert.deepEqual(controlEvents(rec({ promotions: 3, full: ANN }), "r1", a.seen).events, [{ kind: "promote", full: true }]);
        });
    });

    describe("applyVerb", () => {
        const base = { rollout: ROLLOUT, lockHeld: true, control: undefined, stack: "prod" };
        it("refuses when no rollout runs, naming what to do", () => {
            for (const o of [
                { ...base, rollout: undefined },
                { ...base, lockHeld: false },
                { ...base, rollout: { ...ROLLOUT, phase: "done" as const } },
            ]) {
                const r = applyVerb(o, "abort", ANN);
                assert.ok("refused" in r);
                assert.match(r.refused, /no rollout is running on stack prod.*rollout status --stack prod/);
            }
        });
        it("addresses the running run, not an older control record", () => {
            const r = applyVerb({ ...base, control: { runId: "old", promotions: 5, aborted: BOB } }, "pause", ANN);
            assert.deepEqual(r, { record: { runId: "r1", promotions: 0, paused: ANN } });
        });
        it("pause twice is refused, naming who paused; resume clears it", () => {
            const paused = { runId: "r1", promotions: 0, paused: ANN };
            const again = applyVerb({ ...base, control: paused }, "pause", BOB);
            assert.ok("refused" in again && /already paused by ann: looks odd.*rollout resume/.test(again.refused));
            assert.deepEqual(applyVerb({ ...base, control: paused }, "resume", BOB), { record: { runId: "r1", promotions: 0 } });
            assert.ok("refused" in applyVerb(base, "resume", BOB));
        });
        it("promote counts up and lifts a pause; --full needs a reason", () => {
            const r = applyVerb({ ...base, control: { runId: "r1", promotions: 1, paused: ANN } }, "promote", BOB);
            assert.deepEqual(r, { record: { runId: "r1", promotions: 2, lastPromote: BOB } });
            const full = applyVerb(base, "promote", BOB, true);
            assert.ok("refused" in full && /needs -m/.test(full.refused));
            assert.deepEqual(applyVerb(base, "promote", ANN, true), { record: { runId: "r1", promotions: 1, lastPromote: ANN, full: ANN } });
        });
    });

    describe("describeRollout", () => {
        it("a paused window shows who paused and its frozen time left", () => {
            const text = describeRollout({ ...ROLLOUT, phase: "paused", paused: ANN, remainingMs: 42_000 }, true, 0);
            assert.match(text, /paused by ann: looks odd/);
            assert.match(text, /42s left \(clock stopped\)/);
        });
        it("a running window counts down; a dead run says so", () => {
            assert.match(describeRollout(ROLLOUT, true, 70_000), /window: 30s left/);
            assert.match(describeRollout(ROLLOUT, false, 70_000), /its up is gone/);
        });
    });
});

describe("rollout controls: rejection (pure)", () => {
    const aborted: RolloutRecord = { ...ROLLOUT, kind: "switch", from: "blue", color: "green", phase: "aborted", aborted: ANN };
    it("an aborted switch rejects its release to that color, naming both ways on", () => {
        const why = rejection(aborted, "switch", "a4ab0002", "green", "prod");
        assert.match(why!, /aborted by ann: looks odd.*Set bluegreen:active back to blue, or run `npm run local -- rollout retry --stack prod`/);
    });
    it("retry, another release, color or kind, or a finished run reject nothing", () => {
        assert.equal(rejection({ ...aborted, retried: BOB }, "switch", "a4ab0002", "green", "prod"), undefined);
        assert.equal(rejection(aborted, "switch", "a4ab0003", "green", "prod"), undefined);
        assert.equal(rejection(aborted, "shift", "a4ab0002", "green", "prod"), undefined);
        assert.equal(rejection({ ...aborted, phase: "done" }, "switch", "a4ab0002", "green", "prod"), undefined);
    });
});
