// The canary (seed 002, the canary runbook), as a small explicit state machine, after
// Argo Rollouts' rollout/canary.go: which node goes first, what each step does, and what
// the record of a rollout says so a re-run resumes it. The analysis is its own concept
// (model/rollout/analysis.ts, release/rollout/analysis.ts). Pure.

import { Color, containerName, haproxyBackendName, nodesOf, serverName } from "../naming";
import { colorHostPort } from "../traffic/topology";

/** One node of a pool the canary touches. */
export interface PoolNode {
    readonly component: string;
    readonly node: number;
    readonly container: string;
    readonly backend: string;
    readonly server: string;
    /** Its loopback port on this host (health checks, Prometheus's target); with `address`, the app's own port. */
    readonly port: number;
    /** A routed node's address: probed there from the HAProxy instance. */
    readonly address?: string;
}

export interface PoolSpec {
    readonly component: string;
    readonly nodes: number;
    readonly hostPort: number;
    /** Routed: each node's address per color (node order), reached at the app's `port`. */
    readonly routed?: { readonly port: number; readonly addresses: Readonly<Record<Color, readonly string[]>> };
}

export interface CanaryPlan {
    /** One per pool: the node that gets the release first and the SLI window. */
    readonly canaries: readonly PoolNode[];
    /** The rest, rolled one at a time after a green window. */
    readonly peers: readonly PoolNode[];
}

/** Pure: every node of a component's pool of `color`. */
export function poolNodes(prefix: string, color: Color, p: PoolSpec): PoolNode[] {
    return nodesOf(p.nodes)
        .filter((n): n is number => n !== undefined)
        .map((node) => ({
            component: p.component,
            node,
            container: containerName(prefix, p.component, color, node),
            backend: haproxyBackendName(p.component),
            server: serverName(color, node),
            ...(p.routed ? { port: p.routed.port, address: p.routed.addresses[color][node - 1] } : { port: colorHostPort(p.hostPort, color, node) }),
        }));
}

/**
 * Pure: the canary node of every pool (bluegreen:canary.node, default the last; seed:
 * backend-api-2) and the peers. A pool of one cannot be canaried without an outage, so
 * it is a problem, as is a canary node the pool does not have.
 */
export function planCanary(prefix: string, color: Color, pools: readonly PoolSpec[], node?: number): { plan?: CanaryPlan; problems: string[] } {
    const problems: string[] = [];
    const canaries: PoolNode[] = [];
    const peers: PoolNode[] = [];
    for (const p of pools) {
        if (p.nodes < 2) {
            problems.push(
                `${p.component} has a pool of one node on ${color}, which a canary cannot update without an outage. ` +
                    `Deploy the release to the other color and switch (bluegreen:colors.<other>.release, bluegreen:active), or raise bluegreen:components.${p.component}.nodes`,
            );
            continue;
        }
        const pick = node ?? p.nodes;
        if (pick > p.nodes) {
            problems.push(
                `bluegreen:canary.node is ${pick}, but ${p.component} has ${p.nodes} nodes; set it to at most ${p.nodes}, or leave it out for the last node`,
            );
            continue;
        }
        const all = poolNodes(prefix, color, p);
        canaries.push(all[pick - 1]);
        peers.push(...all.filter((n) => n.node !== pick));
    }
    return problems.length > 0 ? { problems } : { plan: { canaries, peers }, problems };
}

/** What the stack's canary record says: where the last rollout of the serving color stands. */
export interface CanaryRecord {
    /** The release being rolled out. */
    readonly release: string;
    /** The last-known-good release it replaces. */
    readonly from: string;
    readonly color: Color;
    readonly phase: CanaryPhase;
    /** When the SLI window started (ms since the epoch): a resumed run keeps the window. */
    readonly startedAt?: number;
    /** Why it went red or paused, naming the probe and its values. */
    readonly reasons?: readonly string[];
    /** The last probe's values, for `status`. */
    readonly lastProbe?: string;
    /** `rollout retry` lifted this rollback: the next run rolls the same release again. */
    readonly retried?: { readonly by: string; readonly at: string };
    /** This record is an undo's: `release` was put back over `from` by config, with no window. */
    readonly undo?: boolean;
    readonly updatedAt: string;
}

/**
 * The phases, in order: the canary nodes are installed, then judged, then the peers
 * follow. `rolledBack` and `paused` end a red window; `done` a green rollout.
 */
export type CanaryPhase = "canary" | "analysis" | "peers" | "done" | "rolledBack" | "paused";

/** What a run does, given the record it finds and the release it is asked for. */
export type CanaryStart =
    | { readonly kind: "fresh" }
    | { readonly kind: "resume"; readonly startedAt?: number }
    | { readonly kind: "finishPeers" }
    | { readonly kind: "refuse"; readonly why: string };

/** Pure: how a run starts from the record left by the last one (none, or a killed, red, paused or finished run). */
export function canaryStart(record: CanaryRecord | undefined, color: Color, release: string, stack = "<stack>"): CanaryStart {
    if (!record || record.release !== release || record.color !== color) return { kind: "fresh" };
    switch (record.phase) {
        case "canary":
            return { kind: "resume" };
        case "analysis":
            return { kind: "resume", startedAt: record.startedAt };
        case "paused":
            // A human looked and runs it again: a new window.
            return { kind: "resume" };
        case "peers":
        case "done":
            return { kind: "finishPeers" };
        case "rolledBack":
            if (record.retried) return { kind: "fresh" };
            return {
                kind: "refuse",
                why:
                    `release ${release} already failed its canary on ${color} and was rolled back to ${record.from} (${(record.reasons ?? []).join("; ") || "see the history"}). ` +
                    `Set bluegreen:colors.${color}.release back to ${record.from}, publish a fixed release and set that, ` +
                    `or run \`npm run local -- rollout retry --stack ${stack}\` to roll ${release} again`,
            };
    }
}

/** What a release change of the serving color does: an undo (no window) or a canary; `why` says why not an undo when it looked like one. */
export type UndoDecision = { readonly kind: "undo" } | { readonly kind: "canary"; readonly why?: string };

/**
 * Pure: setting `release` on `color`, which runs `running`, is an undo (seed 002: on-call
 * rolls back to `.previous`) when the record's finished canary took the pool from `release`
 * to `running`: `release` is its last-known-good, and its artifact is in the store
 * (`inStore`). Anything else is a canary, with the reason when `release` is that record's
 * last-known-good but the undo does not hold.
 */
export function undoDecision(record: CanaryRecord | undefined, color: Color, running: string, release: string, inStore: boolean): UndoDecision {
    if (!record || record.color !== color || record.from !== release || release === running) return { kind: "canary" };
    const not = `not an undo, so a canary with its full window: `;
    if (record.release !== running) return { kind: "canary", why: `${not}the last canary record is of ${record.release}, but ${color} runs ${running}` };
    if (record.phase !== "done") return { kind: "canary", why: `${not}the canary of ${running} did not finish (phase ${record.phase})` };
    // An undo's own "from" was put back by hand, never judged the last-known-good.
    if (record.undo) return { kind: "canary", why: `${not}${running} was put back by an undo of ${release}, which is judged again` };
    if (!inStore) return { kind: "canary", why: `${not}${release}'s artifact is not in the store` };
    return { kind: "undo" };
}

/** Pure: puts a drained server back in rotation. */
export function readyCommand(backend: string, server: string): string {
    return `set server ${backend}/${server} state ready`;
}

/** A node's label naming the release kept unpacked beside the running one (under PREVIOUS_DIR). */
export const PREVIOUS_LABEL = "user.bluegreen.previous";

/**
 * Pure: before a new release lands in a node, its running tree and tarball become the one
 * previous (the old previous is removed: one kept, disk stays bounded). Fixed script: no input in it.
 */
export function keepPreviousCommand(root = "/opt/bluegreen"): string[] {
    return [
        "sh",
        "-ec",
        'cd "$1"; rm -rf previous previous.tar.gz; if [ -d app ]; then mv app previous; fi; if [ -f release.tar.gz ]; then mv release.tar.gz previous.tar.gz; fi',
        "sh",
        root,
    ];
}

/**
 * Pure: the kept previous release and the running one change places, so a restart runs it
 * (no download, no unpack). Exits 3 when nothing is kept. Without a kept tree (never
 * unpacked), the init unpacks the kept tarball on start.
 */
export function swapPreviousCommand(root = "/opt/bluegreen"): string[] {
    return [
        "sh",
        "-ec",
        'cd "$1"; [ -f previous.tar.gz ] || exit 3; rm -rf app.next; if [ -d previous ]; then mv previous app.next; fi; ' +
            "if [ -d app ]; then mv app previous; fi; if [ -d app.next ]; then mv app.next app; fi; " +
            "if [ -f release.tar.gz ]; then mv release.tar.gz release.swap; fi; mv previous.tar.gz release.tar.gz; " +
            "if [ -f release.swap ]; then mv release.swap previous.tar.gz; fi",
        "sh",
        root,
    ];
}
