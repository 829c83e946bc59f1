// Placement on a cluster, read once before the program plans: the members and their states,
// and with a routed network the addresses recorded on the stack's instances. Fails closed:
// members that cannot be read, or a placement with problems, refuse the whole up.

import { InstanceInfo, clusterMemberCmd, listInstances, parseClusterMember, readClusterMembers } from "../../io/incus";
import { cmdError, run } from "../../io/exec";
import type { StackConfig } from "../../model/config";
import { refusal } from "../../model/errors";
import { ClusterView, Member, PoolPlacement, StackPlacement, describePlacement, isLive, placeStack } from "../../model/cluster/placement";
import { haproxyConfigAddresses, recordedAddresses } from "../../model/cluster/network";
import { haproxyLayout } from "../../model/naming";
import { fileActive } from "../../model/traffic/haproxyConfig";
import { readHostFile } from "../../io/haproxyHost";
import { IncusTarget, haproxyHostOf, incusTarget } from "../../model/traffic/topology";

/** Pure: only a remote (which may be a cluster), members or a routed network are placed; this host's stacks read nothing. */
export function wantsPlacement(config: Pick<StackConfig, "incus" | "network">): boolean {
    return config.incus.remote !== undefined || config.incus.members !== undefined || config.network !== undefined;
}

/** Pure: the refusal of a placement with problems; undefined when it has none. */
export function placementRefusal(p: Pick<StackPlacement, "problems">): Error | undefined {
    if (p.problems.length === 0) return undefined;
    return refusal({
        what: `the stack cannot be placed on the cluster: ${p.problems.join("; ")}`,
        next: "fix what each problem names (incus cluster list shows the members and their states)",
        untouched: "Nothing was touched",
    });
}

/**
 * Each instance's member and address; undefined when nothing is placed (this host, or a remote
 * that is not a cluster, without a routed network), so such stacks keep their inputs.
 */
export async function readPlacement(config: StackConfig): Promise<StackPlacement | undefined> {
    if (!wantsPlacement(config)) return undefined;
    const view = await readView(config);
    const placement = placeStack(config, view);
    const why = placementRefusal({
        problems: [
            ...placement.problems,
            ...proxyOnClusterProblems(config, placement),
            ...unreadableProblems(config, view.members, view.instances, view.recovered),
            ...flipProblems(config.active, view.serving, placement.pools),
        ],
    });
    if (why) throw why;
    return placement.members.length === 0 && config.network === undefined ? undefined : placement;
}

/** What `status` shows of the placement: each member's state and where each instance goes, or why it could not be read. */
export type PlacementView =
    | {
          readonly members: readonly Member[];
          readonly lines: readonly string[];
          readonly problems: readonly string[];
          /** Instance name to its routed address: where status probes it from the HAProxy instance. */
          readonly addresses: Readonly<Record<string, string>>;
      }
    | { readonly error: string };

/** The placement as `status` shows it; undefined when nothing is placed. Never throws. */
export async function placementView(config: StackConfig): Promise<PlacementView | undefined> {
    if (!wantsPlacement(config)) return undefined;
    try {
        const view = await readView(config);
        if (view.members.length === 0 && config.network === undefined) return undefined;
        const p = placeStack(config, view);
        const addresses = Object.fromEntries(
            Object.entries({ ...p.containers, ...p.stateful }).flatMap(([name, place]) => (place.address ? [[name, place.address]] : [])),
        );
        return {
            members: p.members,
            lines: describePlacement(p),
            problems: [...p.problems, ...unreadableProblems(config, view.members, view.instances, view.recovered)],
            addresses,
        };
    } catch (e) {
        return { error: (e as Error).message };
    }
}

/**
 * Refuses to create `instance` on a member that is not online (offline, evacuated: leaving),
 * naming the member, before anything is touched; Incus would fail the `--target` create anyway,
 * with less to go on. One query of the member.
 */
export async function assertMemberLive(target: IncusTarget, member: string, instance: string, next: readonly string[]): Promise<void> {
    const m = await readMember(target, member, `so ${instance} was not created there`);
    if (isLive(m)) return;
    throw refusal({
        what: `${instance} belongs on member ${member}, which is ${m.state}; it cannot be created there`,
        next: [
            m.state === "evacuated"
                ? `restore ${member} (incus cluster restore ${member}) once its maintenance is done`
                : `bring ${member} back online (incus cluster list shows each member's state)`,
            ...next,
        ],
        untouched: `Nothing of ${instance} was touched`,
    });
}

/**
 * The members, and with a routed network the stack's instances and the addresses they record.
 * An instance on an unreachable member is listed without its record: its address is then read
 * from HAProxy's config (a server per node), so a change that does not need that member goes on.
 * Fails closed.
 */
async function readView(
    config: StackConfig,
): Promise<ClusterView & { instances: readonly InstanceInfo[]; recovered: Readonly<Record<string, string>>; serving?: string }> {
    const target = incusTarget(config.incus.remote);
    const members = await readClusterMembers(target);
    const instances = config.network !== undefined ? await listInstances(target) : [];
    const lost = new Set(unreadableInstances(config, members, instances).map((i) => i.name));
    let recovered: Record<string, string> = {};
    let serving: string | undefined;
    if (lost.size > 0) {
        const text = await readHostFile(
            haproxyHostOf(config.haproxy.placement, config.prefix, config.incus.remote),
            haproxyLayout(config.haproxy.placement, config.app, config.stack, config.haproxy.dir).configPath,
        ).catch(() => undefined);
        if (text !== undefined) serving = fileActive(text);
        recovered = Object.fromEntries(Object.entries(haproxyConfigAddresses(config.prefix, config.components, text ?? "")).filter(([n]) => lost.has(n)));
    }
    const located = Object.fromEntries(instances.flatMap((i) => (i.name.startsWith(config.prefix) && i.location ? [[i.name, i.location]] : [])));
    return {
        members,
        recorded: { ...recordedAddresses(config.stack, instances), ...recovered },
        ...(config.network !== undefined ? { located } : {}),
        instances,
        recovered,
        ...(serving !== undefined ? { serving } : {}),
    };
}

/**
 * Pure: with a routed network, the stack's instances whose record cannot be read (Incus lists an
 * instance on a member it cannot reach without its config): their addresses are unknown, so a
 * placement could hand one to another instance, or give them a new one (a replacement). Fails
 * closed, naming the member.
 */
export function unreadableProblems(
    config: Pick<StackConfig, "prefix" | "network">,
    members: readonly Member[],
    instances: readonly Pick<InstanceInfo, "name" | "config" | "location" | "status">[],
    recovered: Readonly<Record<string, string>> = {},
): string[] {
    const lost = unreadableInstances(config, members, instances).filter((i) => recovered[i.name] === undefined);
    if (lost.length === 0) return [];
    const where = [...new Set(lost.map((i) => i.location ?? "(unknown member)"))];
    const state = new Map(members.map((m) => [m.name, m.state]));
    return [
        `the addresses of ${lost.map((i) => i.name).join(", ")} on ${where.map((m) => `member ${m} (${state.get(m) ?? "unreachable"})`).join(", ")} cannot be read ` +
            `(nor from HAProxy's config), so no address is placed (one could be handed out twice); bring ${where.join(", ")} back online, then run up again`,
    ];
}

/** Pure: with a routed network, the stack's instances Incus lists without their config: their member cannot be reached. */
export function unreadableInstances<I extends Pick<InstanceInfo, "name" | "config" | "location">>(
    config: Pick<StackConfig, "prefix" | "network">,
    members: readonly Member[],
    instances: readonly I[],
): I[] {
    if (!config.network) return [];
    const live = new Set(members.filter(isLive).map((m) => m.name));
    return instances.filter(
        (i) => i.name.startsWith(config.prefix) && Object.keys(i.config).length === 0 && (i.location === undefined || !live.has(i.location)),
    );
}

/**
 * Pure: nodes spread over members need routed addresses: in proxy mode HAProxy reaches a node
 * only through a proxy device on its own member's loopback, so a node on another member would
 * never be reached.
 */
export function proxyOnClusterProblems(config: Pick<StackConfig, "network">, placement: Pick<StackPlacement, "pools" | "members">): string[] {
    if (config.network !== undefined) return [];
    const spread = [...new Set(placement.pools.filter((p) => new Set(p.nodes.map((n) => n.member)).size > 1).map((p) => p.component))];
    if (spread.length === 0) return [];
    return [
        `${spread.map((c) => `bluegreen:components.${c}`).join(", ")}: spread over ${placement.members.length} members, but HAProxy reaches nodes through ` +
            `proxy devices on its own member only; set bluegreen:network: { mode: routed, parent, addresses }, or spread: false`,
    ];
}

/** One member's state (one query); fails closed, saying `consequence`. */
export async function readMember(target: IncusTarget, member: string, consequence: string): Promise<Member> {
    const cmd = clusterMemberCmd(target, member);
    const r = await run(cmd);
    if (r.code !== 0) throw cmdError(cmd, r, `cannot read the state of member ${member}, ${consequence}`);
    return parseClusterMember(r.stdout);
}

/** Pure: a member that does not answer: an instance there can be neither removed nor replaced (an evacuated member still answers). */
export function unreachable(m: Member): boolean {
    return !isLive(m) && m.state !== "evacuated";
}

/** Pure: the refusal of a replacement whose instance is on a member that does not answer. */
export function strandedRefusal(instance: string, member: Pick<Member, "name" | "state">, color: string): Error {
    return refusal({
        what: `${instance} would be removed or replaced, but it is on member ${member.name}, which is ${member.state}: it can be neither removed nor created anew there`,
        next: [
            `bring ${member.name} back online (incus cluster list shows each member's state), then run up again`,
            `keep ${color}'s settings as they were until then (its other nodes serve; HAProxy keeps ${instance} DOWN)`,
        ],
        untouched: `Nothing of ${instance} was touched`,
    });
}

/**
 * Pure: a switch needs every node of its target color ready (as a fast rollback always has):
 * moving traffic onto a color with a node on a member that is not online is refused, naming
 * it. `serving` is the color HAProxy's config names; undefined when it was not read.
 */
export function flipProblems(active: string, serving: string | undefined, pools: readonly Pick<PoolPlacement, "component" | "color" | "nodes">[]): string[] {
    if (serving === undefined || serving === active) return [];
    return pools
        .filter((p) => p.color === active)
        .flatMap((p) => p.nodes.filter((n) => n.offline).map((n) => ({ p, n })))
        .map(
            ({ p, n }) =>
                `switching traffic to ${active} needs every node of ${active} ready, and ${p.component}'s ${active} node ${n.node ?? 1} is on member ${n.member}, ` +
                `which is ${n.baseState}: bring ${n.member} back online (incus cluster list shows each member's state), or keep bluegreen:active: ${serving}`,
        );
}
