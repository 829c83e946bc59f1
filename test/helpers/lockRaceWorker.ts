// A process that races for a lock when told to: started by test/components/release/safety/lockRace.test.ts
// and test/runner/stateLock.test.ts, one per contender, so two real processes compete on real
// files. It reads one JSON command per line on stdin and answers one JSON line on stdout.
//   {"op":"deploy", "ms"}: for `ms`, takes the deploy lock of the stack in <dir> (release/safety/lock.ts), breaking a
//                     stale one, holds it a moment, then leaves it stale as a killed up does; counts double holds.
//   {"op":"renew", "record": {...}}: renews that record's lease in a tight loop for `ms`.
//   {"op":"takeover"}: takes the deploy lock, then checks a moment later that the file still holds its record.
//   {"op":"state"}:    takes the runner's state lock of <dir>/stack.json (runner/state.ts), holds it a moment, frees it.
// While it holds a lock it owns the directory <dir>/witness: a second holder finds it there.

import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as readline from "readline";
import { parseLock, lockPath } from "../../components/model/safety/lock";
import { acquireLock, releaseLock, renewLease } from "../../components/release/safety/lock";
import { takeStateLock } from "../../runner/state";
import { writeFileAtomic } from "../../components/io/tmp";

const dir = process.argv[2]!;
const witness = path.join(dir, "witness");
const target = { host: { placement: "host" as const }, stateDir: dir, stack: "race" };
/** What an up killed on another machine leaves: its lease ran out long ago. */
const STALE = {
    kind: "up",
    performer: "gone",
    stack: "race",
    time: "2026-01-01T00:00:00.000Z",
    message: "killed",
    hostname: "elsewhere",
    pid: 1,
    renewed: "2026-01-01T00:00:00.000Z",
    leaseSeconds: 60,
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

process.env.BLUEGREEN_QUIET = "1";

/** Holds the witness for `ms`: false when another holder already has it. */
async function witnessed(ms: number): Promise<boolean> {
    try {
        fs.mkdirSync(witness);
    } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
        throw e;
    }
    await sleep(ms);
    fs.rmdirSync(witness);
    return true;
}

async function handle(cmd: { op: string; record?: never; ms?: number }): Promise<Record<string, unknown>> {
    if (cmd.op === "deploy") {
        // Take the lock, hold it a moment, then die holding it: the file is left stale for the other to break.
        const until = Date.now() + (cmd.ms ?? 1000);
        let holds = 0;
        let doubles = 0;
        for (let n = 0; n < 5000 && Date.now() < until; n++) {
            try {
                await acquireLock(target, { kind: "up", message: "race", waitSeconds: 0 });
            } catch {
                await sleep(1);
                continue;
            }
            holds++;
            if (!(await witnessed(2))) doubles++;
            writeFileAtomic(lockPath(dir), JSON.stringify({ ...STALE, token: crypto.randomBytes(8).toString("hex") }));
        }
        return { holds, doubles };
    }
    if (cmd.op === "renew") {
        const until = Date.now() + (cmd.ms ?? 80);
        let n = 0;
        for (; n < 2000 && Date.now() < until; n++) await renewLease(target, cmd.record!).catch(() => undefined);
        return { renewals: n };
    }
    if (cmd.op === "takeover") {
        let token: string;
        try {
            token = (await acquireLock(target, { kind: "up", message: "takeover", waitSeconds: 0 })).token;
        } catch (e) {
            return { held: false, why: (e as Error).message };
        }
        await sleep(cmd.ms ?? 80);
        const now = parseLock(fs.existsSync(lockPath(dir)) ? fs.readFileSync(lockPath(dir), "utf8") : undefined);
        await releaseLock(target, { force: true, token }).catch(() => undefined);
        return { held: true, kept: now?.token === token, found: now?.token };
    }
    if (cmd.op === "state") {
        let release: () => unknown;
        try {
            release = await takeStateLock(path.join(dir, "stack.json"));
        } catch (e) {
            return { held: false, why: (e as Error).message };
        }
        const alone = await witnessed(30);
        await release();
        return { held: true, alone };
    }
    throw new Error(`unknown op ${cmd.op}`);
}

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
    handle(JSON.parse(line) as { op: string }).then(
        (r) => process.stdout.write(JSON.stringify(r) + "\n"),
        (e: Error) => process.stdout.write(JSON.stringify({ error: e.stack ?? e.message }) + "\n"),
    );
});
process.stdout.write(JSON.stringify({ ready: true }) + "\n");
