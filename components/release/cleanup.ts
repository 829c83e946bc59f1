// Cleanup of a color: its containers may only go once it serves no traffic. The
// provider reads the live active color from the HAProxy host itself, because the
// stack config that asked for the delete may be stale (seed: cleanup_failed.yml).
// When the live color cannot be read, it fails closed: the containers stay. HAProxy's
// weights are read live; only when HAProxy provably does not run, from its config on disk,
// which is what it serves when it starts again.

import { HaproxyHost, describeHost, haproxyRuns, hostState, readHostFile } from "../io/haproxyHost";
import { serversState } from "../io/runtimeApi";
import { haproxyChannel } from "../model/traffic/topology";
import { refused } from "../model/errors";
import { configWeights } from "../model/traffic/haproxyConfig";
import { Color, haproxyLayout, otherColor } from "../model/naming";
import { colorOfServer } from "../model/traffic/traffic";
import { activeColorPath, readActiveColor } from "./safety/history";

/** Where to find the live active color; carried in every container's inputs. */
export interface ServingGuard {
    readonly host: HaproxyHost;
    readonly stateDir: string;
    /** HAProxy's admin socket on this host: live weights are the truth when the file is stale. */
    readonly adminSocket: string;
    /** bluegreen:cleanup.assumeActive: the color to assume serves when the live one cannot be read. */
    readonly assumeActive?: Color;
}

/** Pure: the refusal for touching a color that serves traffic. */
export function servingRefusal(container: string, color: Color, where: string): string {
    const other = otherColor(color);
    return (
        `refusing to delete ${container}: ${color} is the active color on ${where}, so it serves traffic. ` +
        `To deploy a new release, set it on ${other} (bluegreen:colors.${other}.release) with bluegreen:active: ${other}; ` +
        `to remove ${color}, first switch traffic with bluegreen:active: ${other} and pulumi up, then remove bluegreen:colors.${color}.`
    );
}

/** Pure: the refusal when nobody can say which color serves. */
export function unreadableRefusal(container: string, where: string, why: string, host: HaproxyHost): string {
    const start = host.placement === "incus" ? `\`incus start ${host.remote ? `${host.remote}:` : ""}${host.instance}\`` : "haproxy (`pulumi up` starts it)";
    return (
        `refusing to delete ${container}: cannot read the live active color from ${where}: ${why}. It might serve traffic. ` +
        `Start ${start} and run pulumi up again, or, if you know which color serves, set bluegreen:cleanup.assumeActive to it.`
    );
}

/** A server's weight, live or in the config on disk. */
export interface GuardServer {
    readonly backend: string;
    readonly server: string;
    readonly weight: number;
}

export type LiveColor =
    /** No HAProxy host at all: nothing serves traffic. */
    | { readonly kind: "none" }
    | {
          readonly kind: "read";
          readonly file?: Color;
          readonly weighted: readonly Color[];
          readonly servers: readonly GuardServer[];
          /** Where the weights come from: HAProxy's admin socket, or its config on disk while it does not run. */
          readonly from: "live" | "config";
      }
    | { readonly kind: "unreadable"; readonly why: string };

/** Pure: the stack's HAProxy config on its host (model/naming.ts haproxyLayout: beside the state dir on this host). */
export function guardConfigPath(guard: Pick<ServingGuard, "host" | "stateDir">): string {
    return haproxyLayout(guard.host.placement, "", "", guard.stateDir).configPath;
}

/** The servers HAProxy weighs: live, or from its config on disk only when it provably does not run. */
async function guardServers(guard: ServingGuard): Promise<{ servers: readonly GuardServer[]; from: "live" | "config" } | { why: string }> {
    let unanswered: string;
    try {
        const layout = { ...haproxyLayout(guard.host.placement, "", "", guard.stateDir), hostAdminSocket: guard.adminSocket };
        return { servers: await serversState(haproxyChannel(guard.host, layout, "admin")), from: "live" };
    } catch (e) {
        unanswered = (e as Error).message;
    }
    const config = guardConfigPath(guard);
    const runs = await haproxyRuns(guard.host, config);
    if (runs === true) return { why: `HAProxy runs there but its live weights cannot be read: ${unanswered}` };
    if (runs === undefined) return { why: `cannot tell whether HAProxy runs there, and its live weights cannot be read: ${unanswered}` };
    return { servers: configWeights((await readHostFile(guard.host, config)) ?? ""), from: "config" };
}

/** What the HAProxy host says serves traffic: the active-color file and HAProxy's weights. */
export async function readLiveColor(guard: ServingGuard): Promise<LiveColor> {
    try {
        const host = await hostState(guard.host);
        if (host === "absent") return { kind: "none" };
        if (host !== "Running") return { kind: "unreadable", why: `${describeHost(guard.host)} is ${host}` };
        const file = await readActiveColor(guard.host, guard.stateDir);
        const got = await guardServers(guard);
        if ("why" in got) return { kind: "unreadable", why: got.why };
        const weighted = [
            ...new Set(
                got.servers
                    .filter((s) => s.weight > 0)
                    .map((s) => colorOfServer(s.server))
                    .filter((c): c is Color => c !== undefined),
            ),
        ];
        return { kind: "read", file, weighted, servers: got.servers, from: got.from };
    } catch (e) {
        return { kind: "unreadable", why: (e as Error).message };
    }
}

/** Pure: where the weights that keep a color were read, for its refusal. */
function weightsWhere(guard: Pick<ServingGuard, "host" | "stateDir">, from: "live" | "config"): string {
    return from === "live"
        ? `the running HAProxy on ${describeHost(guard.host)} (live server weights)`
        : `the HAProxy config on ${describeHost(guard.host)} (${guardConfigPath(guard)}), which HAProxy serves when it starts again`;
}

/**
 * Throws a refusal when `color` is live: named by the active-color file, or given
 * weight by the running HAProxy (a flip made by hand). An absent HAProxy host means
 * nothing serves traffic. A host that cannot be read refuses, unless assumeActive says.
 */
export async function refuseIfServing(guard: ServingGuard, color: Color, container: string): Promise<void> {
    const where = `${describeHost(guard.host)} (${activeColorPath(guard.stateDir)})`;
    const live = await readLiveColor(guard);
    if (live.kind === "none") return;
    if (live.kind === "unreadable") {
        if (guard.assumeActive === undefined) throw refused(unreadableRefusal(container, where, live.why, guard.host));
        if (guard.assumeActive === color) throw refused(servingRefusal(container, color, `${where}, as bluegreen:cleanup.assumeActive says`));
        return;
    }
    if (live.file === color) throw refused(servingRefusal(container, color, where));
    if (live.weighted.includes(color)) throw refused(servingRefusal(container, color, weightsWhere(guard, live.from)));
}

/** Pure: the refusal for removing a node that the live HAProxy still routes to. */
export function routedRefusal(container: string, backend: string, server: string, where: string): string {
    return (
        `refusing to delete ${container}: the running HAProxy on ${where} still has ${backend}/${server}, so it may serve traffic. ` +
        `The switch drains and drops a node that leaves the pool; run pulumi up again so it does, then the node is deleted.`
    );
}

/**
 * The rule for one container: a color that does not serve may go (refuseIfServing). Of
 * a color that serves, a container may go only once the live HAProxy has no server for
 * it: a node that left the pool, which the switch drained and dropped first. Fails
 * closed when the live servers cannot be read.
 */
export async function refuseIfRouted(guard: ServingGuard, color: Color, container: string, backend: string, server: string): Promise<void> {
    const live = await readLiveColor(guard);
    const serving = live.kind === "read" && (live.file === color || live.weighted.includes(color));
    if (!serving) return refuseIfServing(guard, color, container);
    // HAProxy down and no config on disk: nothing says the node left the pool.
    if (live.from === "config" && live.servers.length === 0) return refuseIfServing(guard, color, container);
    if (!live.servers.some((s) => s.backend === backend && s.server === server)) return;
    // The color's only server: today's refusal, which says how to move traffic first.
    if (server === color) return refuseIfServing(guard, color, container);
    const where = describeHost(guard.host);
    throw refused(routedRefusal(container, backend, server, live.from === "live" ? where : `${where} (${guardConfigPath(guard)}, while HAProxy is down)`));
}

/** True when `color` serves or might serve (fails closed): for changes that must wait until it does not. */
export async function mightServe(guard: ServingGuard, color: Color): Promise<boolean> {
    const live = await readLiveColor(guard);
    if (live.kind === "none") return false;
    if (live.kind === "unreadable") return guard.assumeActive === undefined || guard.assumeActive === color;
    return live.file === color || live.weighted.includes(color);
}
