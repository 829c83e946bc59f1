// The parts of release/rollout/prometheus.ts that need no Prometheus (the real one is in
// test/e2e/prometheus.test.ts).

import assert from "node:assert/strict";
import * as fs from "fs";
import { prometheusLayout } from "../../../../components/model/rollout/prometheusConfig";
import { isOurPrometheus, prometheusArgv, stopPrometheus, writeTargets } from "../../../../components/release/rollout/prometheus";
import { makeTmp, removeTmp } from "../../../helpers/tmp";

describe("release/rollout/prometheus", () => {
    let dir: string | undefined;
    beforeEach(() => {
        dir = makeTmp("bluegreen-sli-");
    });
    afterEach(() => removeTmp(dir));

    it("starts Prometheus with everything in its directory, on loopback, without the unauthenticated lifecycle API", () => {
        assert.deepEqual(prometheusArgv(prometheusLayout("/var/lib/veza/staging/prometheus"), 19090), [
            "prometheus",
            "--config.file",
            "/var/lib/veza/staging/prometheus/prometheus.yml",
            "--storage.tsdb.path",
            "/var/lib/veza/staging/prometheus/data",
            "--web.listen-address",
            "127.0.0.1:19090",
        ]);
    });

    it("writeTargets replaces the file by rename, leaves no temp file, and leaves unchanged targets alone", () => {
        const file = prometheusLayout(dir!).targetsFile;
        const a = { component: "backend", color: "blue", node: 1, port: 18110 };
        assert.deepEqual(writeTargets(dir!, [a]), { file, changed: true });
        const first = fs.statSync(file).ino;
        assert.deepEqual(JSON.parse(fs.readFileSync(file, "utf8")), [
            { targets: ["127.0.0.1:18110"], labels: { component: "backend", color: "blue", node: "1" } },
        ]);
        assert.deepEqual(writeTargets(dir!, [a]), { file, changed: false });
        assert.equal(fs.statSync(file).ino, first, "not rewritten");
        assert.equal(writeTargets(dir!, [a, { ...a, color: "green", port: 18111 }]).changed, true);
        assert.notEqual(fs.statSync(file).ino, first, "a new file renamed over the old one, never written in place");
        assert.deepEqual(fs.readdirSync(prometheusLayout(dir!).targetsDir), ["bluegreen.json"]);
    });

    it("a pid that is not a Prometheus with this config is not ours", () => {
        const config = prometheusLayout(dir!).configFile;
        assert.equal(isOurPrometheus(process.pid, config), false, "this test process");
        assert.equal(isOurPrometheus(2 ** 22 + 1, config), false, "no such process");
    });

    it("stopPrometheus with nothing running is a no-op, and drops a stale pid file", async () => {
        assert.deepEqual(await stopPrometheus(dir!), { stopped: false });
        const pidFile = prometheusLayout(dir!).pidFile;
        fs.writeFileSync(pidFile, `${process.pid}\n`);
        assert.deepEqual(await stopPrometheus(dir!), { stopped: false });
        assert.equal(fs.existsSync(pidFile), false);
    });
});
