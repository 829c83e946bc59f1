// The readiness gate of every switch, fast rollback included (seed: rollback.yml
// mode=fast). Before HAProxy is touched, every container of the target color must
// exist, be RUNNING and answer its health check; otherwise the flip would land on
// dead backends, so it is refused with the next step.

import { askAgain, probeAll } from "../../io/prober";
import { getInstance, listInstances } from "../../io/incus";
import { refusalMessage, refused } from "../../model/errors";
import { Color, otherColor } from "../../model/naming";
import { IncusTarget, LOCAL_PROBE, ProbeRoute, appUrl } from "../../model/traffic/topology";
import { HealthExpect, judge } from "./health";

export interface TargetContainer {
    readonly container: string;
    readonly port: number;
    /** Its routed address, where `port` is the app's; absent: a loopback port. */
    readonly address?: string;
    readonly healthPath: string;
    readonly expect: HealthExpect;
    readonly release: string;
}

export interface ContainerCheck {
    readonly container: string;
    /** Incus status in capitals (RUNNING, STOPPED), or ABSENT. */
    readonly status: string;
    readonly healthy: boolean;
    readonly reason: string;
}

/** Pure: the refusal for a target color that cannot take traffic, or undefined. */
export function precheckRefusal(color: Color, checks: readonly ContainerCheck[]): string | undefined {
    const bad = checks.filter((c) => c.status !== "RUNNING" || !c.healthy);
    if (bad.length === 0) return undefined;
    const what = bad
        .map((c) =>
            c.status === "ABSENT"
                ? `${c.container} does not exist`
                : c.status !== "RUNNING"
                  ? `${c.container} is ${c.status}`
                  : `${c.container} is unhealthy (${c.reason})`,
        )
        .join("; ");
    // Each kind of trouble has its own way out: `up` restarts a stopped container and
    // recreates a missing one before any switch; only an unhealthy release needs a new one.
    const next: string[] = [];
    const stopped = bad.filter((c) => c.status !== "ABSENT" && c.status !== "RUNNING").map((c) => c.container);
    const absent = bad.filter((c) => c.status === "ABSENT").map((c) => c.container);
    if (stopped.length > 0 || absent.length > 0) {
        const how = [
            ...(stopped.length > 0 ? [`restarts ${stopped.join(", ")} (or \`incus start ${stopped.join(" ")}\`)`] : []),
            ...(absent.length > 0 ? [`recreates ${absent.join(", ")}`] : []),
        ];
        next.push(`Run \`pulumi up\` again: it ${how.join(" and ")} before it switches`);
    }
    if (bad.some((c) => c.status === "RUNNING")) next.push(`set bluegreen:colors.${color}.release to a release that passes its health check (full rollback)`);
    const previous = otherColor(color);
    return refusalMessage({
        what: `switching traffic to ${color} needs every ${color} container RUNNING and healthy; ${what}`,
        next: [...next, `keep bluegreen:active: ${previous}`],
        untouched: "HAProxy was not touched",
    });
}

/**
 * Looks at each target container: exists, RUNNING, answers its health check, and is the
 * container of this color and release by its own record (`user.bluegreen.*`), so a
 * container left on an older release is never taken for ready. The app owes no header.
 * The probe and the Incus query run at once: the switch's latency depends on this.
 */
export async function checkTargets(
    target: IncusTarget,
    color: Color,
    targets: readonly TargetContainer[],
    timeoutMs: number,
    route: ProbeRoute = LOCAL_PROBE,
    probe = true,
): Promise<ContainerCheck[]> {
    // One batch of probes (one exec with a remote), beside the Incus queries.
    const urls = targets.map((t) => ({ url: appUrl(t.port, t.healthPath, t.address), timeoutMs }));
    const [probes, insts] = await Promise.all([
        probe ? probeAll(route, urls) : undefined,
        // Several containers: one listing (one round trip), not a query each. A failed listing throws, as a failed query does.
        targets.length > 1
            ? listInstances(target).then((all) => targets.map((t) => all.find((i) => i.name === t.container)))
            : Promise.all(targets.map((t) => getInstance(target, t.container))),
    ]);
    const checks: (ContainerCheck | undefined)[] = targets.map((t, k) => {
        const inst = insts[k];
        if (!inst) return { container: t.container, status: "ABSENT", healthy: false, reason: "absent" };
        const status = inst.status.toUpperCase();
        if (status !== "RUNNING") return { container: t.container, status, healthy: false, reason: status };
        const labels = { color: inst.config["user.bluegreen.color"], release: inst.config["user.bluegreen.release"] };
        if (labels.color !== color || labels.release !== t.release) {
            return {
                container: t.container,
                status,
                healthy: false,
                reason: `it is ${labels.color ?? "?"} ${labels.release ?? "?"}, not ${color} ${t.release}`,
            };
        }
        // Without a probe, health is HAProxy's own check's to judge, before any traffic moves.
        if (!probes) return { container: t.container, status, healthy: true, reason: "left to HAProxy's health check" };
        return undefined;
    });
    if (probes) {
        const mine = checks.map((c, k) => (c ? -1 : k)).filter((k) => k >= 0);
        await askAgain(route, urls, probes, mine, (k) => targets[k].container, "readiness");
    }
    return targets.map((t, k) => {
        const c = checks[k];
        if (c) return c;
        const v = judge(probes![k], t.expect);
        return { container: t.container, status: "RUNNING", healthy: v.healthy, reason: v.reason };
    });
}

/**
 * Throws a refusal unless every target container can take traffic. `probe` false: only
 * Incus's record (exists, RUNNING, this color and release); the caller has HAProxy's own
 * health check gate the flip instead (the remote hot path: no prober exec on it).
 */
export async function assertColorReady(
    target: IncusTarget,
    color: Color,
    targets: readonly TargetContainer[],
    timeoutMs: number,
    route: ProbeRoute = LOCAL_PROBE,
    probe = true,
): Promise<void> {
    const why = precheckRefusal(color, await checkTargets(target, color, targets, timeoutMs, route, probe));
    if (why) throw refused(why);
}
