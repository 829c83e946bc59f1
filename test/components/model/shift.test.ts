import assert from "node:assert/strict";
import { shiftsFrom, stepSplit } from "../../../components/model/shift";

describe("shift (pure)", () => {
    it("a step puts its percent on the new color and the rest on the old", () => {
        assert.deepEqual(stepSplit("blue", "green", 20), { blue: 80, green: 20 });
        assert.deepEqual(stepSplit("blue", "green", 100), { green: 100 });
    });

    it("steps only a forward move from a color that takes traffic; going back is instant", () => {
        const base = { progressive: true, target: "green" as const, live: { blue: 100 }, recorded: "blue" as const, fastRollback: false };
        assert.equal(shiftsFrom(base), "blue");
        assert.equal(shiftsFrom({ ...base, progressive: false }), undefined);
        assert.equal(shiftsFrom({ ...base, fastRollback: true }), undefined, "a fast rollback is instant");
        assert.equal(shiftsFrom({ ...base, live: { green: 100 } }), undefined, "nothing to move");
        assert.equal(shiftsFrom({ ...base, live: {} }), undefined, "a first switch has nothing to shift from");
        assert.equal(shiftsFrom({ ...base, live: "mixed" }), undefined);
        assert.equal(shiftsFrom({ ...base, live: { blue: 80, green: 20 } }), "blue", "an interrupted shift resumes");
        assert.equal(
            shiftsFrom({ ...base, target: "blue", live: { blue: 80, green: 20 }, recorded: "blue" }),
            undefined,
            "back to the color the file still names: instant",
        );
    });
});
