// Health: what a healthy answer is (pure), and the bounded wait for one.

import type { Probe } from "../../io/http";
import { probeAt } from "../../io/prober";
import { LOCAL_PROBE, ProbeRoute } from "../../model/traffic/topology";
import { poll } from "../../io/poll";
import { progress } from "../../io/progress";

export interface Verdict {
    readonly healthy: boolean;
    readonly reason: string;
}

/** What a healthy answer is: one of these statuses (`200-299,304`), and the body containing `body`. */
export interface HealthExpect {
    readonly status: string;
    readonly body?: string;
}

export const DEFAULT_EXPECT: HealthExpect = { status: "200-299" };

/** Pure: whether a status is in a list like `200-299,304`. */
export function statusMatches(status: number, list: string): boolean {
    return list.split(",").some((r) => {
        const [lo, hi = lo] = r.split("-").map(Number);
        return status >= lo && status <= hi;
    });
}

/** Pure: decides whether a probe is a healthy answer. The app owes bluegreen no header. */
export function judge(p: Probe, expect: HealthExpect = DEFAULT_EXPECT): Verdict {
    if (p.status === 0) return { healthy: false, reason: `no response: ${p.detail}` };
    if (!statusMatches(p.status, expect.status)) {
        return { healthy: false, reason: `HTTP ${p.status}${p.detail ? `: ${p.detail}` : ""} (expected ${expect.status})` };
    }
    if (expect.body && !p.body.includes(expect.body)) return { healthy: false, reason: `HTTP ${p.status} without ${JSON.stringify(expect.body)} in its body` };
    return { healthy: true, reason: `HTTP ${p.status}` };
}

export interface WaitSpec {
    readonly attempts: number;
    readonly intervalMs: number;
    readonly timeoutMs: number;
}

export interface WaitResult {
    readonly healthy: boolean;
    readonly attempts: number;
    readonly last: Probe;
    readonly reason: string;
}

/**
 * Probes until healthy or out of attempts; bounded by attempts x (timeout + interval).
 * Reports progress so a long wait is never silent.
 */
export async function waitHealthy(
    label: string,
    url: string,
    spec: WaitSpec,
    expect: HealthExpect = DEFAULT_EXPECT,
    route: ProbeRoute = LOCAL_PROBE,
): Promise<WaitResult> {
    let last: Probe = { status: 0, headers: {}, body: "", detail: "not probed" };
    let verdict: Verdict = { healthy: false, reason: "not probed" };
    const healthyAt = await poll(
        async (i) => {
            last = await probeAt(route, url, spec.timeoutMs);
            verdict = judge(last, expect);
            if (verdict.healthy) return i;
            if (i === 1 || i % 5 === 0 || i === spec.attempts) progress(`${label}: waiting for health (${i}/${spec.attempts}): ${verdict.reason}`);
            return undefined;
        },
        { attempts: spec.attempts, intervalMs: spec.intervalMs },
    );
    if (healthyAt === undefined) return { healthy: false, attempts: spec.attempts, last, reason: verdict.reason };
    progress(`${label}: healthy after ${healthyAt} attempt${healthyAt > 1 ? "s" : ""}`);
    return { healthy: true, attempts: healthyAt, last, reason: verdict.reason };
}
