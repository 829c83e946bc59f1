// Health: what a healthy answer is (pure), and the bounded wait for one.

import { Probe, probe } from "../io/http";
import { poll } from "../io/poll";
import { progress } from "../io/progress";

export interface Verdict {
    readonly healthy: boolean;
    readonly reason: string;
}

/** Pure: decides whether a probe shows a healthy instance of the expected release. */
export function judge(p: Probe, expectRelease?: string): Verdict {
    if (p.status === 0) return { healthy: false, reason: `no response: ${p.detail}` };
    if (p.status !== 200) {
        return { healthy: false, reason: `HTTP ${p.status}${p.detail ? `: ${p.detail}` : ""}` };
    }
    if (expectRelease && p.release !== expectRelease) {
        return { healthy: false, reason: `serves release ${p.release ?? "(no x-release header)"}, expected ${expectRelease}` };
    }
    return { healthy: true, reason: "HTTP 200" };
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
export async function waitHealthy(label: string, url: string, spec: WaitSpec, expectRelease?: string): Promise<WaitResult> {
    let last: Probe = { status: 0, detail: "not probed" };
    let verdict: Verdict = { healthy: false, reason: "not probed" };
    const healthyAt = await poll(
        async (i) => {
            last = await probe(url, spec.timeoutMs);
            verdict = judge(last, expectRelease);
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
