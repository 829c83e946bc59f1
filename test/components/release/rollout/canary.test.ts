import assert from "node:assert/strict";
import { canaryLoadSeconds, createStart } from "../../../../components/release/rollout/canary";
import type { CanaryPhase, CanaryRecord } from "../../../../components/model/rollout/canary";

const A = "aaa0001";
const B = "bbb0002";
const C = "ccc0003";

function rec(phase: CanaryPhase, over: Partial<CanaryRecord> = {}): CanaryRecord {
    return { release: B, from: A, color: "blue", phase, updatedAt: "2026-12-06T10:00:00.000Z", ...over };
}

describe("canary: what a create does (the resource is new: first up, or a state lost)", () => {
    it("nothing to roll: no node exists yet, or every node already runs the release", () => {
        assert.deepEqual(createStart(undefined, [undefined, undefined], "blue", B), { kind: "done" });
        assert.deepEqual(createStart(undefined, [B, B, B], "blue", B), { kind: "done" });
        assert.deepEqual(createStart(rec("done"), [B, B], "blue", B), { kind: "done" });
    });

    it("every node on another release: a canary from it, as a release change", () => {
        assert.deepEqual(createStart(undefined, [A, A], "blue", B), { kind: "canary", from: A });
    });

    it("an unfinished rollout of this release is resumed from its last-known-good, never reported done", () => {
        for (const phase of ["canary", "analysis", "peers", "paused"] as const) {
            assert.deepEqual(createStart(rec(phase), [A, B], "blue", B), { kind: "canary", from: A }, phase);
            // Even when every node already runs it: the record says the rollout did not finish.
            assert.deepEqual(createStart(rec(phase), [B, B], "blue", B), { kind: "canary", from: A }, phase);
        }
    });

    it("an unfinished rollout of another release, with its last-known-good in config: every node converges back", () => {
        assert.deepEqual(createStart(rec("paused"), [A, B], "blue", A), { kind: "converge" });
        assert.deepEqual(createStart(rec("analysis"), [A, B], "blue", A), { kind: "converge" });
    });

    it("an unfinished rollout, and config names a third release: a canary of it from the last-known-good", () => {
        assert.deepEqual(createStart(rec("peers"), [A, B], "blue", C), { kind: "canary", from: A });
    });

    it("nodes on mixed releases without a record: a canary from the other one when config names one of them", () => {
        assert.deepEqual(createStart(undefined, [A, B, B], "blue", B), { kind: "canary", from: A });
        assert.deepEqual(createStart(rec("done", { release: A, from: C }), [A, B], "blue", B), { kind: "canary", from: A });
        assert.deepEqual(createStart(rec("rolledBack"), [A, B, undefined], "blue", A), { kind: "canary", from: B });
    });

    it("nodes on mixed releases that config cannot be rolled to from one known release: refused, naming them", () => {
        const r = createStart(undefined, [A, B], "blue", C);
        assert.equal(r.kind, "refuse");
        assert.match((r as { why: string }).why, new RegExp(`${A}.*${B}|${B}.*${A}`));
        assert.match((r as { why: string }).why, /bluegreen:colors\.blue\.release/);
    });

    it("a record of the other color does not count", () => {
        assert.deepEqual(createStart(rec("peers", { color: "green" }), [B, B], "blue", B), { kind: "done" });
    });
});

describe("canary: how long the generated load may run", () => {
    const i = { canary: { windowSeconds: 60, probeIntervalSeconds: 5 }, prometheus: { scrapeIntervalSeconds: 1 } } as never;
    it("fresh: the wait for scrapes (at most 30 s here), the window, and one probe past its end", () => {
        assert.equal(canaryLoadSeconds(i, undefined, 1_000_000), 30 + 60 + 5 + 2);
    });
    it("resumed: only the rest of the window, at least 1 s, and one probe past it", () => {
        assert.equal(canaryLoadSeconds(i, 1_000_000, 1_000_000 + 45_000), 15 + 5 + 2);
        assert.equal(canaryLoadSeconds(i, 1_000_000, 1_000_000 + 90_000), 1 + 5 + 2);
    });
});
