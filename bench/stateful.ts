// Benchmark: stateful services (issue 11), all figures from one run on this host.
// - Snapshot and restore (after half the data was rewritten) of a 1 GiB custom volume with Incus's own volume snapshots, on
//   the `dir` pool and on the `btrfs` loop pool setup-host makes, as ratios to plain
//   `tar -c` (snapshot) and `tar -x` (restore) of the same data on the same disk.
// - A whole guarded upgrade (`up` from A to B) and a whole failed-upgrade recovery
//   (`up` to a `--broken migrate` release: stop, snapshot, deploy, health gate fails,
//   stop, restore, redeploy last_good, health), on each pool.
//
//   npm run bench:stateful -- [--runs 3] [--mib 1024] [--out bench/results/stateful.json]
//
// Stacks `e2e-benchsfd` / `e2e-benchsfb`, ports from 22000 and 22100.

import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TestStack } from "../harness/stack";

const POOLS = [
    { pool: "default", driver: "dir" },
    { pool: "bluegreen-btrfs", driver: "btrfs" },
];

function arg(name: string, fallback: string): string {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

function sh(argv: string[]): void {
    const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", timeout: 600_000 });
    if (r.status !== 0) throw new Error(`${argv.join(" ")} failed (${r.status}): ${r.stderr}`);
}

function timed(argv: string[]): number {
    const t = process.hrtime.bigint();
    sh(argv);
    return Number(process.hrtime.bigint() - t) / 1e6;
}

function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Volume snapshot/restore against tar, `runs` times each, on one pool. */
function volumeFigures(pool: string, mib: number, runs: number) {
    const vol = `benchsf-${pool}`;
    spawnSync("incus", ["storage", "volume", "delete", pool, vol]);
    sh(["incus", "storage", "volume", "create", pool, vol, "--quiet"]);
    const dir = `/var/lib/incus/storage-pools/${pool}/custom/default_${vol}`;
    // Incompressible data in 16 MiB files, as a database's files are.
    for (let i = 0; i < mib / 16; i++) sh(["dd", "if=/dev/urandom", `of=${dir}/f${i}`, "bs=1M", "count=16", "status=none"]);
    sh(["sync"]);
    const tarFile = `/var/lib/incus/storage-pools/${pool}/bench-${vol}.tar`;
    const out = { snapshot: [] as number[], restore: [] as number[], tarCreate: [] as number[], tarExtract: [] as number[] };
    for (let r = 0; r < runs; r++) {
        out.snapshot.push(timed(["incus", "storage", "volume", "snapshot", "create", pool, vol, `s${r}`, "--quiet"]));
        // What an upgrade's migration does before a restore: half the files rewritten.
        for (let i = 0; i < mib / 16; i += 2) sh(["dd", "if=/dev/urandom", `of=${dir}/f${i}`, "bs=1M", "count=16", "status=none"]);
        sh(["sync"]);
        out.restore.push(timed(["incus", "storage", "volume", "snapshot", "restore", pool, vol, `s${r}`, "--quiet"]));
        sh(["incus", "storage", "volume", "snapshot", "delete", pool, vol, `s${r}`, "--quiet"]);
        out.tarCreate.push(timed(["tar", "-C", dir, "-cf", tarFile, "."]));
        sh(["sync"]);
        const restoreDir = `${dir}.untar`;
        fs.rmSync(restoreDir, { recursive: true, force: true });
        fs.mkdirSync(restoreDir);
        out.tarExtract.push(timed(["tar", "-C", restoreDir, "-xf", tarFile]));
        fs.rmSync(restoreDir, { recursive: true, force: true });
        fs.rmSync(tarFile, { force: true });
    }
    spawnSync("incus", ["storage", "volume", "delete", pool, vol]);
    const m = { snapshotMs: median(out.snapshot), restoreMs: median(out.restore), tarCreateMs: median(out.tarCreate), tarExtractMs: median(out.tarExtract) };
    return { ...m, snapshotToTar: m.snapshotMs / m.tarCreateMs, restoreToUntar: m.restoreMs / m.tarExtractMs, samples: out };
}

/** Whole `up`s of a guarded upgrade and of a failed one, on one pool. */
async function upgradeFigures(pool: string, name: string, basePort: number, runs: number) {
    const s = new TestStack({ name, basePort });
    s.reset();
    const port = basePort + 50;
    s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/" } };
    // The failed upgrade's health gate: 8 checks 250 ms apart, so the wait is ~2 s of the figure.
    s.config.health = { attempts: 8, intervalMs: 250, timeoutMs: 2000 };
    const releases = Array.from({ length: runs + 1 }, (_, i) => `5f${i.toString(16).padStart(5, "0")}a`);
    const broken = "5fbad0b";
    await s.publishOne("web", releases[0]);
    for (const r of releases) await s.publishOne("db", r);
    await s.publishOne("db", broken, "migrate");
    s.setColors({ blue: releases[0] }, "blue");
    const configure = (release: string) => (s.config.stateful = { db: { release, hostPort: port, pool, volumes: { data: "/var/lib/bluegreen-data" } } });
    configure(releases[0]);
    await s.upOk();
    const upgrade: number[] = [];
    const recovery: number[] = [];
    try {
        for (let r = 1; r <= runs; r++) {
            configure(releases[r]);
            let t = Date.now();
            await s.upOk();
            upgrade.push(Date.now() - t);
            configure(broken);
            t = Date.now();
            const failed = await s.up();
            recovery.push(Date.now() - t);
            if (failed.code === 0 || !/serves again, healthy/.test(failed.stderr)) throw new Error(`the broken upgrade did not recover:\n${failed.stderr}`);
        }
    } finally {
        await s.teardown();
    }
    return { upgradeMs: median(upgrade), recoveryMs: median(recovery), samples: { upgrade, recovery } };
}

async function main(): Promise<void> {
    const runs = Number(arg("runs", "3"));
    const mib = Number(arg("mib", "1024"));
    const outFile = arg("out", "bench/results/stateful.json");
    const results: Record<string, unknown> = {};
    for (const [i, p] of POOLS.entries()) {
        process.stderr.write(`[bench] ${p.driver}: ${mib} MiB volume, ${runs} runs\n`);
        const volume = volumeFigures(p.pool, mib, runs);
        process.stderr.write(`[bench] ${p.driver}: guarded upgrades, ${runs} runs\n`);
        const upgrade = await upgradeFigures(p.pool, `benchsf${p.driver[0]}`, 22000 + 100 * i, runs);
        results[p.driver] = { pool: p.pool, volume, upgrade };
    }
    const report = { date: new Date().toISOString(), host: { cpus: os.cpus().length, kernel: os.release() }, runs, mib, results };
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    fs.writeFileSync(outFile, JSON.stringify(report, null, 2) + "\n");
    for (const [driver, r] of Object.entries(results) as [string, any][]) {
        const v = r.volume;
        console.log(
            `${driver.padEnd(6)} snapshot ${v.snapshotMs.toFixed(0)} ms (tar -c ${v.tarCreateMs.toFixed(0)} ms, ratio ${v.snapshotToTar.toFixed(3)}); ` +
                `restore ${v.restoreMs.toFixed(0)} ms (tar -x ${v.tarExtractMs.toFixed(0)} ms, ratio ${v.restoreToUntar.toFixed(3)}); ` +
                `guarded upgrade ${(r.upgrade.upgradeMs / 1000).toFixed(1)} s, failed-upgrade recovery ${(r.upgrade.recoveryMs / 1000).toFixed(1)} s`,
        );
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
