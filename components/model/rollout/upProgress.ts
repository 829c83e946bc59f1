// Progress of a long `up`: "N of M containers healthy, ~T left". Pure: the caller passes
// the clock. A line at most every `everyMs`, so a no-op `up` (every container answered at
// once) prints nothing; the last line only when an earlier one was printed.

export interface UpProgress {
    readonly total: number;
    readonly startMs: number;
    /** When each container was seen healthy, in order. */
    readonly healthyAt: readonly number[];
    /** When the last line was printed; undefined: none yet. */
    readonly lastLineMs?: number;
}

export const PROGRESS_EVERY_MS = 5000;

export function startProgress(total: number, nowMs: number): UpProgress {
    return { total, startMs: nowMs, healthyAt: [] };
}

/**
 * Pure: milliseconds left at the rate containers have become healthy. From the second one on,
 * the rate between the first and the last (the first carries a whole create's latency, which
 * the others overlap); with one, the time since the start per container. Undefined: none yet.
 */
export function estimateLeftMs(p: UpProgress): number | undefined {
    const done = p.healthyAt.length;
    if (done === 0) return undefined;
    const left = p.total - done;
    if (left <= 0) return 0;
    const first = p.healthyAt[0]!;
    const last = p.healthyAt[done - 1]!;
    const perContainer = done >= 2 && last > first ? (last - first) / (done - 1) : Math.max(0, last - p.startMs) / done;
    return Math.round(left * perContainer);
}

/** Pure: "~40 s left", "~3 min left". */
export function describeLeft(ms: number): string {
    const s = Math.max(1, Math.round(ms / 1000));
    return s < 120 ? `~${s} s left` : `~${Math.round(s / 60)} min left`;
}

/** Pure: the line for the state as it is. */
export function progressLine(p: UpProgress, nowMs: number): string {
    const done = p.healthyAt.length;
    const head = `${done} of ${p.total} containers healthy`;
    if (done >= p.total) return `${head} in ${Math.round((nowMs - p.startMs) / 1000)} s`;
    const left = estimateLeftMs(p);
    return left === undefined ? head : `${head}, ${describeLeft(left)}`;
}

/**
 * Pure: one more container is healthy at `nowMs`; returns the new state and the line to print,
 * if one is due: every `everyMs` while containers are still coming, and the last one when a line
 * was printed before. A count beyond the total (a container healed twice) is ignored.
 */
export function containerHealthy(p: UpProgress, nowMs: number, everyMs = PROGRESS_EVERY_MS): { next: UpProgress; line?: string } {
    if (p.healthyAt.length >= p.total) return { next: p };
    const next: UpProgress = { ...p, healthyAt: [...p.healthyAt, nowMs] };
    const finished = next.healthyAt.length === next.total;
    const due = finished ? p.lastLineMs !== undefined : nowMs - (p.lastLineMs ?? p.startMs) >= everyMs;
    return due ? { next: { ...next, lastLineMs: nowMs }, line: progressLine(next, nowMs) } : { next };
}

/** Pure: a timer's tick: the line, if one is due, while no container comes (a long first wave). */
export function progressTick(p: UpProgress, nowMs: number, everyMs = PROGRESS_EVERY_MS): { next: UpProgress; line?: string } {
    if (p.healthyAt.length >= p.total || nowMs - (p.lastLineMs ?? p.startMs) < everyMs) return { next: p };
    return { next: { ...p, lastLineMs: nowMs }, line: progressLine(p, nowMs) };
}
