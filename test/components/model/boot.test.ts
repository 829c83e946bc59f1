import assert from "node:assert/strict";
import { bootGroup, groupSize } from "../../../components/model/boot";

describe("boot groups (pure)", () => {
    it("a limit is a count or a share of the pool, rounded up, between 1 and the pool", () => {
        assert.equal(groupSize(2, 4), 2);
        assert.equal(groupSize(9, 4), 4);
        assert.equal(groupSize("25%", 4), 1);
        assert.equal(groupSize("25%", 6), 2);
        assert.equal(groupSize("1%", 3), 1);
        assert.equal(groupSize("100%", 5), 5);
    });

    it("nodes 1..n fall into groups of that size, in order", () => {
        assert.deepEqual(
            [1, 2, 3, 4, 5].map((n) => bootGroup(n, 2)),
            [0, 0, 1, 1, 2],
        );
    });
});
