// Generated load during an analysis window (issue 23, after Flagger's load tester): a quiet
// stack has no traffic, so no data, so every probe is red. bluegreen drives steady requests
// through the frontend for the window with wrk (Debian's 4.1, installed by setup-host.sh).
// That wrk has no `-R` (wrk2's rate flag); its Lua `delay()` hook paces each connection
// instead: `concurrency` connections, each waiting concurrency x 1000 / rps ms between
// requests, give at most `rps`. autocannon's overallRate would also do, but this project
// found it loses count on reconnects (harness/load.ts), and wrk is already on every host.
// Headers go into the Lua script (a private temp file), never into argv or logs. Pure.

/** bluegreen:canary.load and bluegreen:progressive.load. */
export interface LoadSpec {
    /** Requested through the frontend, e.g. `/` or `/api/items`. */
    readonly path: string;
    /** Requests per second, at most (all connections together). */
    readonly rps: number;
    /** Connections open at once. */
    readonly concurrency: number;
    readonly headers?: Readonly<Record<string, string>>;
}

/** Header names that carry credentials: the config is plain text in state, so they are refused. */
export const SECRET_HEADER = /authorization|cookie|token|secret|password|passwd|api[-_]?key|session|credential/i;

/** Pure: what is wrong with a load header, as sentences (empty when it is usable). */
export function loadHeaderProblems(name: string, value: string): string[] {
    const problems: string[] = [];
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) problems.push(`${JSON.stringify(name)} is not an HTTP header name`);
    if (SECRET_HEADER.test(name)) {
        problems.push(
            `${name} looks like a credential, and bluegreen:canary.load is plain text in the stack's config and state; ` +
                `point load.path at a route that needs none`,
        );
    }
    if (!/^[\x20-\x7e]*$/.test(value)) problems.push(`the value of ${name} must be printable ASCII`);
    return problems;
}

/** Pure: milliseconds each connection waits between requests, so all of them make at most `rps`. */
export function loadDelayMs(spec: Pick<LoadSpec, "rps" | "concurrency">): number {
    return Math.max(0, Math.round((spec.concurrency * 1000) / spec.rps));
}

/** Marks wrk's one result line. */
export const LOAD_RESULT_MARK = "BLUEGREEN_LOAD";

function luaString(s: string): string {
    return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** Pure: the Lua script: the path, the headers, the pace, and one result line at the end. */
export function wrkLoadScript(spec: LoadSpec): string {
    const headers = Object.entries(spec.headers ?? {}).map(([k, v]) => `wrk.headers[${luaString(k)}] = ${luaString(v)}\n`);
    return (
        `wrk.method = "GET"\n` +
        `wrk.path = ${luaString(spec.path)}\n` +
        headers.join("") +
        `function delay()\n  return ${loadDelayMs(spec)}\nend\n` +
        `function done(summary, latency, requests)\n` +
        `  local e = summary.errors\n` +
        `  io.write(string.format('${LOAD_RESULT_MARK} {"requests":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',\n` +
        `    summary.requests, e.connect, e.read, e.write, e.status, e.timeout))\n` +
        `end\n`
    );
}

/** Pure: wrk's argv: one thread, `concurrency` connections, for `seconds`, against the frontend's base URL. */
export function wrkLoadArgv(spec: Pick<LoadSpec, "concurrency">, o: { readonly baseUrl: string; readonly seconds: number; readonly script: string }): string[] {
    if (!Number.isInteger(o.seconds) || o.seconds < 1) throw new Error(`expected whole seconds of load, at least 1, got ${o.seconds}`);
    return ["wrk", "-t", "1", "-c", String(spec.concurrency), "-d", `${o.seconds}s`, "--timeout", "5s", "-s", o.script, o.baseUrl];
}

export interface LoadResult {
    readonly requests: number;
    readonly connect: number;
    readonly read: number;
    readonly write: number;
    /** Non-2xx/3xx answers. */
    readonly status: number;
    readonly timeout: number;
}

/** Pure: the result line, or undefined when wrk printed none (killed, or never started). */
export function parseLoadResult(output: string): LoadResult | undefined {
    const m = new RegExp(`^${LOAD_RESULT_MARK} (\\{.*\\})$`, "m").exec(output);
    if (!m) return undefined;
    try {
        return JSON.parse(m[1]) as LoadResult;
    } catch {
        return undefined;
    }
}

/** Pure: one line for progress: what the load did, never its headers. */
export function describeLoad(spec: LoadSpec, r: LoadResult | undefined): string {
    const asked = `GET ${spec.path} at up to ${spec.rps} rps over ${spec.concurrency} connection(s)`;
    if (!r) return `${asked}: wrk printed no result`;
    const failed = r.connect + r.read + r.write + r.timeout;
    return `${asked}: ${r.requests} requests, ${r.status} non-2xx/3xx, ${failed} failed (connect ${r.connect}, read ${r.read}, write ${r.write}, timeout ${r.timeout})`;
}

/** Seconds under which a window is too short for a real stack (seed 002: 300 s at least for hot-fixes). */
export const MIN_REAL_WINDOW_SECONDS = 300;

/**
 * Pure: preview's warnings for windows under 300 s on a stack not marked as a test stack
 * (bluegreen:testStack: true). Short windows stay possible: tests need them.
 */
export function shortWindowWarnings(c: {
    readonly testStack?: boolean;
    readonly canary?: { readonly windowSeconds: number };
    readonly progressive?: { readonly stepSeconds: number };
}): string[] {
    if (c.testStack) return [];
    const out: string[] = [];
    const say = (key: string, s: number) =>
        `${key} is ${s} s, under the ${MIN_REAL_WINDOW_SECONDS} s a real stack needs to judge a release (seed 002); ` +
        `raise it, or set bluegreen:testStack: true if this stack is only for tests`;
    if (c.canary && c.canary.windowSeconds < MIN_REAL_WINDOW_SECONDS) out.push(say("bluegreen:canary.windowSeconds", c.canary.windowSeconds));
    if (c.progressive && c.progressive.stepSeconds < MIN_REAL_WINDOW_SECONDS) out.push(say("bluegreen:progressive.stepSeconds", c.progressive.stepSeconds));
    return out;
}
