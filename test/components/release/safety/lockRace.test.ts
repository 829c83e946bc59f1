// The deploy lock under a real race: two processes on this host, on real files (host
// placement), told to go at the same moment, round after round (test/helpers/raceWorkers.ts).

import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { LockRecord, lockPath } from "../../../../components/model/safety/lock";
import { RaceWorkers } from "../../../helpers/raceWorkers";
import { makeTmp, removeTmp } from "../../../helpers/tmp";

const ROUNDS = 40;

/** A lock an up on another machine left: its lease ran out long ago. */
const stale = (token: string): LockRecord => ({
    kind: "up",
    performer: "gone",
    stack: "race",
    time: "2026-01-01T00:00:00.000Z",
    message: "killed",
    token,
    hostname: "elsewhere",
    pid: 1,
    renewed: "2026-01-01T00:00:00.000Z",
    leaseSeconds: 60,
});

describe("the deploy lock under a real race (two processes, files on this host)", function () {
    this.timeout(300_000);
    let dir: string;
    let workers: RaceWorkers;

    before(async () => {
        dir = makeTmp("bg-lockrace-");
        workers = new RaceWorkers(dir, 2);
        await workers.ready();
    });
    after(() => {
        workers?.close();
        removeTmp(dir);
    });

    /** Leaves nothing of the last round but the audit log. */
    const clean = () => {
        for (const f of fs.readdirSync(dir)) if (f !== "audit.jsonl") fs.rmSync(path.join(dir, f), { recursive: true, force: true });
    };

    it("two processes breaking the same stale lock never both hold it", async () => {
        clean();
        fs.writeFileSync(lockPath(dir), JSON.stringify(stale("stale0")));
        // Each takes the lock, holds it 2 ms and dies holding it, for 5 s: hundreds of breaks of the other's stale lock.
        const answers = await workers.go([
            { op: "deploy", ms: 5000 },
            { op: "deploy", ms: 5000 },
        ]);
        const holds = answers.reduce((n, a) => n + a.holds, 0);
        const doubles = answers.reduce((n, a) => n + a.doubles, 0);
        assert.equal(doubles, 0, `times a process took the lock while the other held it (of ${holds} holds)`);
        assert.ok(holds >= 50, `the race ran: ${holds} holds`);
    });

    it("a renewal never overwrites the lock another process took over", async () => {
        const overwritten: string[] = [];
        let taken = 0;
        for (let round = 0; round < ROUNDS; round++) {
            clean();
            // A holder whose lease is always out: the other process takes it over while it keeps renewing.
            const mine: LockRecord = { ...stale(`renewing${round}`), renewed: new Date().toISOString(), leaseSeconds: 0 };
            fs.writeFileSync(lockPath(dir), JSON.stringify(mine));
            const [, taker] = await workers.go([
                { op: "renew", record: mine, ms: 80 },
                { op: "takeover", ms: 120 },
            ]);
            if (!taker!.held) continue;
            taken++;
            if (!taker!.kept) overwritten.push(`round ${round}: the file held ${taker!.found}`);
        }
        assert.deepEqual(overwritten, [], `the taker's lock was overwritten by the old holder's renewal (${taken} take-overs)`);
        assert.ok(taken >= ROUNDS / 2, `the race ran: ${taken} take-overs in ${ROUNDS} rounds`);
    });
});
