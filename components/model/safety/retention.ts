// Release retention (seed 004: Kamal's retain_containers and the prune that once deleted the
// rollback target). Pure: which releases of a component to keep, and which to prune.

export interface StoredRelease {
    readonly release: string;
    /** When it was published (ms since the epoch). */
    readonly publishedAt: number;
}

/**
 * Pure: the newest `keep` releases stay, and so does every protected one (a color runs it,
 * it served before in the history, it is a stateful service's release or last_good),
 * however old. Returns what to prune, oldest first.
 */
export function releasesToPrune(stored: readonly StoredRelease[], keep: number, protectedReleases: ReadonlySet<string>): string[] {
    const newest = [...stored].sort((a, b) => b.publishedAt - a.publishedAt || b.release.localeCompare(a.release));
    return newest
        .slice(keep)
        .filter((r) => !protectedReleases.has(r.release))
        .reverse()
        .map((r) => r.release);
}

/**
 * Pure: the rollback targets the history names: the release that serves and the one that
 * served before it (the previous active release), from `<time> <color> <release>` lines.
 */
export function historyTargets(text: string | undefined): string[] {
    const served = (text ?? "")
        .split("\n")
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f.length >= 3 && f[1] !== "none" && f[2] !== "-")
        .map((f) => f[2]!);
    const out: string[] = [];
    for (const r of served.reverse()) {
        if (!out.includes(r)) out.push(r);
        if (out.length === 2) break;
    }
    return out;
}
