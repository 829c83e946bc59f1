// The known-good snapshot of a stateful service's volumes (seed 003: warmsnap), and the
// records kept beside it on the HAProxy host: last_good, and the rollback alerts.
//
// Incus's own volume snapshots hold the data (btrfs: copy-on-write, milliseconds). The
// metadata file is the commit point: a snapshot counts once every volume has it and the
// file names it, so a kill half-way leaves the previous known-good intact; the next
// snapshot removes the leftovers. last_good is a separate file, never rewritten by a
// snapshot (the seed's bug, fixed in its live proof). Beside them: the upgrade record a
// killed upgrade resumes from, the restore last applied, and the resource's owner.

import { runOrThrow } from "../../io/exec";
import { HaproxyHost, appendHostFile, readHostFile, removeHostFile, writeHostFile } from "../../io/haproxyHost";
import { IncusTarget, getInstance, snapshotCreateCmd, snapshotDeleteCmd, snapshotRestoreCmd, volumeSnapshots } from "../../io/incus";
import { progress } from "../../io/progress";
import { refused } from "../../model/errors";
import {
    RollbackAlert,
    SNAPSHOT_ID,
    SnapshotMeta,
    UpgradeRecord,
    parseLastGood,
    parseSnapshotMeta,
    parseUpgradeRecord,
    restoreProblem,
    snapshotMeta,
} from "../../model/stateful/stateful";

/** Where one service's volumes and records are. */
export interface ServiceStore {
    readonly service: string;
    /** Its container. */
    readonly container: string;
    readonly target: IncusTarget;
    readonly pool: string;
    /** Config name and Incus volume name of each volume. */
    readonly volumes: readonly { readonly name: string; readonly volume: string }[];
    readonly host: HaproxyHost;
    readonly stateDir: string;
}

export function snapshotMetaPath(stateDir: string, service: string): string {
    return `${stateDir}/stateful/${service}/snapshot.json`;
}

export function lastGoodPath(stateDir: string, service: string): string {
    return `${stateDir}/stateful/${service}/last_good`;
}

export function upgradeRecordPath(stateDir: string, service: string): string {
    return `${stateDir}/stateful/${service}/upgrade.json`;
}

export function appliedRestorePath(stateDir: string, service: string): string {
    return `${stateDir}/stateful/${service}/restore_applied`;
}

export function ownerPath(stateDir: string, service: string): string {
    return `${stateDir}/stateful/${service}/owner`;
}

/** Every record of the service on the host. */
export function recordPaths(stateDir: string, service: string): string[] {
    return [snapshotMetaPath, lastGoodPath, upgradeRecordPath, appliedRestorePath, ownerPath].map((f) => f(stateDir, service));
}

/** Beside the active-color history. */
export function alertsPath(stateDir: string): string {
    return `${stateDir}/alerts.jsonl`;
}

export async function readSnapshotMeta(s: ServiceStore): Promise<SnapshotMeta | undefined> {
    return parseSnapshotMeta(await readHostFile(s.host, snapshotMetaPath(s.stateDir, s.service)));
}

export async function readLastGood(s: ServiceStore): Promise<string | undefined> {
    return parseLastGood(await readHostFile(s.host, lastGoodPath(s.stateDir, s.service)));
}

export async function writeLastGood(s: ServiceStore, release: string): Promise<void> {
    await writeHostFile(s.host, lastGoodPath(s.stateDir, s.service), `${release}\n`);
}

/** The record of an upgrade under way; a malformed one is refused, never taken for none. */
export async function readUpgradeRecord(s: ServiceStore): Promise<UpgradeRecord | undefined> {
    const file = upgradeRecordPath(s.stateDir, s.service);
    try {
        return parseUpgradeRecord(await readHostFile(s.host, file));
    } catch (e) {
        throw refused(
            `stateful ${s.service}: ${(e as Error).message}, in ${file}. An upgrade of it was under way; nothing was touched. ` +
                `Check its data (incus storage volume snapshot list ${s.pool} <volume>), set bluegreen:stateful.${s.service}.restore if it needs the known-good snapshot, then remove ${file} and run up again.`,
        );
    }
}

export async function writeUpgradeRecord(s: ServiceStore, record: UpgradeRecord): Promise<void> {
    await writeHostFile(s.host, upgradeRecordPath(s.stateDir, s.service), `${JSON.stringify(record)}\n`);
}

export async function removeUpgradeRecord(s: ServiceStore): Promise<void> {
    await removeHostFile(s.host, upgradeRecordPath(s.stateDir, s.service));
}

/** The restore id last applied: a restore left in config is applied once, whatever the state's outputs say. */
export async function readAppliedRestore(s: ServiceStore): Promise<string | undefined> {
    const t = (await readHostFile(s.host, appliedRestorePath(s.stateDir, s.service)))?.trim();
    return t && SNAPSHOT_ID.test(t) ? t : undefined;
}

export async function writeAppliedRestore(s: ServiceStore, id: string | undefined): Promise<void> {
    const file = appliedRestorePath(s.stateDir, s.service);
    await (id === undefined ? removeHostFile(s.host, file) : writeHostFile(s.host, file, `${id}\n`));
}

/** Which resource (an id its create drew) owns the service: the delete half of a replacement must not delete. */
export async function readOwner(s: ServiceStore): Promise<string | undefined> {
    return (await readHostFile(s.host, ownerPath(s.stateDir, s.service)))?.trim() || undefined;
}

export async function writeOwner(s: ServiceStore, owner: string): Promise<void> {
    await writeHostFile(s.host, ownerPath(s.stateDir, s.service), `${owner}\n`);
}

export async function appendAlert(s: ServiceStore, alert: RollbackAlert): Promise<void> {
    await appendHostFile(s.host, alertsPath(s.stateDir), `${JSON.stringify(alert)}\n`);
}

/** The newest alerts of every service, oldest first; unreadable lines are skipped. */
export async function readAlerts(host: HaproxyHost, stateDir: string, last = 10): Promise<RollbackAlert[]> {
    const text = (await readHostFile(host, alertsPath(stateDir))) ?? "";
    const out: RollbackAlert[] = [];
    for (const line of text.split("\n")) {
        if (!line.trim()) continue;
        try {
            out.push(JSON.parse(line) as RollbackAlert);
        } catch {
            // A torn line from a killed writer: skip it, keep the rest.
        }
    }
    return out.slice(-last);
}

/** Refuses unless the service's container is stopped (or absent): a snapshot of live data is not consistent. */
export async function refuseIfRunning(s: ServiceStore, what: "snapshot" | "restore"): Promise<void> {
    const inst = await getInstance(s.target, s.container);
    if (inst && inst.status !== "Stopped") {
        throw refused(
            `refusing to ${what} ${s.service} while ${s.container} is ${inst.status}: a ${what} is only consistent while nothing writes. ` +
                `The guarded upgrade stops it first; by hand, run \`incus stop ${s.container}\`. Nothing was touched.`,
        );
    }
}

/** Each volume's snapshots of our scheme. */
async function ourSnapshots(s: ServiceStore): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const v of s.volumes)
        out.set(
            v.name,
            (await volumeSnapshots(s.target, s.pool, v.volume)).filter((n) => SNAPSHOT_ID.test(n)),
        );
    return out;
}

/**
 * Takes a new known-good snapshot of every volume, holding the data of `release`, and
 * makes it the one once the metadata names it. Nothing is deleted here: the previous
 * known-good and the leftovers of a killed snapshot go when the upgrade commits.
 */
export async function takeSnapshot(s: ServiceStore, release: string, at = new Date()): Promise<SnapshotMeta> {
    await refuseIfRunning(s, "snapshot");
    const meta = snapshotMeta(
        s.service,
        release,
        s.volumes.map((v) => v.name),
        at,
    );
    const started = Date.now();
    for (const v of s.volumes) {
        const t = Date.now();
        await runOrThrow(snapshotCreateCmd(s.target, s.pool, v.volume, meta.id, JSON.stringify(meta)), `cannot snapshot volume ${v.volume} of ${s.service}`);
        progress(`${s.service}: snapshot ${meta.id} of ${v.volume} taken in ${Date.now() - t} ms`);
    }
    await writeHostFile(s.host, snapshotMetaPath(s.stateDir, s.service), `${JSON.stringify(meta)}\n`);
    progress(
        `${s.service}: known-good snapshot is now ${meta.id} (release ${release}, ${s.volumes.length} volume${s.volumes.length > 1 ? "s" : ""}, ${Date.now() - started} ms)`,
    );
    return meta;
}

/** Deletes every snapshot of our scheme but those in `keep`: a replaced known-good, and leftovers of a killed snapshot. */
export async function pruneSnapshots(s: ServiceStore, keep: readonly string[]): Promise<void> {
    for (const [name, snaps] of await ourSnapshots(s)) {
        const volume = s.volumes.find((v) => v.name === name)!.volume;
        for (const snap of snaps) {
            if (keep.includes(snap)) continue;
            await runOrThrow(snapshotDeleteCmd(s.target, s.pool, volume, snap), `cannot delete the old snapshot ${snap} of ${volume}`);
        }
    }
}

/** Why `id` cannot be restored into the service as it is now; undefined when it can. Reads only. */
export async function restoreCheck(s: ServiceStore, id: string): Promise<string | undefined> {
    const meta = await readSnapshotMeta(s);
    const snaps = await ourSnapshots(s);
    const present = new Set([...snaps].filter(([, names]) => names.includes(id)).map(([v]) => v));
    return restoreProblem(
        s.service,
        id,
        meta,
        s.volumes.map((v) => v.name),
        present,
    );
}

/** Puts every volume back to snapshot `id`. The service must be stopped. */
export async function restoreSnapshot(s: ServiceStore, id: string): Promise<SnapshotMeta> {
    const problem = await restoreCheck(s, id);
    if (problem) throw refused(`${problem}. Nothing was touched.`);
    await refuseIfRunning(s, "restore");
    const started = Date.now();
    for (const v of s.volumes) {
        await runOrThrow(snapshotRestoreCmd(s.target, s.pool, v.volume, id), `cannot restore volume ${v.volume} of ${s.service} from ${id}`);
    }
    progress(`${s.service}: restored ${s.volumes.length} volume${s.volumes.length > 1 ? "s" : ""} from ${id} in ${Date.now() - started} ms`);
    return (await readSnapshotMeta(s))!;
}
