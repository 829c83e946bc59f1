import assert from "node:assert/strict";
import { historyTargets, releasesToPrune } from "../../../../components/model/safety/retention";

const stored = ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"].map((release, n) => ({ release, publishedAt: 1000 + n }));

describe("retention (pure)", () => {
    it("keeps the newest N and every protected release, and prunes the rest oldest first", () => {
        assert.deepEqual(releasesToPrune(stored, 3, new Set()), ["r1", "r2", "r3", "r4", "r5"]);
        assert.deepEqual(releasesToPrune(stored, 3, new Set(["r1", "r4"])), ["r2", "r3", "r5"]);
        assert.deepEqual(releasesToPrune(stored, 8, new Set()), []);
        assert.deepEqual(releasesToPrune([...stored].reverse(), 7, new Set()), ["r1"], "order of listing does not matter");
    });

    it("the history's rollback targets are the serving release and the previous active one", () => {
        const h = "t blue r1\nt green r2\nt none -\nt blue r3\nt green r2\n";
        assert.deepEqual(historyTargets(h), ["r2", "r3"]);
        assert.deepEqual(historyTargets("t blue r1\n"), ["r1"]);
        assert.deepEqual(historyTargets(undefined), []);
    });
});
