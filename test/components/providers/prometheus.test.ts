import assert from "node:assert/strict";
import { prometheusInputs } from "../../../components/plan";
import { prometheusProvider } from "../../../components/providers/prometheus";
import { ScrapingInputs, ScrapingOutputs } from "../../../components/release/rollout/prometheus";
import { quietProgress } from "../../helpers/quiet";
import { stackConfig } from "../../helpers/stackConfig";

const BASE = { app: "veza", haproxy: { placement: "incus", frontendPort: 18200, exporterPort: 18201 }, colors: { blue: { release: "abc1234" } }, canary: {} };
const HOST = prometheusInputs(stackConfig(BASE, "staging"))!;
const INCUS = prometheusInputs(stackConfig({ ...BASE, prometheus: { placement: "incus" } }, "staging"))!;
const outputs = (i: ScrapingInputs): ScrapingOutputs => ({ ...i, serverUrl: "http://127.0.0.1:19090", targetsFile: `${i.dir}/targets/bluegreen.json` });

describe("prometheus provider", () => {
    quietProgress();
    it("a placement change host <-> incus replaces it, the old one first (it holds the port)", async () => {
        for (const [from, to] of [
            [HOST, INCUS],
            [INCUS, HOST],
        ]) {
            const d = await prometheusProvider.diff!("id", outputs(from), to);
            assert.deepEqual(d, { changes: true, replaces: ["dir", "instance"], deleteBeforeReplace: true });
        }
    });

    it("another scrape interval in the instance is an update, not a replacement", async () => {
        const d = await prometheusProvider.diff!("id", outputs(INCUS), { ...INCUS, scrapeIntervalSeconds: 5 });
        assert.deepEqual(d, { changes: true, replaces: [], deleteBeforeReplace: true });
    });
});
