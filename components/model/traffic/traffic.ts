// Traffic as a weight map. A TrafficSplit gives each color its percent of traffic;
// HAProxy gets it as per-server weights, set over the runtime API, and the live
// weights read back into a split verify what HAProxy actually does (Argo Rollouts'
// SetWeight / VerifyWeight). Pure.

import { COLORS, Color } from "../naming";

/** Percent of traffic per color. Colors left out get none; empty means nothing is served. */
export type TrafficSplit = Readonly<Partial<Record<Color, number>>>;

/** A color's servers in one backend share its percent. A whole color gets this weight. */
export const FULL_WEIGHT = 100;

export interface PoolServer {
    readonly name: string;
    readonly color: Color;
}

/** One HAProxy backend and the servers of both colors in it. */
export interface Pool {
    readonly backend: string;
    readonly servers: readonly PoolServer[];
}

export interface ServerWeight {
    readonly backend: string;
    readonly server: string;
    readonly weight: number;
}

/** What the runtime API reports of a server (`show servers state`). */
export interface LiveServer {
    readonly backend: string;
    readonly server: string;
    readonly weight: number;
    /** Drained or in maintenance: takes no new traffic whatever its weight. */
    readonly draining?: boolean;
}

/** All traffic on one color, or none at all. */
export function allOn(color: Color | undefined): TrafficSplit {
    return color ? { [color]: FULL_WEIGHT } : {};
}

/** Drops colors at 0, so equal traffic always compares equal. */
export function normalize(split: TrafficSplit): TrafficSplit {
    const out: Partial<Record<Color, number>> = {};
    for (const c of COLORS) if ((split[c] ?? 0) > 0) out[c] = split[c]!;
    return out;
}

export function splitsEqual(a: TrafficSplit, b: TrafficSplit): boolean {
    const x = normalize(a);
    const y = normalize(b);
    return COLORS.every((c) => x[c] === y[c]);
}

/** The one color that takes all traffic, if there is one. */
export function soleColor(split: TrafficSplit): Color | undefined {
    const n = normalize(split);
    const colors = COLORS.filter((c) => n[c] !== undefined);
    return colors.length === 1 ? colors[0] : undefined;
}

/** `blue`, `none`, or `blue=90,green=10`. */
export function describeSplit(split: TrafficSplit): string {
    const n = normalize(split);
    const colors = COLORS.filter((c) => n[c] !== undefined);
    if (colors.length === 0) return "none";
    if (colors.length === 1 && n[colors[0]] === FULL_WEIGHT) return colors[0];
    return colors.map((c) => `${c}=${n[c]}`).join(",");
}

/** The color a server belongs to: its name is the color, or `<color>-<node>`. */
export function colorOfServer(server: string): Color | undefined {
    return COLORS.find((c) => server === c || server.startsWith(`${c}-`));
}

/** Pure: the weight each server gets. A color's percent is shared among its servers (at least 1 each when it has any). */
export function desiredWeights(pools: readonly Pool[], split: TrafficSplit): ServerWeight[] {
    return pools.flatMap((p) =>
        p.servers.map((s) => {
            const percent = split[s.color] ?? 0;
            const peers = p.servers.filter((x) => x.color === s.color).length;
            const weight = percent > 0 ? Math.max(1, Math.round(percent / peers)) : 0;
            return { backend: p.backend, server: s.name, weight };
        }),
    );
}

export function setWeightCommand(backend: string, server: string, weight: number): string {
    return `set server ${backend}/${server} weight ${weight}`;
}

/** Pure: runtime API commands for these weights, raising before lowering, so no backend is ever left without weight. */
export function weightCommands(weights: readonly ServerWeight[]): string[] {
    return [...weights].sort((a, b) => b.weight - a.weight).map((w) => setWeightCommand(w.backend, w.server, w.weight));
}

/**
 * Pure: the split HAProxy's live weights give, read back per backend. "mixed" when
 * backends disagree; empty when no server of a color has weight.
 */
export function servedSplit(live: readonly LiveServer[], backends: readonly string[]): TrafficSplit | "mixed" {
    let seen: TrafficSplit | undefined;
    for (const b of backends) {
        const weights: Partial<Record<Color, number>> = {};
        let total = 0;
        for (const s of live) {
            const color = s.backend === b ? colorOfServer(s.server) : undefined;
            if (!color || s.draining || s.weight <= 0) continue;
            weights[color] = (weights[color] ?? 0) + s.weight;
            total += s.weight;
        }
        const split: Partial<Record<Color, number>> = {};
        for (const c of COLORS) if (weights[c]) split[c] = Math.round((weights[c]! * FULL_WEIGHT) / total);
        if (seen && !splitsEqual(seen, split)) return "mixed";
        seen = split;
    }
    return seen ?? {};
}

/** Pure: the color that takes all traffic; undefined when none does; "mixed" when it is split. */
export function servedColor(live: readonly LiveServer[], backends: readonly string[]): Color | "mixed" | undefined {
    const split = servedSplit(live, backends);
    if (split === "mixed") return "mixed";
    if (Object.keys(normalize(split)).length === 0) return undefined;
    return soleColor(split) ?? "mixed";
}
