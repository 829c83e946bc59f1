// Boot in groups (seed 004: Kamal's boot limit/wait, group_limit and group_wait in the
// seed's playbooks): the nodes of a pool are created or replaced at most `limit` at a time,
// with a pause between groups. Pure.

import type { BootSpec } from "./config";

/** Pure: nodes per group: a count, or a share of the pool rounded up; at least 1. */
export function groupSize(limit: BootSpec["limit"], nodes: number): number {
    const n = typeof limit === "number" ? limit : Math.ceil((nodes * Number(limit.slice(0, -1))) / 100);
    return Math.max(1, Math.min(nodes, n));
}

/** Pure: the group (0-based) of node `node` (1..nodes). */
export function bootGroup(node: number, size: number): number {
    return Math.floor((node - 1) / size);
}
