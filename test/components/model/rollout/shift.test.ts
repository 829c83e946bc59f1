import assert from "node:assert/strict";
import { shiftsFrom, stepSplit } from "../../../../components/model/rollout/shift";

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

    it("a recorded shift that did not finish restarts from its first step, whatever the live split says", () => {
        const base = { progressive: true, target: "green" as const, recorded: "blue" as const, fastRollback: false };
        const unfinished = { from: "blue" as const, to: "green" as const, phase: "shifting" as const };
        assert.equal(shiftsFrom({ ...base, live: { green: 100 }, unfinished }), "blue", "all on the new color, by a restart or by hand");
        assert.equal(shiftsFrom({ ...base, live: "mixed", unfinished }), "blue");
        assert.equal(shiftsFrom({ ...base, live: { blue: 80, green: 20 }, unfinished }), "blue");
        assert.equal(shiftsFrom({ ...base, live: { green: 100 }, unfinished: { ...unfinished, phase: "done" } }), undefined, "a finished shift");
        assert.equal(shiftsFrom({ ...base, live: { green: 100 }, unfinished: { ...unfinished, phase: "rolledBack" } }), undefined);
        assert.equal(shiftsFrom({ ...base, live: { green: 100 }, unfinished: { ...unfinished, from: "green", to: "blue" } }), undefined, "another shift");
        assert.equal(shiftsFrom({ ...base, live: { green: 100 }, recorded: "green", unfinished }), undefined, "the file names the new color: it finished");
        assert.equal(shiftsFrom({ ...base, live: { green: 100 }, recorded: undefined, unfinished }), undefined, "a record from a stack destroyed since");
        assert.equal(shiftsFrom({ ...base, live: { green: 100 }, fastRollback: true, unfinished }), undefined);
        assert.equal(shiftsFrom({ ...base, progressive: false, live: { green: 100 }, unfinished }), undefined);
    });
});
