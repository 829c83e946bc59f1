// The progressive shift's steps and its record (Argo Rollouts' steps, Flagger's stepWeights),
// kept apart from the analysis that judges each step (release/rollout/analysis.ts). Pure.

import type { Color } from "../naming";
import type { TrafficSplit } from "../traffic/traffic";

/** The split at a step: `percent` of traffic on `to`, the rest on `from`. */
export function stepSplit(from: Color, to: Color, percent: number): TrafficSplit {
    return percent >= 100 ? { [to]: 100 } : { [from]: 100 - percent, [to]: percent };
}

/** What `<stateDir>/shift.json` says of the last shift; status shows it. */
export interface ShiftRecord {
    readonly from: Color;
    readonly to: Color;
    readonly release: string;
    /** 1-based step, of `steps`. */
    readonly step: number;
    readonly steps: number;
    readonly percent: number;
    readonly phase: "shifting" | "done" | "rolledBack";
    readonly lastProbe?: string;
    readonly reasons?: readonly string[];
    /** UTC ISO 8601. */
    readonly time: string;
}

export function parseShiftRecord(text: string | undefined): ShiftRecord | undefined {
    try {
        return text ? (JSON.parse(text) as ShiftRecord) : undefined;
    } catch {
        return undefined;
    }
}

/**
 * Pure: does this switch move traffic by steps? Only a forward move from a color that takes
 * traffic now. Going back is instant: to the color the active-color file still names (a
 * shift interrupted or rolled back), or a fast rollback to what served just before.
 * A recorded shift to the target that never finished (the file still names its old color)
 * restarts from its first step, whatever the live split says: a restart or a hand may
 * have put traffic on the new color, which no analysis passed.
 */
export function shiftsFrom(o: {
    readonly progressive: boolean;
    readonly target: Color;
    /** Live traffic per color. */
    readonly live: TrafficSplit | "mixed";
    readonly recorded?: Color;
    readonly fastRollback: boolean;
    /** The last shift record (`shift.json`). */
    readonly unfinished?: Pick<ShiftRecord, "from" | "to" | "phase">;
}): Color | undefined {
    if (!o.progressive || o.fastRollback) return undefined;
    const u = o.unfinished;
    if (u && u.phase === "shifting" && u.to === o.target && u.from !== o.target && o.recorded === u.from) return u.from;
    if (o.live === "mixed") return undefined;
    const other: Color = o.target === "blue" ? "green" : "blue";
    if ((o.live[other] ?? 0) === 0) return undefined;
    if (o.recorded === o.target) return undefined;
    return other;
}
