// Cluster placement: which member of an Incus cluster each instance of the stack goes on.
// Node n of a pool goes on member n mod M of the members in use, in a stable order, so a
// color of two or more nodes spans members, and growing or shrinking a pool moves no node
// that stays. A member that is not online is never silently used: a node that belongs
// there is refused (offlineRefusal) or, with allowReschedule, placed on a live member.
// Placement is part of each container's inputs (`member`), so the preview shows it and a
// change of member is a replacement. Pure.

import { Color, Node, containerName, haproxyInstanceName, nodesOf, statefulName } from "../naming";
import type { StackConfig } from "../config";
import { ADDRESS_KEY, addressKeys, allocateAddresses, overlapProblems, parseAddressRange } from "./network";
import { refusalMessage } from "../errors";

/** A member's state, from Incus's status word (Online, Offline, Evacuated, Blocked). */
export type MemberState = "online" | "offline" | "evacuated" | "blocked" | "unknown";

export interface Member {
    readonly name: string;
    readonly state: MemberState;
    /** Its own address (the host of its URL). */
    readonly address?: string;
}

export function memberState(status: string): MemberState {
    const s = status.toLowerCase();
    return s === "online" || s === "offline" || s === "evacuated" || s === "blocked" ? s : "unknown";
}

/** Only an online member takes new instances; an evacuated one is leaving. */
export function isLive(m: Member): boolean {
    return m.state === "online";
}

/**
 * Pure: the members in use, in the order placement counts them: bluegreen:incus.members as
 * written, else every member the cluster lists, by name. Offline members stay in the list:
 * dropping them would shift every node's n mod M and move nodes that are fine.
 * An empty list (not a cluster) means nothing is placed.
 */
export function membersInUse(configured: readonly string[] | undefined, listed: readonly Member[]): { members: Member[]; problems: string[] } {
    const byName = new Map(listed.map((m) => [m.name, m]));
    if (configured === undefined) return { members: [...listed].sort((a, b) => a.name.localeCompare(b.name)), problems: [] };
    const names = [...byName.keys()].sort().join(", ");
    const problems = configured.flatMap((n, i) =>
        byName.has(n) ? [] : [`bluegreen:incus.members[${i}]: ${n} is not a member of the cluster (its members: ${names}); fix the name or remove it`],
    );
    return { members: configured.filter((n) => byName.has(n)).map((n) => byName.get(n)!), problems };
}

/** Pure: bluegreen:components.<name>.spread, whose default is "on a cluster": more than one member in use. */
export function spreadOf(spread: boolean | undefined, members: number): boolean {
    return spread ?? members > 1;
}

export interface NodePlace {
    readonly node: Node;
    readonly member: string;
    /** Its member by n mod M, when it was rescheduled away from it. */
    readonly base: string;
    readonly baseState: MemberState;
    /** Its base member is not online and it was not rescheduled: a deploy that needs it is refused. */
    readonly offline?: true;
    readonly rescheduled?: true;
    /** Its base member is evacuated (leaving): it moves to a live member, allowReschedule or not. */
    readonly leaving?: true;
}

export interface PoolPlacement {
    readonly component: string;
    readonly color: Color;
    readonly nodes: NodePlace[];
    readonly problems: string[];
}

/**
 * Pure: the members of one color's pool. A node whose base member is not live goes, with
 * allowReschedule, to the least loaded live member (counting the nodes before it only, so a
 * pool that grows or shrinks never moves one); ties go to the member whose own next node
 * comes last, which keeps the first two nodes apart whenever two members are live.
 * A node of an evacuated member (leaving) that must be created goes on a live member. A node
 * whose instance is on a member that is not online (`located`) stays: unreachable, it cannot be
 * deleted; evacuated, Incus stopped it there and `incus cluster restore` starts it, while a
 * delete-first replacement would take a serving node away unasked. One already on a live member
 * (Incus migrated it) stays there.
 */
export function placePool(
    pool: { readonly component: string; readonly color: Color; readonly nodes: number; readonly allowReschedule?: boolean },
    members: readonly Member[],
    located: (node: Node) => string | undefined = () => undefined,
): PoolPlacement {
    const M = members.length;
    const placed: NodePlace[] = [];
    const problems: string[] = [];
    const load = new Map<string, number>(members.map((m) => [m.name, 0]));
    nodesOf(pool.nodes).forEach((node, i) => {
        const b = i % M;
        const base = members[b];
        let member = base.name;
        let flag: Pick<NodePlace, "offline" | "rescheduled" | "leaving"> = {};
        const leaving = base.state === "evacuated";
        // Its instance is still there (unreachable, or stopped by Incus's evacuation): it waits for its member, never replaced from afar.
        const stranded = !isLive(base) && located(node) === base.name;
        // Already on a live member (Incus's evacuation migrates it, keeping its address): it stays.
        const moved = !isLive(base) && (leaving || pool.allowReschedule) ? members.find((m) => m.name === located(node) && isLive(m)) : undefined;
        if (moved) {
            member = moved.name;
            flag = leaving ? { rescheduled: true, leaving: true } : { rescheduled: true };
        } else if (!isLive(base) && !stranded) {
            if (pool.allowReschedule || leaving) {
                const live = members
                    .map((m, j) => ({ m, d: (j - b + M) % M }))
                    .filter((x) => isLive(x.m))
                    .sort((x, y) => load.get(x.m.name)! - load.get(y.m.name)! || y.d - x.d);
                if (live.length === 0) {
                    problems.push(`${pool.component}'s ${pool.color}: no live member to place node ${node ?? 1} on (${stateList(members)})`);
                    flag = { offline: true };
                } else {
                    member = live[0].m.name;
                    flag = leaving ? { rescheduled: true, leaving: true } : { rescheduled: true };
                }
            } else flag = { offline: true };
        } else if (stranded) flag = { offline: true };
        load.set(member, load.get(member)! + 1);
        placed.push({ node, member, base: base.name, baseState: base.state, ...flag });
    });
    const used = new Set(placed.map((p) => p.member));
    if (pool.nodes >= 2 && used.size === 1 && problems.length === 0 && placed.some((p) => p.rescheduled)) {
        problems.push(
            `${pool.component}'s ${pool.color}: its ${pool.nodes} nodes would all be on ${[...used][0]}, the only live member (${stateList(members)}); ` +
                `one member lost would take the whole color down. Bring a member back online (incus cluster list), or set bluegreen:components.${pool.component}.spread: false`,
        );
    }
    return { component: pool.component, color: pool.color, nodes: placed, problems };
}

function stateList(members: readonly Member[]): string {
    return members.map((m) => `${m.name} ${m.state}`).join(", ");
}

/** Pure: nodes present in both placements whose member differs (each is a replacement). */
export function movedNodes(before: readonly NodePlace[], after: readonly NodePlace[]): Node[] {
    const was = new Map(before.map((p) => [p.node, p.member]));
    return after.filter((p) => was.has(p.node) && was.get(p.node) !== p.member).map((p) => p.node);
}

/**
 * Pure: the refusal of a deploy that needs nodes on members that are not online, naming
 * each; undefined when none is. The caller asks only for the nodes it would create or replace.
 */
export function offlineRefusal(pool: Pick<PoolPlacement, "component" | "color" | "nodes">, needed?: readonly Node[]): string | undefined {
    const { component, color } = pool;
    const off = pool.nodes.filter((n) => n.offline && (needed === undefined || needed.includes(n.node)));
    if (off.length === 0) return undefined;
    const which = off.map(
        (n) => `${component}'s ${color} ${n.node === undefined ? "container" : `node ${n.node}`} belongs on member ${n.member}, which is ${n.baseState}`,
    );
    return refusalMessage({
        what: `${which.join("; ")}; a deploy cannot create it there`,
        next: [
            `bring ${[...new Set(off.map((n) => n.member))].join(", ")} back online (incus cluster list shows each member's state)`,
            `set bluegreen:components.${component}.allowReschedule: true to place such nodes on a live member`,
        ],
        untouched: "Nothing was touched",
    });
}

/** Pure: the nodes a deploy would have to create on a member that is not online, each naming the actions that work. */
export function missingOnOffline(pool: Pick<PoolPlacement, "component" | "color" | "nodes">, exists: (node: Node) => boolean): string[] {
    const { component, color } = pool;
    return pool.nodes
        .filter((n) => n.offline && !exists(n.node))
        .map(
            (n) =>
                `${component}'s ${color} ${n.node === undefined ? "container" : `node ${n.node}`} belongs on member ${n.member}, which is ${n.baseState}, ` +
                `and must be created: bring ${n.member} back online (incus cluster list shows each member's state), ` +
                `or set bluegreen:components.${component}.allowReschedule: true to place it on a live member`,
        );
}

/** Pure: a stateful service's data lives in its member's pool, so it never moves by itself. */
export function statefulMoveRefusal(service: string, from: string, to: string, instance: string): string {
    return refusalMessage({
        what: `stateful service ${service} is pinned to member ${from}, where its volumes live; moving it to ${to} is not done by bluegreen`,
        next: [
            `set bluegreen:stateful.${service}.member back to ${from}`,
            `migrate it yourself with the service stopped (incus move ${instance} --target ${to}, and incus storage volume copy for each volume), then set the member`,
        ],
        untouched: `Nothing was touched: ${service} keeps serving on ${from}`,
    });
}

/** Where one instance goes: its member (absent: Incus's scheduler, or not a cluster) and its routed address (absent: proxy mode). */
export interface Place {
    readonly member?: string;
    readonly address?: string;
}

export interface StackPlacement {
    readonly prefix: string;
    readonly members: readonly Member[];
    /** Container name to its place, for both colors. */
    readonly containers: Readonly<Record<string, Place>>;
    readonly pools: readonly PoolPlacement[];
    readonly haproxy: Place;
    /** Stateful instance name to its place. */
    readonly stateful: Readonly<Record<string, Place>>;
    /** Containers whose HAProxy servers are drained for bluegreen:incus.drain (memberDrain). */
    readonly drained: readonly string[];
    readonly problems: readonly string[];
}

/** What the program reads of the cluster before it plans: the members with their states, and the addresses recorded on the stack's instances. */
export interface ClusterView {
    /** `incus cluster list`; empty when the target is not a cluster. */
    readonly members: readonly Member[];
    /** Instance name to its ADDRESS_KEY. */
    readonly recorded: Readonly<Record<string, string>>;
    /** The stack's instances, by name, to the member each is on; absent when they were not listed. */
    readonly located?: Readonly<Record<string, string>>;
}

/** Pure: every instance's member and address, with every problem that refuses the plan. */
export function placeStack(config: StackConfig, view: ClusterView): StackPlacement {
    const problems: string[] = [];
    const inUse = membersInUse(config.incus.members, view.members);
    problems.push(...inUse.problems);
    const members = inUse.members;
    const names = members.map((m) => m.name);
    const cluster = members.length > 1;

    const addresses: Record<string, string> = {};
    const net = config.network;
    if (net) {
        const range = parseAddressRange(net.addresses);
        if (typeof range !== "string") {
            problems.push(...overlapProblems(range, view.members));
            const keys = addressKeys(
                config.prefix,
                config.components,
                config.stateful.map((s) => s.name),
            );
            const reserved = view.members.flatMap((m) => (m.address ? [m.address] : []));
            const a = allocateAddresses(range, keys, view.recorded, reserved);
            problems.push(...a.problems);
            Object.assign(addresses, a.addresses);
        }
    }
    const at = (name: string, member?: string): Place => ({ ...(member ? { member } : {}), ...(addresses[name] ? { address: addresses[name] } : {}) });

    const containers: Record<string, Place> = {};
    const pools: PoolPlacement[] = [];
    for (const c of config.components) {
        const spread = spreadOf(c.spread, members.length);
        for (const color of ["blue", "green"] as const) {
            if (spread && members.length > 0) {
                const name = (node: Node) => containerName(config.prefix, c.name, color, node);
                const p = placePool({ component: c.name, color, nodes: c.nodes, allowReschedule: c.allowReschedule }, members, (n) => view.located?.[name(n)]);
                pools.push(p);
                problems.push(...p.problems);
                // Only a node that must be created there refuses; one that is there already waits for its member.
                if (config.colors[color] && view.located) problems.push(...missingOnOffline(p, (n) => view.located![name(n)] !== undefined));
                for (const n of p.nodes)
                    containers[containerName(config.prefix, c.name, color, n.node)] = at(containerName(config.prefix, c.name, color, n.node), n.member);
            } else {
                for (const node of nodesOf(c.nodes))
                    containers[containerName(config.prefix, c.name, color, node)] = at(containerName(config.prefix, c.name, color, node));
            }
        }
        if (c.spread && members.length < 2 && c.nodes > 1) {
            const inUse = members.length === 0 ? "none is in use (not a cluster)" : `one is in use (${names[0]})`;
            problems.push(`bluegreen:components.${c.name}.spread: true needs two or more members, and ${inUse}; leave it out or add members`);
        }
    }

    const hm = config.haproxy.member;
    if (hm !== undefined && members.length > 0 && !names.includes(hm)) {
        problems.push(`bluegreen:haproxy.member: ${hm} is not a member in use (${names.join(", ")})`);
    }
    const haproxy = at(haproxyInstanceName(config.prefix), hm ?? (cluster ? names[0] : undefined));

    const stateful: Record<string, Place> = {};
    for (const s of config.stateful) {
        if (s.member !== undefined && members.length > 0 && !names.includes(s.member)) {
            problems.push(`bluegreen:stateful.${s.name}.member: ${s.member} is not a member in use (${names.join(", ")})`);
        }
        if (s.member === undefined && cluster) {
            problems.push(
                `bluegreen:stateful.${s.name}.member: expected the member its volumes live on (one of ${names.join(", ")}); a stateful service is pinned to one member of a cluster`,
            );
        }
        stateful[statefulName(config.prefix, s.name)] = at(statefulName(config.prefix, s.name), s.member);
    }
    const drain = memberDrain(config.prefix, config.incus.drain, members, pools, config.colors[config.active] ? config.active : undefined);
    problems.push(...drain.problems);
    return { prefix: config.prefix, members, containers, pools, haproxy, stateful, drained: drain.drained, problems };
}

/**
 * Pure: bluegreen:incus.drain. The nodes of spread pools (both colors) that belong to a listed
 * member by n mod M, or are on one, take no new requests: drained before the operator's
 * `incus cluster evacuate`, they stay drained while Incus moves them off and back
 * (`incus cluster restore`), so no request is in flight on them when Incus stops them.
 * Refused: a member not in use, and a drain that leaves a pool of the serving color no node.
 */
export function memberDrain(
    prefix: string,
    drain: readonly string[] | undefined,
    members: readonly Member[],
    pools: readonly PoolPlacement[],
    active: Color | undefined,
): { drained: string[]; problems: string[] } {
    if (!drain?.length) return { drained: [], problems: [] };
    const names = members.map((m) => m.name);
    const problems = drain.flatMap((m, i) =>
        names.includes(m)
            ? []
            : [
                  names.length === 0
                      ? `bluegreen:incus.drain[${i}]: ${m}: the target is not a cluster, so there is no member to drain; remove the key`
                      : `bluegreen:incus.drain[${i}]: ${m} is not a member in use (${names.join(", ")}); fix the name or remove it`,
              ],
    );
    const listed = new Set(drain);
    const drained: string[] = [];
    for (const pool of pools) {
        const out = pool.nodes.filter((n) => listed.has(n.base) || listed.has(n.member));
        drained.push(...out.map((n) => containerName(prefix, pool.component, pool.color, n.node)));
        if (pool.color === active && out.length === pool.nodes.length) {
            problems.push(
                `bluegreen:incus.drain: ${pool.component}'s ${pool.color} serves traffic, and every node of it belongs to ${[...new Set(out.flatMap((n) => [n.base, n.member]))].filter((m) => listed.has(m)).join(", ")}: ` +
                    `draining would leave it none. Drain one member at a time, or grow the pool (bluegreen:components.${pool.component}.nodes)`,
            );
        }
    }
    return { drained, problems };
}

/** Pure: the Incus config that records an instance's place (its member is Incus's own `location`). */
export function placeConfig(p: Place): Record<string, string> {
    return p.address ? { [ADDRESS_KEY]: p.address } : {};
}

/** Pure: the placement as the preview and `status` print it, one line per pool and pinned instance. */
export function describePlacement(s: StackPlacement): string[] {
    if (s.members.length === 0) return ["not a cluster: Incus places every instance"];
    const where = (p: Place) => [p.member ?? "(Incus's choice)", p.address].filter((x) => x !== undefined).join(" ");
    const state = new Map(s.members.map((m) => [m.name, m.state]));
    const lines = [`members: ${stateList(s.members)}`];
    for (const pool of s.pools) {
        const nodes = pool.nodes.map((n) => {
            const p = s.containers[containerName(s.prefix, pool.component, pool.color, n.node)] ?? { member: n.member };
            const drained = s.drained.includes(containerName(s.prefix, pool.component, pool.color, n.node)) ? " (drained)" : "";
            const note = n.leaving
                ? ` (moved off ${n.base}, evacuated)`
                : n.rescheduled
                  ? ` (rescheduled from ${n.base})`
                  : n.offline
                    ? ` (${n.member} ${state.get(n.member)})`
                    : "";
            return `${n.node ?? 1} ${where(p)}${note}${drained}`;
        });
        lines.push(`${pool.component} ${pool.color}: ${nodes.join(", ")}`);
    }
    lines.push(`haproxy: ${where(s.haproxy)}`);
    for (const [name, p] of Object.entries(s.stateful)) lines.push(`stateful ${name}: ${where(p)}`);
    return lines;
}
