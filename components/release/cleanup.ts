// Cleanup of a color: its containers may only go once it serves no traffic. The
// provider reads the live active color from the HAProxy host itself, because the
// stack config that asked for the delete may be stale (seed: cleanup_failed.yml).

import { activeColorPath, readActiveColor } from "./history";
import { refused } from "../model/errors";
import { HaproxyHost, describeHost, hostExists } from "../io/haproxyHost";
import { Color, otherColor } from "../model/naming";
import { serversState } from "../io/runtimeApi";

/** Where to find the live active color; carried in every container's inputs. */
export interface ServingGuard {
    readonly host: HaproxyHost;
    readonly stateDir: string;
    /** HAProxy's admin socket on this host: live weights are the truth when the file is stale. */
    readonly adminSocket: string;
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

/**
 * Throws a refusal when `color` is live: named by the active-color file, or given
 * weight by the running HAProxy (a flip made by hand). An absent HAProxy host means
 * nothing serves traffic. An unreadable file refuses: when in doubt, keep the containers.
 */
export async function refuseIfServing(guard: ServingGuard, color: Color, container: string): Promise<void> {
    const where = `${describeHost(guard.host)} (${activeColorPath(guard.stateDir)})`;
    let live: Color | undefined;
    try {
        if (!(await hostExists(guard.host))) return;
        live = await readActiveColor(guard.host, guard.stateDir);
    } catch (e) {
        throw refused(
            `refusing to delete ${container}: cannot read the active color from ${where}: ${(e as Error).message}. ` +
                `It might serve traffic. Bring the HAProxy host back, then run pulumi up again.`,
        );
    }
    if (live === color) throw refused(servingRefusal(container, color, where));
    // HAProxy not running (or not yet there): no live weights to consult.
    const states = await serversState(guard.adminSocket).catch(() => undefined);
    if (states?.some((s) => s.server === color && s.weight > 0)) {
        throw refused(servingRefusal(container, color, `the running HAProxy on ${describeHost(guard.host)} (live server weights)`));
    }
}
