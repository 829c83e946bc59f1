import assert from "node:assert/strict";
import { Slots } from "../../../components/model/slots";

/** A gate a task waits on until opened. */
function gate(): { promise: Promise<void>; open: () => void } {
    let open!: () => void;
    const promise = new Promise<void>((r) => (open = r));
    return { promise, open };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("Slots (pure)", () => {
    it("runs at most `limit` at once, the rest in order as slots free", async () => {
        const s = new Slots();
        const gates = Array.from({ length: 10 }, gate);
        const started: number[] = [];
        const all = gates.map((g, i) =>
            s.run(4, async () => {
                started.push(i);
                await g.promise;
            }),
        );
        await tick();
        assert.deepEqual(started, [0, 1, 2, 3]);
        assert.equal(s.running, 4);
        assert.equal(s.queued, 6);
        gates[2]!.open();
        await tick();
        await tick();
        assert.deepEqual(started, [0, 1, 2, 3, 4], "one freed slot starts the next in line");
        for (const g of gates) g.open();
        await Promise.all(all);
        assert.equal(s.peak, 4);
        assert.equal(s.running, 0);
        assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it("a task that throws frees its slot and the error reaches its caller", async () => {
        const s = new Slots();
        await assert.rejects(
            s.run(1, async () => {
                throw new Error("boom");
            }),
            /boom/,
        );
        assert.equal(await s.run(1, async () => "next"), "next");
        assert.equal(s.running, 0);
    });

    it("a limit below 1 still lets one run; 48 tasks under a limit of 48 all overlap", async () => {
        const s = new Slots();
        assert.equal(await s.run(0, async () => 1), 1);
        const g = gate();
        const all = Array.from({ length: 48 }, () => s.run(48, () => g.promise));
        await tick();
        assert.equal(s.running, 48);
        g.open();
        await Promise.all(all);
    });
});
