// The drain (seed 002, step 2): a server stops getting new requests and its sessions
// finish before anything takes it away. Used before a node leaves a pool; the canary
// drains its node the same way.

import { HaproxyHost, writeHostFile } from "../../io/haproxyHost";
import { poll } from "../../io/poll";
import { progress } from "../../io/progress";
import { Channel, adminCommands, drainCommand, serverSessions } from "../../io/runtimeApi";
import { haproxyChannel } from "../../model/traffic/topology";
import { serverStateFor } from "../../model/traffic/haproxyConfig";
import { HaproxyLayout, serverStatePath } from "../../model/naming";

export interface DrainTarget {
    readonly backend: string;
    readonly server: string;
}

/** HAProxy's own bound on a reload's old worker (hard-stop-after): a session older than that is cut anyway. */
export const DRAIN_BOUND_MS = 30_000;

/**
 * Drains the servers and waits, bounded, until none has a session left. Throws when
 * sessions remain at the bound: nothing was removed yet, and the next `up` tries again.
 */
export async function drainServers(adminSocket: Channel, targets: readonly DrainTarget[], boundMs = DRAIN_BOUND_MS): Promise<void> {
    if (targets.length === 0) return;
    const names = targets.map((t) => `${t.backend}/${t.server}`);
    await adminCommands(
        adminSocket,
        targets.map((t) => drainCommand(t.backend, t.server)),
    );
    progress(`drain: ${names.join(", ")} take no new requests; waiting for their sessions to finish (at most ${boundMs / 1000} s)`);
    let left = 0;
    const done = await poll(
        async (attempt) => {
            const sessions = await serverSessions(adminSocket);
            left = names.reduce((n, k) => n + (sessions.get(k) ?? 0), 0);
            if (left > 0 && attempt % 20 === 0) progress(`drain: ${left} session(s) still open on ${names.join(", ")}`);
            return left === 0 ? true : undefined;
        },
        { intervalMs: 100, timeoutMs: boundMs },
    );
    if (!done) {
        throw new Error(
            `${names.join(", ")} still had ${left} open session(s) after ${boundMs / 1000} s of drain. They still get no new requests; ` +
                `run pulumi up again to wait longer. Nothing was removed.`,
        );
    }
    progress(`drain: ${names.join(", ")} drained`);
}

/**
 * Saves HAProxy's runtime server state (drains, weights) to its server-state file, which
 * the next worker loads: after this, any reload, ours or an operator's, keeps a drained
 * server drained (HAProxy otherwise forgets runtime state on reload). With the config the
 * next worker loads, a server it moved or dropped is left out (serverStateFor).
 */
export async function saveServerState(
    host: HaproxyHost,
    layout: Pick<HaproxyLayout, "adminSocket" | "masterSocket" | "hostAdminSocket" | "hostMasterSocket" | "stateDir">,
    config?: string,
): Promise<void> {
    const state = await adminCommands(haproxyChannel(host, layout, "admin"), ["show servers state"]);
    await writeHostFile(host, serverStatePath(layout), `${(config === undefined ? state : serverStateFor(state, config)).trimEnd()}\n`);
}
