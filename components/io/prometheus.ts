// A small client of Prometheus's HTTP API: instant queries (/api/v1/query), readiness
// (/-/ready), and what a reload by SIGHUP left: the loaded config and its own reload metric.
// The lifecycle API (/-/reload, /-/quit) stays off: it is unauthenticated.
//
// Why Node's built-in fetch and not npm's prometheus-query (measured 3.5.1, see the
// research notes): the project prefers a kept library, but this one brings axios and 30
// other packages (5 MB) for two HTTP calls; it rejects with plain objects that are not
// Errors and carry no query, so every call would need wrapping anyway to keep our rule
// that an error names its query and URL; it hands scalars back as raw `[ts, "1"]` pairs;
// and it is only lightly maintained (dependency bumps). What we need from it, telling a
// number from NaN from an empty result from an error from a timeout, is the part we have
// to write ourselves either way (parseInstantAnswer in model/rollout/promql.ts, pure and tested).
// fetch with AbortSignal.timeout bounds the whole exchange, body included.

import { InstantValue, parseInstantAnswer, redactUrl } from "../model/rollout/promql";

export interface PrometheusClientOptions {
    /** Base URL, e.g. http://127.0.0.1:19090. Credentials in it go into a Basic auth header, never into a message. */
    readonly url: string;
    /** Bound on one request, body included; Prometheus is also told to stop evaluating by then. Default 5000. */
    readonly timeoutMs?: number;
}

export interface Readiness {
    readonly ready: boolean;
    /** `HTTP 200`, `HTTP 503: Service Unavailable`, or the connection error; names the URL. */
    readonly detail: string;
}

export interface PrometheusClient {
    /** The base URL as messages show it: no credentials. */
    readonly url: string;
    /** An instant query, evaluated now or at `timeMs` (ms since the epoch). Never throws. */
    query(promql: string, o?: { readonly timeMs?: number }): Promise<InstantValue>;
    /** GET /-/ready: 200 once the TSDB is open and the config loaded. Never throws. */
    ready(): Promise<Readiness>;
    /** GET /api/v1/status/config: the config it runs, as it writes it out; no `yaml` when unreadable. Never throws. */
    loadedConfig(): Promise<{ readonly yaml?: string; readonly detail: string }>;
    /** Its own `prometheus_config_last_reload_successful` (GET /metrics); no `ok` when unreadable. Never throws. */
    lastReloadOk(): Promise<{ readonly ok?: boolean; readonly detail: string }>;
}

interface Raw {
    readonly status: number;
    readonly body: string;
}

type Outcome = { readonly ok: true; readonly raw: Raw } | { readonly ok: false; readonly timedOut: boolean; readonly detail: string };

export function prometheusClient(o: PrometheusClientOptions): PrometheusClient {
    const timeoutMs = o.timeoutMs ?? 5000;
    let parsed: URL;
    try {
        parsed = new URL(o.url);
    } catch {
        throw new Error("invalid Prometheus URL (expected http://host:port); it is not repeated here in case it holds credentials");
    }
    const headers: Record<string, string> = {};
    if (parsed.username || parsed.password) {
        const user = decodeURIComponent(parsed.username);
        const pass = decodeURIComponent(parsed.password);
        headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
        parsed.username = "";
        parsed.password = "";
    }
    const base = parsed.toString().replace(/\/+$/, "");
    const shown = redactUrl(o.url);

    async function call(pathname: string, init: { method: string; body?: URLSearchParams }): Promise<Outcome> {
        try {
            const res = await fetch(`${base}${pathname}`, {
                method: init.method,
                headers: init.body ? { ...headers, "content-type": "application/x-www-form-urlencoded" } : headers,
                body: init.body?.toString(),
                signal: AbortSignal.timeout(timeoutMs),
            });
            return { ok: true, raw: { status: res.status, body: await res.text() } };
        } catch (e) {
            const err = e as Error & { cause?: { message?: string; code?: string } };
            if (err.name === "TimeoutError" || err.name === "AbortError") return { ok: false, timedOut: true, detail: `no answer within ${timeoutMs} ms` };
            const cause = err.cause?.message || err.cause?.code;
            return { ok: false, timedOut: false, detail: cause ? `${err.message}: ${cause}` : err.message };
        }
    }

    async function lifecycle(pathname: string, method: string): Promise<Readiness> {
        const r = await call(pathname, { method });
        const where = `${method} ${shown}${pathname}`;
        if (!r.ok) return { ready: false, detail: `${where}: ${r.detail}` };
        const text = r.raw.body.replace(/\s+/g, " ").trim().slice(0, 300);
        return { ready: r.raw.status === 200, detail: `${where}: HTTP ${r.raw.status}${text ? `: ${text}` : ""}` };
    }

    return {
        url: shown,
        async query(promql, q = {}) {
            const params = new URLSearchParams({ query: promql, timeout: `${timeoutMs}ms` });
            if (q.timeMs !== undefined) params.set("time", (q.timeMs / 1000).toFixed(3));
            const r = await call("/api/v1/query", { method: "POST", body: params });
            const where = { query: promql, url: `${shown}/api/v1/query` };
            if (r.ok) return parseInstantAnswer(r.raw.status, r.raw.body, where);
            const message = `query ${promql} at ${where.url}: ${r.detail}`;
            return r.timedOut ? { kind: "timeout", timeoutMs, message } : { kind: "error", message };
        },
        ready: () => lifecycle("/-/ready", "GET"),
        async loadedConfig() {
            const r = await call("/api/v1/status/config", { method: "GET" });
            const where = `GET ${shown}/api/v1/status/config`;
            if (!r.ok) return { detail: `${where}: ${r.detail}` };
            try {
                const yaml = (JSON.parse(r.raw.body) as { data?: { yaml?: unknown } }).data?.yaml;
                if (r.raw.status === 200 && typeof yaml === "string") return { yaml, detail: `${where}: HTTP 200` };
            } catch {
                // not JSON: said below
            }
            return { detail: `${where}: HTTP ${r.raw.status}: ${r.raw.body.replace(/\s+/g, " ").trim().slice(0, 300)}` };
        },
        async lastReloadOk() {
            const r = await call("/metrics", { method: "GET" });
            const where = `GET ${shown}/metrics`;
            if (!r.ok) return { detail: `${where}: ${r.detail}` };
            const m = /^prometheus_config_last_reload_successful (\S+)$/m.exec(r.raw.body);
            if (r.raw.status !== 200 || !m) return { detail: `${where}: HTTP ${r.raw.status}, no prometheus_config_last_reload_successful` };
            return { ok: Number(m[1]) === 1, detail: `${where}: prometheus_config_last_reload_successful ${m[1]}` };
        },
    };
}
