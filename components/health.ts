// Health checks: an HTTP GET through the loopback proxy of a container, judged by
// status code and by the release the app says it runs (the `x-release` header).

import * as http from "http";
import { progress } from "./progress";

export interface Probe {
    /** HTTP status, or 0 when no response came back. */
    readonly status: number;
    readonly release?: string;
    readonly color?: string;
    /** The first bytes of the body, or the connection error. */
    readonly detail: string;
}

export interface Verdict {
    readonly healthy: boolean;
    readonly reason: string;
}

/** Pure: decides whether a probe shows a healthy instance of the expected release. */
export function judge(probe: Probe, expectRelease?: string): Verdict {
    if (probe.status === 0) return { healthy: false, reason: `no response: ${probe.detail}` };
    if (probe.status !== 200) {
        return { healthy: false, reason: `HTTP ${probe.status}${probe.detail ? `: ${probe.detail}` : ""}` };
    }
    if (expectRelease && probe.release !== expectRelease) {
        return { healthy: false, reason: `serves release ${probe.release ?? "(no x-release header)"}, expected ${expectRelease}` };
    }
    return { healthy: true, reason: "HTTP 200" };
}

/** One GET with a hard timeout. Never throws: failures become a probe with status 0. */
export function probe(url: string, timeoutMs: number): Promise<Probe> {
    return new Promise((resolve) => {
        let done = false;
        const finish = (p: Probe) => {
            if (!done) {
                done = true;
                resolve(p);
            }
        };
        const req = http.get(url, { timeout: timeoutMs, agent: false, headers: { connection: "close" } }, (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on("data", (b: Buffer) => {
                if (size < 512) chunks.push(b);
                size += b.length;
            });
            res.on("end", () =>
                finish({
                    status: res.statusCode ?? 0,
                    release: header(res.headers["x-release"]),
                    color: header(res.headers["x-color"]),
                    detail: Buffer.concat(chunks).toString("utf8").slice(0, 300).trim(),
                }),
            );
            res.on("error", (e) => finish({ status: 0, detail: e.message }));
        });
        req.on("timeout", () => {
            req.destroy(new Error(`timed out after ${timeoutMs} ms`));
        });
        req.on("error", (e) => finish({ status: 0, detail: e.message }));
    });
}

function header(v: string | string[] | undefined): string | undefined {
    return Array.isArray(v) ? v[0] : v;
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
    for (let i = 1; i <= spec.attempts; i++) {
        last = await probe(url, spec.timeoutMs);
        verdict = judge(last, expectRelease);
        if (verdict.healthy) {
            progress(`${label}: healthy after ${i} attempt${i > 1 ? "s" : ""}`);
            return { healthy: true, attempts: i, last, reason: verdict.reason };
        }
        if (i === 1 || i % 5 === 0 || i === spec.attempts) {
            progress(`${label}: waiting for health (${i}/${spec.attempts}): ${verdict.reason}`);
        }
        if (i < spec.attempts) await sleep(spec.intervalMs);
    }
    return { healthy: false, attempts: spec.attempts, last, reason: verdict.reason };
}

export function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}
