// Issue 22 part 4 end to end: bluegreen:accessLog through a real HAProxy, and `logs`, which
// shows a failed request from both sides (the app's log and HAProxy's), interleaved by time.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { TestStack, eventually } from "../../harness/stack";

const A = "ed9e512";

describe("e2e: access logs and `logs`", function () {
    this.timeout(300_000);
    const s = new TestStack({ name: "alog", basePort: 23600 });

    before(async () => {
        s.reset();
        await s.publish(A);
        s.setColors({ blue: A }, "blue");
        s.config.accessLog = { maxBytes: 4096, keep: 2 };
        await s.upOk();
    });
    after(async () => s.teardown());

    it("a 404 from the app shows in `logs` from both sides, in time order; --proxy shows HAProxy's side only", async () => {
        const r = await fetch(`http://127.0.0.1:${s.frontendPort}/api/env-sha256/NO_SUCH_VAR`);
        assert.equal(r.status, 404);
        const file = path.join(s.layout().stateDir, "access.log");
        await eventually(() => (s.readHaproxyFile(file) ?? "").includes("/api/env-sha256/NO_SUCH_VAR"), "the access log line");
        const line = s
            .readHaproxyFile(file)!
            .split("\n")
            .find((l) => l.includes("NO_SUCH_VAR"))!;
        // httplog: frontend, backend/server, status, the request line; stamped by the receiver.
        assert.match(line, /^\d{4}-\d\d-\d\dT[\d:.]+Z .*fe_main be_backend\/blue .* 404 .*"GET \/api\/env-sha256\/NO_SUCH_VAR HTTP\/1\.1"/);
        assert.equal(fs.statSync(file).mode & 0o777, 0o600);

        const both = await s.run(["logs", "--component", "backend", "-n", "20"]);
        assert.equal(both.code, 0, both.stderr);
        const lines = both.stdout.trim().split("\n");
        const app = lines.findIndex((l) => l.startsWith(`[${s.containerName("backend", "blue")}] `) && l.includes("GET /api/env-sha256/NO_SUCH_VAR 404"));
        const proxy = lines.findIndex((l) => l.startsWith("[haproxy] ") && l.includes("NO_SUCH_VAR"));
        assert.ok(app >= 0 && proxy >= 0, both.stdout);
        // Interleaved by time: each side's stamp (the app's own, the receiver's on arrival) in order.
        // Which comes first is a race of milliseconds: the app stamps after it answered, HAProxy logs then too.
        const stamps = lines.map((l) => /^\[[^\]]+\] (\d{4}-\d\d-\d\dT[\d:.]+Z) /.exec(l)?.[1]).filter((t): t is string => t !== undefined);
        assert.ok(stamps.length >= 2, both.stdout);
        assert.deepEqual(stamps, [...stamps].sort(), `in time order:\n${both.stdout}`);

        const only = await s.run(["logs", "--proxy", "-n", "5"]);
        assert.equal(only.code, 0, only.stderr);
        assert.ok(
            only.stdout
                .trim()
                .split("\n")
                .every((l) => l.startsWith("[haproxy] ")),
            only.stdout,
        );
        assert.match(only.stdout, /NO_SUCH_VAR/);
    });

    it("rotates by size", async () => {
        for (let i = 0; i < 40; i++) await fetch(`http://127.0.0.1:${s.frontendPort}/api/items?${"q".repeat(100)}=${i}`).then((r) => r.text());
        const file = path.join(s.layout().stateDir, "access.log");
        await eventually(() => fs.existsSync(`${file}.1`) && fs.existsSync(`${file}.2`), "two rotated files");
        assert.ok(!fs.existsSync(`${file}.3`));
    });
});
