// Issue 20 (fail-open checks) end to end, through the runner on real Incus and HAProxy: a
// successful up frees the deploy lock, and a destroy takes it. (An up refused while the HAProxy
// instance that keeps the lock is stopped: test/e2e/incusPlacement.test.ts, on its stack.)

import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { TestStack, instance } from "../../harness/stack";

const A = "c0de201";

function lines(file: string): string[] {
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
}

describe("e2e: the deploy lock is freed by a successful up and taken by destroy", function () {
    this.timeout(600_000);
    const s = new TestStack({ name: "unlock", basePort: 21200 });
    const lockFile = () => path.join(s.layout().stateDir, "lock.json");
    const audit = () => lines(path.join(s.layout().stateDir, "audit.jsonl")).map((l) => JSON.parse(l));
    const lockEvents = () => audit().filter((e) => e.operation === "lock");

    before(async () => {
        s.reset();
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/" } };
        await s.publishOne("web", A);
        s.setColors({ blue: A }, "blue");
    });
    after(() => s.teardown());

    it("a successful up leaves no lock behind, and the next up audits no break", async () => {
        await s.upOk();
        assert.equal(fs.existsSync(lockFile()), false, `the up left ${lockFile()}: ${fs.existsSync(lockFile()) ? fs.readFileSync(lockFile(), "utf8") : ""}`);
        const before = lockEvents().length;
        const again = await s.run(["up"]);
        assert.equal(again.code, 0, again.stderr);
        assert.doesNotMatch(again.stderr, /breaking the stale deploy lock/);
        const actions = lockEvents()
            .slice(before)
            .map((e) => e.details.action);
        assert.ok(!actions.includes("break"), `the no-op up's lock events: ${actions.join(", ")}`);
        assert.deepEqual(actions, ["acquire", "release"], "the no-op up took the lock and freed it");
        assert.equal(fs.existsSync(lockFile()), false);
    });

    it("a destroy while the lock is held by hand is refused, and deletes nothing", async () => {
        const held = await s.start(["lock", "acquire", "-m", "incident: hands off"], undefined, { BLUEGREEN_PERFORMER: "ana" }).done;
        assert.equal(held.code, 0, held.stderr);
        const r = await s.run(["destroy"]);
        assert.notEqual(r.code, 0, r.stdout);
        assert.match(r.stderr, /the deploy lock of stack e2e-unlock\S* is held by ana since \S+, by hand \(lock acquire\): "incident: hands off"/);
        assert.equal(instance(s.containerName("web", "blue"))?.status, "Running", "the container is still there");
        assert.ok(
            s.state().resources.some((x: any) => x.name === "web-blue"),
            "still in state",
        );
        assert.equal(JSON.parse(fs.readFileSync(lockFile(), "utf8")).performer, "ana", "the lock is still ana's");
        const rel = await s.run(["lock", "release"]);
        assert.equal(rel.code, 0, rel.stderr);
    });

    it("a destroy takes the lock before its first delete and frees it at the end", async () => {
        const before = lockEvents().length;
        const r = await s.run(["destroy"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(instance(s.containerName("web", "blue")), undefined);
        assert.equal(fs.existsSync(lockFile()), false);
        const actions = lockEvents()
            .slice(before)
            .map((e) => e.details.action);
        assert.deepEqual(actions, ["acquire", "release"]);
    });
});
