import assert from "node:assert/strict";
import {
    UPGRADE_START,
    UpgradeState,
    StepResult,
    advance,
    decideStateful,
    isFinal,
    parseLastGood,
    parseSnapshotMeta,
    parseUpgradeRecord,
    releaseOfPhase,
    restoreProblem,
    resumeState,
    rollbackAlert,
    snapshotId,
    snapshotMeta,
    upgradeFailureMessage,
    UpgradeRecord,
} from "../../../../components/model/stateful/stateful";

const OK: StepResult = { ok: true };
const FAIL = (message: string): StepResult => ({ ok: false, message });

/** Runs the machine with the outcomes given per phase (ok when not listed); returns the phases visited and the end state. */
function runMachine(outcomes: Partial<Record<string, StepResult>>, from: UpgradeState = UPGRADE_START): { phases: string[]; end: UpgradeState } {
    let state = from;
    const phases: string[] = [];
    for (let i = 0; i < 20 && !isFinal(state); i++) {
        phases.push(state.phase);
        state = advance(state, outcomes[state.phase] ?? OK);
    }
    phases.push(state.phase);
    return { phases, end: state };
}

describe("stateful model", () => {
    describe("decideStateful", () => {
        it("creates a missing container, upgrades on a release change, starts a stopped one, else nothing", () => {
            assert.deepEqual(decideStateful({}, { release: "bbbbbbb" }), { kind: "create" });
            assert.deepEqual(decideStateful({ status: "Running", release: "aaaaaaa" }, { release: "bbbbbbb" }), {
                kind: "upgrade",
                from: "aaaaaaa",
                to: "bbbbbbb",
            });
            assert.deepEqual(decideStateful({ status: "Stopped", release: "bbbbbbb" }, { release: "bbbbbbb" }), { kind: "start" });
            assert.deepEqual(decideStateful({ status: "Running", release: "bbbbbbb" }, { release: "bbbbbbb" }), { kind: "noop" });
        });

        it("restores a newly named snapshot, and keeping the same value is a no-op", () => {
            const id = "kg-20261203t081500z-aaaaaaa";
            assert.deepEqual(decideStateful({ status: "Running", release: "bbbbbbb" }, { release: "bbbbbbb", restore: id }), { kind: "restore", snapshot: id });
            assert.deepEqual(decideStateful({ status: "Running", release: "bbbbbbb" }, { release: "bbbbbbb", restore: id, appliedRestore: id }), {
                kind: "noop",
            });
        });

        // Issue 20, item 1: an `up` from an empty state sees live volumes, never a blank slate.
        it("live volumes without a container are a guarded upgrade from last_good, never a plain create", () => {
            assert.deepEqual(decideStateful({ volumes: true, lastGood: "aaaaaaa" }, { release: "bbbbbbb" }), {
                kind: "upgrade",
                from: "aaaaaaa",
                to: "bbbbbbb",
            });
            // Nothing says which release wrote them: still guarded (a snapshot first), from an unknown release.
            assert.deepEqual(decideStateful({ volumes: true }, { release: "bbbbbbb" }), { kind: "upgrade", to: "bbbbbbb" });
            assert.deepEqual(decideStateful({ volumes: false }, { release: "bbbbbbb" }), { kind: "create" });
        });

        it("a running container of the configured release whose config differs is not adopted: a guarded upgrade to the same release", () => {
            const live = { status: "Running", release: "bbbbbbb", volumes: true, lastGood: "bbbbbbb" };
            assert.deepEqual(decideStateful({ ...live, matches: false }, { release: "bbbbbbb" }), { kind: "upgrade", from: "bbbbbbb", to: "bbbbbbb" });
            assert.deepEqual(decideStateful({ ...live, matches: true }, { release: "bbbbbbb" }), { kind: "noop" });
            assert.deepEqual(decideStateful({ ...live, matches: true, status: "Stopped" }, { release: "bbbbbbb" }), { kind: "start" });
        });

        // Issue 20, item 2: the host's record says a restore was applied, whatever the state's outputs lost.
        it("a restore the host recorded as applied is never applied again; one seen at create is applied when there are volumes", () => {
            const id = "kg-20261203t081500z-aaaaaaa";
            const live = { status: "Running", release: "bbbbbbb", volumes: true };
            assert.deepEqual(decideStateful({ ...live, appliedRestore: id }, { release: "ccccccc", restore: id }), {
                kind: "upgrade",
                from: "bbbbbbb",
                to: "ccccccc",
            });
            assert.deepEqual(decideStateful({ volumes: true, lastGood: "bbbbbbb" }, { release: "bbbbbbb", restore: id }), { kind: "restore", snapshot: id });
            // No volumes: no data to restore into; the create records it.
            assert.deepEqual(decideStateful({ volumes: false }, { release: "bbbbbbb", restore: id }), { kind: "create" });
        });

        it("an upgrade record on the host resumes that upgrade, on the create path too", () => {
            const record: UpgradeRecord = { service: "db", attempted: "ccccccc", from: "bbbbbbb", lastGood: "bbbbbbb", time: "2026-12-03T08:15:00.000Z" };
            assert.deepEqual(decideStateful({ status: "Running", release: "ccccccc", volumes: true, upgrade: record }, { release: "ccccccc" }), {
                kind: "resume",
                record,
            });
            assert.deepEqual(decideStateful({ volumes: true, upgrade: record }, { release: "bbbbbbb" }), { kind: "resume", record });
        });
    });

    describe("resuming an interrupted upgrade", () => {
        const base: UpgradeRecord = { service: "db", attempted: "ccccccc", from: "bbbbbbb", lastGood: "bbbbbbb", time: "2026-12-03T08:15:00.000Z" };
        const snap = { ...base, snapshot: "kg-20261203t081500z-bbbbbbb" };

        it("before the pre-upgrade snapshot was recorded the new release never ran: the upgrade starts again", () => {
            assert.deepEqual(resumeState(base, { status: "Stopped", release: "bbbbbbb" }, "ccccccc"), UPGRADE_START);
        });

        it("killed in the health wait: wait for health again, then commit or roll back", () => {
            assert.deepEqual(resumeState(snap, { status: "Running", release: "ccccccc" }, "ccccccc"), { phase: "health" });
            assert.deepEqual(runMachine({}, { phase: "health" }).phases, ["health", "commit", "done"]);
            assert.deepEqual(runMachine({ health: FAIL("unhealthy") }, { phase: "health" }).phases, [
                "health",
                "rollback-stop",
                "restore",
                "redeploy",
                "recovery-health",
                "alert",
                "failed",
            ]);
        });

        it("killed in the deploy, or another release wanted now: the pre-upgrade snapshot goes back first, never a new snapshot", () => {
            assert.deepEqual(resumeState(snap, {}, "ccccccc"), { phase: "reset-stop" });
            assert.deepEqual(resumeState(snap, { status: "Stopped", release: "ccccccc" }, "ccccccc"), { phase: "reset-stop" });
            assert.deepEqual(resumeState(snap, { status: "Running", release: "ccccccc" }, "bbbbbbb"), { phase: "reset-stop" });
            const { phases } = runMachine({}, { phase: "reset-stop" });
            assert.deepEqual(phases, ["reset-stop", "reset", "deploy", "health", "commit", "done"]);
            assert.ok(!phases.includes("snapshot"));
        });

        it("a recovery under way is finished; a failed reset is not recovered", () => {
            const failure = { phase: "health" as const, message: "unhealthy" };
            assert.deepEqual(resumeState({ ...snap, failure }, { status: "Stopped", release: "ccccccc" }, "ccccccc"), { phase: "rollback-stop", failure });
            const end = runMachine({ reset: FAIL("no snapshot") }, { phase: "reset-stop" }).end;
            assert.equal(end.phase, "failed");
            assert.equal(end.recovered, false);
        });

        it("the record round-trips; a malformed one is an error, never read as absent", () => {
            assert.deepEqual(parseUpgradeRecord(JSON.stringify(snap)), snap);
            assert.equal(parseUpgradeRecord(undefined), undefined);
            assert.equal(parseUpgradeRecord(""), undefined);
            assert.throws(() => parseUpgradeRecord("{"), /not JSON/);
            assert.throws(() => parseUpgradeRecord(JSON.stringify({ ...snap, snapshot: "../x" })), /malformed/);
        });
    });

    describe("the guarded upgrade", () => {
        it("a healthy upgrade stops, snapshots, deploys, gates on health and commits last_good", () => {
            const { phases, end } = runMachine({});
            assert.deepEqual(phases, ["stop", "snapshot", "deploy", "health", "commit", "done"]);
            assert.equal(end.failure, undefined);
        });

        it("an unhealthy release is stopped, the data restored, last_good redeployed and checked, and the alert written", () => {
            const { phases, end } = runMachine({ health: FAIL("health check failed 30 times") });
            assert.deepEqual(phases, ["stop", "snapshot", "deploy", "health", "rollback-stop", "restore", "redeploy", "recovery-health", "alert", "failed"]);
            assert.deepEqual(end.failure, { phase: "health", message: "health check failed 30 times" });
            assert.equal(end.recovered, true);
        });

        it("a failed deploy (not only an unhealthy one) also restores", () => {
            const { phases } = runMachine({ deploy: FAIL("artifact unreadable") });
            assert.deepEqual(phases, ["stop", "snapshot", "deploy", "rollback-stop", "restore", "redeploy", "recovery-health", "alert", "failed"]);
        });

        it("a failed recovery skips the rest, still writes the alert, and says recovered: false", () => {
            const { phases, end } = runMachine({ health: FAIL("unhealthy"), restore: FAIL("restore failed") });
            assert.deepEqual(phases, ["stop", "snapshot", "deploy", "health", "rollback-stop", "restore", "alert", "failed"]);
            assert.equal(end.recovered, false);
            assert.deepEqual(end.failure, { phase: "health", message: "unhealthy" });
            assert.deepEqual(end.recoveryFailure, { phase: "restore", message: "restore failed" });
        });

        it("a failed snapshot restarts the old release on untouched volumes; a failed stop touches nothing", () => {
            assert.deepEqual(runMachine({ snapshot: FAIL("no space") }).phases, ["stop", "snapshot", "restart", "failed"]);
            assert.equal(runMachine({ snapshot: FAIL("no space") }).end.recovered, true);
            assert.equal(runMachine({ snapshot: FAIL("x"), restart: FAIL("y") }).end.recovered, false);
            assert.deepEqual(runMachine({ stop: FAIL("busy") }).phases, ["stop", "failed"]);
        });

        it("each phase runs the attempted release until the recovery, then last_good", () => {
            assert.equal(releaseOfPhase("deploy", "bbbbbbb", "aaaaaaa"), "bbbbbbb");
            assert.equal(releaseOfPhase("redeploy", "bbbbbbb", "aaaaaaa"), "aaaaaaa");
            assert.equal(releaseOfPhase("restart", "bbbbbbb", "aaaaaaa"), "aaaaaaa");
        });
    });

    describe("records", () => {
        const at = new Date("2026-12-03T08:15:00.123Z");

        it("a snapshot id is sortable by time, names its release, and is an Incus snapshot name", () => {
            assert.equal(snapshotId("1a1a1a1", at), "kg-20261203t081500z-1a1a1a1");
        });

        it("a snapshot of volumes no record names a release for says so", () => {
            const m = snapshotMeta("db", "unknown", ["data"], at);
            assert.equal(m.id, "kg-20261203t081500z-unknown");
            assert.deepEqual(parseSnapshotMeta(JSON.stringify(m)), m);
        });

        it("metadata round-trips; anything malformed reads as absent", () => {
            const m = snapshotMeta("db", "1a1a1a1", ["logs", "data"], at);
            assert.deepEqual(m, {
                id: "kg-20261203t081500z-1a1a1a1",
                service: "db",
                release: "1a1a1a1",
                volumes: ["data", "logs"],
                time: "2026-12-03T08:15:00.123Z",
            });
            assert.deepEqual(parseSnapshotMeta(JSON.stringify(m)), m);
            assert.equal(parseSnapshotMeta(undefined), undefined);
            assert.equal(parseSnapshotMeta("{"), undefined);
            assert.equal(parseSnapshotMeta(JSON.stringify({ ...m, id: "../x" })), undefined);
            assert.equal(parseSnapshotMeta(JSON.stringify({ ...m, volumes: "data" })), undefined);
            assert.equal(parseLastGood("1a1a1a1\n"), "1a1a1a1");
            assert.equal(parseLastGood("latest"), undefined);
        });

        it("a restore is refused when the snapshot is not the known-good one, its volume set differs, or a volume lacks it", () => {
            const m = snapshotMeta("db", "1a1a1a1", ["data"], at);
            assert.equal(restoreProblem("db", m.id, m, ["data"], new Set(["data"])), undefined);
            assert.match(
                restoreProblem("db", "kg-20250101t000000z-2b2b2b2", m, ["data"], new Set(["data"]))!,
                /no snapshot kg-20250101t000000z-2b2b2b2 \(the known-good snapshot is kg-20261203t081500z-1a1a1a1/,
            );
            assert.equal(
                restoreProblem("db", m.id, m, ["data", "logs"], new Set(["data"])),
                "stateful db: snapshot kg-20261203t081500z-1a1a1a1 holds volumes [data], but the service has [data, logs]; restoring it would leave volumes out of step",
            );
            assert.match(restoreProblem("db", m.id, m, ["data"], new Set())!, /missing on volume data/);
        });

        it("the alert and the failure message say what happened and what to do", () => {
            const end = runMachine({ health: FAIL("unhealthy") }).end;
            const alert = rollbackAlert("db", "2b2b2b2", "1a1a1a1", end, "kg-20261203t081500z-1a1a1a1", at);
            assert.deepEqual(alert, {
                service: "db",
                attempted: "2b2b2b2",
                last_good: "1a1a1a1",
                recovered: true,
                time: "2026-12-03T08:15:00.123Z",
                reason: "health: unhealthy",
                snapshot: "kg-20261203t081500z-1a1a1a1",
            });
            assert.match(upgradeFailureMessage(alert), /restored from snapshot kg-20261203t081500z-1a1a1a1 and 1a1a1a1 \(last_good, unchanged\) serves again/);
            const lost = rollbackAlert("db", "2b2b2b2", "1a1a1a1", runMachine({ health: FAIL("u"), redeploy: FAIL("r") }).end, "kg-x", at);
            assert.equal(lost.recovered, false);
            assert.match(upgradeFailureMessage(lost, "redeploy: r"), /AND THE RECOVERY FAILED \(redeploy: r\).*bluegreen:stateful\.db\.restore: kg-x/);
        });
    });
});
