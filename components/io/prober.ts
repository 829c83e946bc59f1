// Probes where the traffic comes from. Locally: io/http.ts `probe`. With an Incus remote: one
// `incus exec` into the HAProxy instance of a constant node prober (nodejs is in the image),
// which reads the targets as JSON on stdin and prints one JSON result per target, then a
// sentinel, so an exec whose output Incus lost is told from an answer and asked again (a probe
// is a read). Never throws: a failure is a probe with status 0, as io/http.ts.

import { ProbeRoute, describeChannel } from "../model/traffic/topology";
import { Cmd, run } from "./exec";
import { Probe, ProbeOptions, probe } from "./http";
import { execCmd } from "./incus";
import { sleep } from "./poll";
import { progress } from "./progress";

export interface ProbeTarget {
    readonly url: string;
    readonly timeoutMs: number;
    /** false: done at the headers (io/http.ts ProbeOptions). */
    readonly body?: boolean;
    /** Request headers besides `connection: close`; sent on stdin, never in argv. */
    readonly headers?: Readonly<Record<string, string>>;
}

/** Ends the prober's output: without it, the exec's output was lost. */
export const PROBER_SENTINEL = "__bluegreen_probes_end__";

/**
 * Constant: the prober run by `node -e`. Each target has its own total deadline (connect,
 * headers, body), as io/http.ts; they run at once; results print in the targets' order.
 */
export const PROBER_SCRIPT = `"use strict";
const http = require("http");
const LIMIT = 65536;
function one(t) {
  return new Promise((resolve) => {
    let done = false, answer, size = 0, req, timer;
    const chunks = [];
    const finish = (p) => { if (done) return; done = true; clearTimeout(timer); if (req) req.destroy(); resolve(p); };
    const answered = () => {
      const body = Buffer.concat(chunks).toString("utf8").slice(0, LIMIT);
      finish({ status: answer.status, headers: answer.headers, body, detail: body.slice(0, 300).trim() });
    };
    const failed = (e) => (answer ? answered() : finish({ status: 0, headers: {}, body: "", detail: e.message }));
    try {
      req = http.get(t.url, { agent: false, headers: Object.assign({}, t.headers, { connection: "close" }) }, (res) => {
        const headers = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v[0] : v;
        answer = { status: res.statusCode || 0, headers };
        if (t.body === false) return answered();
        res.on("data", (b) => { chunks.push(b); size += b.length; if (size >= LIMIT) answered(); });
        res.on("end", answered);
        res.on("close", answered);
        res.on("error", failed);
      });
    } catch (e) { return failed(e); }
    timer = setTimeout(() => failed(new Error("timed out after " + t.timeoutMs + " ms")), t.timeoutMs);
    req.on("error", failed);
  });
}
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", async () => {
  const targets = JSON.parse(input);
  const results = await Promise.all(targets.map(one));
  process.stdout.write(results.map((r) => JSON.stringify(r) + "\\n").join("") + "${PROBER_SENTINEL}\\n", () => process.exit(0));
});
`;

/** Room for node's start and Incus's round trip on top of the slowest probe's own deadline. */
const EXEC_MARGIN_MS = 20_000;

/** Pure: the one exec that runs every target's probe inside the instance. */
export function proberCmd(route: Extract<ProbeRoute, { via: "exec" }>, targets: readonly ProbeTarget[]): Cmd {
    const slowest = Math.max(0, ...targets.map((t) => t.timeoutMs));
    return execCmd(route.target, route.instance, ["node", "-e", PROBER_SCRIPT], {
        input: JSON.stringify(
            targets.map((t) => ({
                url: t.url,
                timeoutMs: t.timeoutMs,
                ...(t.body === false ? { body: false } : {}),
                ...(t.headers ? { headers: t.headers } : {}),
            })),
        ),
        timeoutMs: slowest + EXEC_MARGIN_MS,
    });
}

function asProbe(v: unknown): Probe | undefined {
    if (typeof v !== "object" || v === null) return undefined;
    const o = v as Record<string, unknown>;
    if (typeof o.status !== "number" || typeof o.body !== "string" || typeof o.detail !== "string") return undefined;
    if (typeof o.headers !== "object" || o.headers === null) return undefined;
    const headers: Record<string, string> = {};
    for (const [k, h] of Object.entries(o.headers)) if (typeof h === "string") headers[k] = h;
    return { status: o.status, headers, body: o.body, detail: o.detail };
}

/** Pure: the prober's results, or undefined unless there is exactly one per target and the sentinel ends them. */
export function parseProberOutput(stdout: string, count: number): Probe[] | undefined {
    const lines = stdout.split("\n");
    while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
    if (lines.pop() !== PROBER_SENTINEL || lines.length !== count) return undefined;
    const out: Probe[] = [];
    for (const line of lines) {
        let p: Probe | undefined;
        try {
            p = asProbe(JSON.parse(line));
        } catch {
            return undefined;
        }
        if (!p) return undefined;
        out.push(p);
    }
    return out;
}

const ATTEMPTS = 3;

/** Every target's probe, in order: here, or in one exec per attempt inside the HAProxy instance. */
export async function probeAll(route: ProbeRoute, targets: readonly ProbeTarget[]): Promise<Probe[]> {
    if (targets.length === 0) return [];
    if (route.via === "local")
        return Promise.all(
            targets.map((t) => probe(t.url, t.timeoutMs, { ...(t.body === false ? { body: false } : {}), ...(t.headers ? { headers: t.headers } : {}) })),
        );
    let why = "";
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
        const r = await run(proberCmd(route, targets));
        const probes = r.code === 0 ? parseProberOutput(r.stdout, targets.length) : undefined;
        if (probes) return probes;
        why = r.timedOut ? "timed out" : r.code !== 0 ? `exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 200)}` : "its output was lost (no sentinel)";
        if (r.timedOut) break;
        await sleep(100 * attempt);
    }
    const detail = `the prober in ${describeChannel(route)} gave no answer: ${why}`;
    return targets.map(() => ({ status: 0, headers: {}, body: "", detail }));
}

/** One probe along the route. */
export async function probeAt(route: ProbeRoute, url: string, timeoutMs: number, opts: ProbeOptions = {}): Promise<Probe> {
    return (await probeAll(route, [{ url, timeoutMs, ...(opts.body === false ? { body: false } : {}) }]))[0];
}

/** Probes per target before "no answer" counts as unhealthy. */
export const NO_ANSWER_TRIES = 3;
const RETRY_PAUSE_MS = 200;

/**
 * Asks again, in place, the probes among `which` that got no answer at all (status 0:
 * timed out, refused, reset), up to NO_ANSWER_TRIES in all. A loaded host can leave one
 * probe unanswered, and calling a healthy node down for it fails a release or pages someone.
 * An HTTP answer is the app's verdict and is kept. The happy path stays one batch.
 */
export async function askAgain(
    route: ProbeRoute,
    targets: readonly ProbeTarget[],
    probes: Probe[],
    which: readonly number[],
    name: (k: number) => string,
    who: string,
): Promise<void> {
    for (let attempt = 2; attempt <= NO_ANSWER_TRIES; attempt++) {
        const again = which.filter((k) => probes[k].status === 0);
        if (again.length === 0) return;
        const what = again.map((k) => `${name(k)} (${probes[k].detail || "no answer"})`).join(", ");
        progress(`${who}: no answer from ${what}; asking again (${attempt}/${NO_ANSWER_TRIES})`);
        await sleep(RETRY_PAUSE_MS);
        const next = await probeAll(
            route,
            again.map((k) => targets[k]),
        );
        again.forEach((k, j) => (probes[k] = next[j]));
    }
}
