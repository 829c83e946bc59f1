// The runner's own state lock under a real race: two processes, told to go at the same
// moment, take over the lock a killed runner left, round after round.

import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { RaceWorkers } from "../helpers/raceWorkers";
import { makeTmp, removeTmp } from "../helpers/tmp";

const ROUNDS = 40;

describe("the runner's state lock under a real race (two processes)", function () {
    this.timeout(300_000);
    let dir: string;
    let workers: RaceWorkers;

    before(async () => {
        dir = makeTmp("bg-statelock-");
        workers = new RaceWorkers(dir, 2);
        await workers.ready();
    });
    after(() => {
        workers?.close();
        removeTmp(dir);
    });

    it("two runners taking over a lock left by a killed runner never both hold it", async () => {
        // The pid of a process that has exited: what a killed runner leaves in the lock file.
        const dead = spawnSync("true").pid!;
        const lock = path.join(dir, "stack.json.lock");
        const doubles: number[] = [];
        let held = 0;
        for (let round = 0; round < ROUNDS; round++) {
            fs.rmSync(path.join(dir, "witness"), { recursive: true, force: true });
            fs.writeFileSync(lock, String(dead));
            const answers = await workers.go([{ op: "state" }, { op: "state" }]);
            held += answers.filter((a) => a.held).length;
            if (answers.some((a) => a.held && !a.alone)) doubles.push(round);
        }
        assert.deepEqual(doubles, [], `rounds in which both held the state lock at once (of ${ROUNDS})`);
        assert.ok(held >= ROUNDS, `every round, one of them took the lock over (${held} holds in ${ROUNDS} rounds)`);
    });
});
