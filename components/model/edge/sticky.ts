// Sticky sessions during a shift or a canary (bluegreen:progressive.sticky, bluegreen:canary.sticky).
// Pure. HAProxy's own cookie persistence, one cookie per component, naming the server: a client
// stays on the server, hence the color and release, it first landed on. HAProxy honours the
// cookie even for a server at weight 0, so each server's cookie is ignored while its live weight
// is 0: when a rollout ends (promote, rollback, an aborted step) the weights alone move every
// sticky client off the losing color at once, with no map and no extra runtime call.

import { z } from "zod";
import { FULL_WEIGHT, setWeightCommand } from "../traffic/traffic";

export const stickySpec = z.enum(["cookie"], "expected cookie (HAProxy's cookie persistence)").optional();

/** The cookie of a component's backend: per component, as their node counts may differ. */
export function stickyCookie(component: string): string {
    return `bluegreen_${component}`;
}

/** Pure: the backend lines before its servers; each server line then carries `cookie <server>`. */
export function stickyLines(backend: string, component: string, servers: readonly string[]): string[] {
    const cookie = stickyCookie(component);
    return [
        `cookie ${cookie} insert indirect nocache httponly`,
        ...servers.map((s) => `ignore-persist if { req.cook(${cookie}) -m str ${s} } { srv_weight(${backend}/${s}) eq 0 }`),
    ];
}

/**
 * Pure: a canary node leaving rotation with sticky sessions on. A drain alone still takes
 * its sticky clients (HAProxy sends persistent requests to a drained server), so its weight
 * goes to 0 first, which the ignore-persist rule reads; `weight` puts it back when it is ready.
 */
export function stickyOutCommand(backend: string, server: string): string {
    return setWeightCommand(backend, server, 0);
}

/** Pure: the weight of one node of a pool of `nodes` that takes all traffic, as the switch sets it (model/traffic/traffic.ts). */
export function stickyBackCommand(backend: string, server: string, nodes: number): string {
    return setWeightCommand(backend, server, Math.max(1, Math.round(FULL_WEIGHT / nodes)));
}
