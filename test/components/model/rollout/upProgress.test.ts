import assert from "node:assert/strict";
import {
    containerHealthy,
    describeLeft,
    estimateLeftMs,
    progressLine,
    progressTick,
    startProgress,
    UpProgress,
} from "../../../../components/model/rollout/upProgress";

/** Feeds containers healthy at the given times; returns the lines printed. */
function feed(p: UpProgress, times: readonly number[], everyMs = 5000): { p: UpProgress; lines: string[] } {
    const lines: string[] = [];
    for (const t of times) {
        const r = containerHealthy(p, t, everyMs);
        p = r.next;
        if (r.line) lines.push(r.line);
    }
    return { p, lines };
}

describe("up progress (pure)", () => {
    it("estimates from the rate between the first and the last healthy container, not from the start", () => {
        // 48 creates at once: the first is healthy after 30 s, then one every 0.5 s.
        const times = Array.from({ length: 10 }, (_, i) => 30_000 + i * 500);
        const { p } = feed(startProgress(48, 0), times);
        // 38 left at 0.5 s each: 19 s. From the start (10 in 34.5 s) it would say 131 s.
        assert.equal(estimateLeftMs(p), 19_000);
    });

    it("with one healthy container, the time since the start per container; none: no estimate", () => {
        const p0 = startProgress(10, 1000);
        assert.equal(estimateLeftMs(p0), undefined);
        assert.equal(progressLine(p0, 2000), "0 of 10 containers healthy");
        const { p } = feed(p0, [5000]);
        assert.equal(estimateLeftMs(p), 9 * 4000);
        assert.equal(progressLine(p, 5000), "1 of 10 containers healthy, ~36 s left");
    });

    it("says seconds under two minutes, else minutes", () => {
        assert.equal(describeLeft(400), "~1 s left");
        assert.equal(describeLeft(119_000), "~119 s left");
        assert.equal(describeLeft(600_000), "~10 min left");
    });

    it("prints at most one line per interval, and the last one only after an earlier line", () => {
        // Every container answers at once (a no-op up): no line at all.
        assert.deepEqual(
            feed(
                startProgress(96, 0),
                Array.from({ length: 96 }, (_, i) => 100 + i),
            ).lines,
            [],
        );
        // One every 2 s, lines every 5 s: at 6 s (3 of 6), 12 s (6 of 6 is the end).
        const { lines } = feed(startProgress(6, 0), [2000, 4000, 6000, 8000, 10_000, 12_000]);
        assert.deepEqual(lines, ["3 of 6 containers healthy, ~6 s left", "6 of 6 containers healthy in 12 s"]);
    });

    it("a count beyond the total is ignored", () => {
        const { p } = feed(startProgress(2, 0), [6000, 12_000]);
        assert.deepEqual(containerHealthy(p, 20_000), { next: p });
    });

    it("a tick prints while no container comes, at the same interval, and not after the end", () => {
        let p = startProgress(48, 0);
        assert.equal(progressTick(p, 4999).line, undefined);
        const t = progressTick(p, 5000);
        assert.equal(t.line, "0 of 48 containers healthy");
        p = t.next;
        assert.equal(progressTick(p, 9000).line, undefined, "the interval counts from the last line");
        assert.equal(progressTick(p, 10_000).line, "0 of 48 containers healthy");
        const done = feed(startProgress(1, 0), [100]).p;
        assert.equal(progressTick(done, 60_000).line, undefined);
    });
});
