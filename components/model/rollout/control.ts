// Rollout controls (issue 23, after Argo Rollouts' promote/abort/pause/resume/retry): a small
// explicit state machine for a running canary, shift or switch gate, the control record the
// `rollout` verbs write, and the events the running provider reads off it. Pure.
//
// Two files beside the canary and shift records on the HAProxy host:
//   rollout.json          written by the running provider only: where the rollout stands;
//   rollout-control.json  written by the verbs only: what was asked of the run `runId`.
// One writer each, so neither needs a lock.

import type { Color } from "../naming";

export type RolloutKind = "canary" | "shift" | "switch";

/** Who asked, why and when. */
export interface Actor {
    readonly by: string;
    readonly why?: string;
    /** UTC ISO 8601. */
    readonly at: string;
}

/** rollout-control.json. */
export interface ControlRecord {
    /** The run it addresses; a record of another run is ignored. */
    readonly runId: string;
    readonly paused?: Actor;
    readonly aborted?: Actor;
    /** Each `promote` adds one: the run acts once per new one. */
    readonly promotions: number;
    readonly lastPromote?: Actor;
    /** `promote --full`: every remaining window and gate is skipped. */
    readonly full?: Actor;
}

/**
 * The states of a running rollout. `progressing`: a window (or a node) runs; `paused`: held by
 * a verb, the window clock stopped; `gated`: a manual gate waits for `promote`. The rest end it.
 */
export type RolloutPhase = "progressing" | "paused" | "gated" | "aborted" | "timedOut" | "done" | "rolledBack";

export type RolloutState =
    | { readonly phase: "progressing"; readonly full?: boolean }
    | { readonly phase: "paused"; readonly actor: Actor; readonly resumeTo: "progressing" | "gated"; readonly full?: boolean }
    | { readonly phase: "gated"; readonly full?: boolean }
    | { readonly phase: "aborted"; readonly actor: Actor }
    | { readonly phase: "timedOut" }
    | { readonly phase: "done" }
    | { readonly phase: "rolledBack" };

export type RolloutEvent =
    | { readonly kind: "pause"; readonly actor: Actor }
    | { readonly kind: "resume" }
    | { readonly kind: "promote"; readonly full: boolean }
    | { readonly kind: "abort"; readonly actor: Actor }
    | { readonly kind: "gate" }
    | { readonly kind: "gateTimeout" }
    | { readonly kind: "windowGreen" }
    | { readonly kind: "windowRed" };

/** What the caller does after a transition. `skip`: the current window or gate ends now, as green. */
export type Effect = "none" | "hold" | "skip" | "rollBack";

export function isTerminal(s: RolloutState): boolean {
    return s.phase === "aborted" || s.phase === "timedOut" || s.phase === "done" || s.phase === "rolledBack";
}

/**
 * Pure: one transition. A promote skips the current step only (a window, or a gate), as
 * Argo's does; a full one every remaining step. Abort wins from any live state. An event
 * that does not apply leaves the state as it is.
 */
export function transition(s: RolloutState, e: RolloutEvent): { readonly state: RolloutState; readonly effect: Effect } {
    const same = { state: s, effect: "none" as const };
    if (isTerminal(s)) return same;
    const full = "full" in s && s.full ? { full: true } : {};
    switch (e.kind) {
        case "abort":
            return { state: { phase: "aborted", actor: e.actor }, effect: "rollBack" };
        case "pause":
            if (s.phase === "paused") return same;
            return { state: { phase: "paused", actor: e.actor, resumeTo: s.phase === "gated" ? "gated" : "progressing", ...full }, effect: "hold" };
        case "resume":
            return s.phase === "paused" ? { state: { phase: s.resumeTo, ...full }, effect: "none" } : same;
        case "promote":
            // A promote of a paused rollout resumes it and skips the step it held.
            return { state: { phase: "progressing", ...(e.full ? { full: true } : full) }, effect: "skip" };
        case "gate":
            if (s.phase !== "progressing") return same;
            return s.full ? { state: s, effect: "skip" } : { state: { phase: "gated" }, effect: "hold" };
        case "gateTimeout":
            return s.phase === "gated" || s.phase === "paused" ? { state: { phase: "timedOut" }, effect: "rollBack" } : same;
        case "windowGreen":
            return { state: { phase: "progressing", ...full }, effect: "none" };
        case "windowRed":
            return { state: { phase: "rolledBack" }, effect: "rollBack" };
    }
}

/** What the run has already acted on, so each verb acts once. */
export interface Seen {
    readonly promotions: number;
    readonly paused: boolean;
    readonly full: boolean;
}

export const NOTHING_SEEN: Seen = { promotions: 0, paused: false, full: false };

/** Pure: the events a control record holds for run `runId` that it has not acted on yet, in order. */
export function controlEvents(r: ControlRecord | undefined, runId: string, seen: Seen): { readonly events: RolloutEvent[]; readonly seen: Seen } {
    if (!r || r.runId !== runId) return { events: [], seen };
    if (r.aborted) return { events: [{ kind: "abort", actor: r.aborted }], seen };
    const events: RolloutEvent[] = [];
    if (r.paused && !seen.paused) events.push({ kind: "pause", actor: r.paused });
    if (!r.paused && seen.paused) events.push({ kind: "resume" });
    if (r.full && !seen.full) events.push({ kind: "promote", full: true });
    else if (r.promotions > seen.promotions) events.push({ kind: "promote", full: false });
    return { events, seen: { promotions: r.promotions, paused: r.paused !== undefined, full: r.full !== undefined } };
}

/** rollout.json: the running (or last) rollout, as its provider last wrote it. */
export interface RolloutRecord {
    readonly runId: string;
    readonly kind: RolloutKind;
    readonly release: string;
    /** The last-known-good (a canary), or the old color (a shift or switch). */
    readonly from: string;
    readonly color: Color;
    readonly phase: RolloutPhase;
    /** What runs now, e.g. "canary window", "shift step 2/4 (25%)", "gate before the peers". */
    readonly step: string;
    /** While a window runs: when it ends (ms since the epoch). */
    readonly windowEndsAt?: number;
    /** While paused: the window's time left, frozen. */
    readonly remainingMs?: number;
    /** While gated: when the gate times out and the rollout rolls back. */
    readonly gateTimesOutAt?: number;
    readonly paused?: Actor;
    readonly aborted?: Actor;
    /** The last probe's values against their thresholds. */
    readonly lastProbe?: string;
    /** `rollout retry` lifted this run's rejection. */
    readonly retried?: Actor;
    readonly updatedAt: string;
}

export function parseJson<T>(text: string | undefined): T | undefined {
    try {
        return text ? (JSON.parse(text) as T) : undefined;
    } catch {
        return undefined;
    }
}

export function running(r: RolloutRecord | undefined): boolean {
    return r !== undefined && (r.phase === "progressing" || r.phase === "paused" || r.phase === "gated");
}

export type ControlVerb = "abort" | "pause" | "resume" | "promote";

/**
 * Pure: the control record after a verb, or why it is refused. `lockHeld`: the deploy lock
 * is held, so the run that wrote the record is alive (a killed one's record says nothing).
 */
export function applyVerb(
    o: {
        readonly rollout: RolloutRecord | undefined;
        readonly lockHeld: boolean;
        readonly control: ControlRecord | undefined;
        readonly stack: string;
    },
    verb: ControlVerb,
    actor: Actor,
    full = false,
): { readonly record: ControlRecord } | { readonly refused: string } {
    const r = o.rollout;
    if (!r || !running(r) || !o.lockHeld) {
        const last = r ? `; the last, a ${r.kind} of ${r.release} on ${r.color}, is ${running(r) ? "no longer running (its up is gone)" : r.phase}` : "";
        return {
            refused: `no rollout is running on stack ${o.stack}${last}. Nothing was changed. Start one with \`up\`, or see \`rollout status --stack ${o.stack}\``,
        };
    }
    if (full && !actor.why) return { refused: `promote --full skips every remaining window and gate, so it needs -m "<why>"; nothing was changed` };
    const prev: ControlRecord = o.control && o.control.runId === r.runId ? o.control : { runId: r.runId, promotions: 0 };
    const { paused: _p, ...unpaused } = prev;
    switch (verb) {
        case "abort":
            return { record: { ...prev, aborted: actor } };
        case "pause":
            if (prev.paused)
                return { refused: `the ${r.kind} of ${r.release} is already paused by ${describeActor(prev.paused)}; \`rollout resume\` continues it` };
            return { record: { ...prev, paused: actor } };
        case "resume":
            if (!prev.paused && r.phase !== "paused") return { refused: `the ${r.kind} of ${r.release} is not paused (it is ${r.phase}); nothing was changed` };
            return { record: unpaused };
        case "promote":
            return { record: { ...unpaused, promotions: prev.promotions + 1, lastPromote: actor, ...(full ? { full: actor } : {}) } };
    }
}

export function describeActor(a: Actor): string {
    return `${a.by}${a.why ? `: ${a.why}` : ""}`;
}

/** Pure: `status` of a rollout record, at `now`. */
export function describeRollout(r: RolloutRecord | undefined, lockHeld: boolean, now: number): string {
    if (!r) return "no rollout has run on this stack";
    const live = running(r) && lockHeld;
    const lines = [
        `${r.kind} of ${r.release} on ${r.color} (from ${r.from}): ${live ? r.phase : running(r) ? `${r.phase}, but its up is gone` : r.phase}, ${r.step}`,
    ];
    if (r.phase === "paused" && r.paused) lines.push(`paused by ${describeActor(r.paused)}`);
    if (r.phase === "paused" && r.remainingMs !== undefined) lines.push(`window: ${Math.round(r.remainingMs / 1000)}s left (clock stopped)`);
    else if (r.phase === "progressing" && r.windowEndsAt !== undefined) lines.push(`window: ${Math.max(0, Math.round((r.windowEndsAt - now) / 1000))}s left`);
    if (r.phase === "gated" && r.gateTimesOutAt !== undefined)
        lines.push(`waiting for \`rollout promote\`; rolls back in ${Math.max(0, Math.round((r.gateTimesOutAt - now) / 1000))}s`);
    if (r.lastProbe) lines.push(`last probe: ${r.lastProbe}`);
    if (r.aborted) lines.push(`aborted by ${describeActor(r.aborted)}`);
    lines.push(`updated ${r.updatedAt}`);
    return lines.join("\n");
}

/** Pure: the window's time left when it is paused at `now`. */
export function remainingAt(windowEndsAt: number, now: number): number {
    return Math.max(0, windowEndsAt - now);
}

/**
 * Pure: why a rollout of `release` to `color` is refused: the last one of it was aborted (or
 * its gate timed out) and no `rollout retry` lifted that. undefined: it may run.
 */
export function rejection(r: RolloutRecord | undefined, kind: RolloutKind, release: string, color: Color, stack: string): string | undefined {
    if (!r || r.kind !== kind || r.release !== release || r.color !== color || r.retried) return undefined;
    if (r.phase !== "aborted" && r.phase !== "timedOut") return undefined;
    const how = r.phase === "aborted" ? `aborted${r.aborted ? ` by ${describeActor(r.aborted)}` : ""}` : "rolled back when its gate timed out";
    const back = kind === "canary" ? `Set bluegreen:colors.${color}.release back to ${r.from}` : `Set bluegreen:active back to ${r.from}`;
    return (
        `the last ${kind} of ${release} to ${color} was ${how} (${r.updatedAt}), so ${release} is rejected. ` +
        `${back}, or run \`npm run local -- rollout retry --stack ${stack}\` to roll ${release} again. Nothing was touched`
    );
}
