// Release retention: after a successful up, the artifact store keeps the newest
// bluegreen:retain.releases releases per component, and every rollback target whatever its
// age (model/safety/retention.ts). Only a `dir` store is pruned; for an `http` store it reports what
// it would prune, among the releases this host has cached from it, and deletes nothing. The
// host's cache is pruned of this store's copies only: other stacks' stores share it.

import * as fs from "fs";
import * as path from "path";
import { openStore, storeCacheDir } from "../../io/artifacts";
import { HaproxyHost, readHostFile } from "../../io/haproxyHost";
import { progress } from "../../io/progress";
import type { ArtifactStoreSpec } from "../../model/config";
import { StoredRelease, historyTargets, releasesToPrune } from "../../model/safety/retention";
import { AuditContext, audit } from "./audit";
import { historyPath } from "./history";
import { lastGoodPath } from "../stateful/snapshot";
import { canaryRecordPath, parseCanaryRecord } from "../rollout/canary";

export interface RetentionInputs extends AuditContext {
    /** `up` prunes; `preview` only says what an up would prune. */
    readonly mode: "up" | "preview";
    readonly keep: number;
    readonly artifacts: ArtifactStoreSpec;
    /** Every component and stateful service: their artifacts share the store. */
    readonly components: readonly string[];
    /** Releases config names: every color's, every stateful service's. */
    readonly inUse: readonly string[];
    /** Stateful services whose last_good is a rollback target. */
    readonly services: readonly string[];
    readonly host: HaproxyHost;
}

/** The releases under `<dir>/<component>/`, with their publish time; temp dirs are not releases. */
function listed(dir: string): StoredRelease[] {
    let names: string[];
    try {
        names = fs.readdirSync(dir);
    } catch {
        return [];
    }
    return names.filter((n) => !n.startsWith(".")).map((n) => ({ release: n, publishedAt: fs.statSync(path.join(dir, n)).mtimeMs }));
}

/**
 * Every rollback target: what config runs, the history's serving and previous releases, each
 * service's last_good, and both releases of the canary record (its last-known-good is an undo's target).
 */
async function protectedReleases(i: RetentionInputs): Promise<Set<string>> {
    const history = await readHostFile(i.host, historyPath(i.stateDir));
    const lastGood = await Promise.all(i.services.map((s) => readHostFile(i.host, lastGoodPath(i.stateDir, s)).then((t) => t?.trim())));
    const canary = parseCanaryRecord(await readHostFile(i.host, canaryRecordPath({ stateDir: i.stateDir })));
    return new Set([...i.inUse, ...historyTargets(history), ...lastGood.filter((r): r is string => !!r), ...(canary ? [canary.release, canary.from] : [])]);
}

/** Prunes (or, in preview and for an http store, reports); returns what it pruned or would, per component. */
export async function applyRetention(i: RetentionInputs, projectDir = process.cwd()): Promise<Record<string, string[]>> {
    // Reading the records fails closed: without them no release is known safe to delete.
    const keep = await protectedReleases(i);
    const dirStore = i.artifacts.type === "dir" ? path.resolve(projectDir, i.artifacts.path) : undefined;
    const cache = storeCacheDir(openStore(i.artifacts, projectDir).identity);
    const out: Record<string, string[]> = {};
    for (const component of i.components) {
        const root = dirStore ? path.join(dirStore, component) : path.join(cache, component);
        const prune = releasesToPrune(listed(root), i.keep, keep);
        if (prune.length === 0) continue;
        out[component] = prune;
        if (!dirStore || i.mode === "preview") {
            const why = dirStore ? "up will prune" : "an http store is not pruned by bluegreen; it would prune (of the releases cached here)";
            progress(`retention: ${component}: ${why} ${prune.join(", ")} (keeping the newest ${i.keep} and every rollback target)`);
            continue;
        }
        for (const release of prune) {
            // Renamed away first, so a reader never sees half a release; then removed.
            const gone = path.join(root, `.prune-${release}-${process.pid}`);
            fs.renameSync(path.join(root, release), gone);
            fs.rmSync(gone, { recursive: true, force: true });
            fs.rmSync(path.join(cache, component, release), { recursive: true, force: true });
        }
        progress(`retention: ${component}: pruned ${prune.join(", ")}; kept the newest ${i.keep} and every rollback target`);
        await audit(i, { operation: "cleanup", details: { artifacts: component, pruned: prune.join(","), kept: i.keep } });
    }
    return out;
}
