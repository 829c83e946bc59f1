// The progressive shift's steps and its record (Argo Rollouts' steps, Flagger's stepWeights),
// kept apart from the analysis that judges each step (release/analysis.ts). Pure.

import type { Color } from "./naming";
import type { TrafficSplit } from "./traffic";

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
 */
export function shiftsFrom(o: {
    readonly progressive: boolean;
    readonly target: Color;
    /** Live traffic per color. */
    readonly live: TrafficSplit | "mixed";
    readonly recorded?: Color;
    readonly fastRollback: boolean;
}): Color | undefined {
    if (!o.progressive || o.live === "mixed" || o.fastRollback) return undefined;
    const other: Color = o.target === "blue" ? "green" : "blue";
    if ((o.live[other] ?? 0) === 0) return undefined;
    if (o.recorded === o.target) return undefined;
    return other;
}
