// bluegreen:incus.parallel: validated, carried by every container's inputs, and the bound of
// the provider host's one semaphore (io/incusSlots.ts).
import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../components/model/config";
import { colorContainerInputs, servingGuard } from "../../components/plan";
import { DEFAULT_INCUS_PARALLEL, incusSlots, withIncusSlot } from "../../components/io/incusSlots";
import { minimalRaw, stackConfig } from "../helpers/stackConfig";

const POOL = { components: { web: { hostPort: 18130, route: "/", nodes: 8 } } };

describe("incus.parallel", () => {
    // The semaphore lives on globalThis; left there, a later test that serializes a provider in this process (runner/contract) would carry it.
    after(() => delete (globalThis as Record<string, unknown>)["__bluegreenIncusSlots"]);

    it("is absent from the inputs unless set, so an existing stack's inputs do not change", () => {
        const c = stackConfig(POOL);
        for (const i of colorContainerInputs(c, "blue", "abc1234", servingGuard(c))) assert.equal("incusParallel" in i, false);
    });

    it("set, every container carries it", () => {
        const c = stackConfig({ ...POOL, incus: { parallel: 2 } });
        const inputs = colorContainerInputs(c, "blue", "abc1234", servingGuard(c));
        assert.equal(inputs.length, 8);
        for (const i of inputs) assert.equal(i.incusParallel, 2);
    });

    it("a bound below 1 or above 64 is refused, naming the key", () => {
        for (const parallel of [0, 65, 2.5]) {
            assert.throws(
                () => parseConfig({ ...minimalRaw(), incus: { parallel } }, "dev"),
                (e: unknown) => e instanceof ConfigError && /bluegreen:incus\.parallel/.test(e.message),
            );
        }
    });

    it("one semaphore per process, the default bound when unset", async () => {
        assert.equal(incusSlots(), incusSlots());
        const s = incusSlots();
        const before = s.peak;
        let open!: () => void;
        const gate = new Promise<void>((r) => (open = r));
        const all = Array.from({ length: 12 }, () => withIncusSlot(undefined, () => gate));
        await new Promise((r) => setImmediate(r));
        assert.equal(s.running, DEFAULT_INCUS_PARALLEL);
        assert.equal(s.queued, 12 - DEFAULT_INCUS_PARALLEL);
        open();
        await Promise.all(all);
        assert.equal(Math.max(before, DEFAULT_INCUS_PARALLEL), s.peak);
    });
});
