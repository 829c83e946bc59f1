// SLI queries as PromQL templates, and what an instant query can answer. Pure.
//
// A template names the targets under judgement with `$selector` and the probe's
// lookback with `$window`:
//
//   sum(increase(http_requests_total{$selector}[$window]))
//
// `$selector` becomes the label matchers without braces, `component="backend",color="blue",node="2"`,
// so a template can add its own: `{$selector,code=~"5.."}`. `$window` becomes a Prometheus
// duration in seconds, `60s`. PromQL itself never uses `$`, so any other `$name` is a typo.

import { parser } from "@prometheus-io/lezer-promql";

/** The three SLIs a probe measures. */
export interface SliQueries {
    /** p95 latency in seconds. */
    readonly p95: string;
    /** 5xx responses / all responses, 0..1. */
    readonly errorRatio: string;
    /** Requests in the lookback window. */
    readonly requests: string;
}

export const PLACEHOLDERS = ["$selector", "$window"] as const;

/**
 * Over the example app's metrics (`http_request_duration_seconds` histogram,
 * `http_requests_total{code}` counter). HAProxy's exporter has no latency histogram,
 * so p95 has to come from the app. The error ratio's `or vector(0)` matters: an app
 * that has served no 5xx has no `code="500"` series at all, and without it the ratio
 * would be an empty result (no data) for a perfectly healthy release.
 */
export const DEFAULT_QUERIES: SliQueries = {
    p95: "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{$selector}[$window])))",
    errorRatio: '(sum(rate(http_requests_total{$selector,code=~"5.."}[$window])) or vector(0)) / sum(rate(http_requests_total{$selector}[$window]))',
    requests: "sum(increase(http_requests_total{$selector}[$window]))",
};

/** Label matchers, e.g. { component: "backend", color: "blue", node: "2" }; order is kept. */
export type Selector = Readonly<Record<string, string>>;

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Pure: what is wrong with a template, as sentences (empty when it is usable). */
export function templateProblems(template: string): string[] {
    const problems: string[] = [];
    if (template.trim().length === 0) return ["expected a PromQL query"];
    if (!template.includes("$selector")) {
        problems.push("expected $selector where the label matchers of the targets under judgement go, e.g. http_requests_total{$selector}");
    }
    const unknown = [...new Set(template.match(/\$[A-Za-z_]\w*/g) ?? [])].filter((p) => !(PLACEHOLDERS as readonly string[]).includes(p));
    if (unknown.length > 0) problems.push(`unknown placeholder ${unknown.join(", ")}; the placeholders are ${PLACEHOLDERS.join(" and ")}`);
    return problems.length > 0 ? problems : syntaxProblems(template);
}

/**
 * Pure: where the template stops being PromQL, by Prometheus's own grammar (lezer-promql,
 * the parser of Prometheus's UI). The placeholders are filled with text of the same length,
 * so the position is the template's.
 */
function syntaxProblems(template: string): string[] {
    const query = template.split("$selector").join('a="12345"').split("$window").join("123456s");
    let at: number | undefined;
    parser.parse(query).iterate({
        enter: (n) => {
            if (at === undefined && n.type.isError) at = n.from;
            return at === undefined;
        },
    });
    if (at === undefined) return [];
    return [
        at >= template.trimEnd().length
            ? "expected PromQL: it ends too soon"
            : `expected PromQL: it breaks at character ${at + 1}: ${template.slice(at, at + 20)}`,
    ];
}

/** Pure: `component="backend",color="blue"`, values escaped as PromQL strings. */
export function renderSelector(selector: Selector): string {
    const entries = Object.entries(selector);
    if (entries.length === 0) throw new Error("an SLI selector needs at least one label, or it would judge every target Prometheus scrapes");
    return entries
        .map(([name, value]) => {
            if (!LABEL_NAME.test(name)) throw new Error(`invalid Prometheus label name ${JSON.stringify(name)}`);
            return `${name}=${JSON.stringify(value)}`;
        })
        .join(",");
}

/** Pure: a Prometheus duration of whole seconds, `60s`. */
export function promDuration(seconds: number): string {
    if (!Number.isInteger(seconds) || seconds < 1) throw new Error(`expected a whole number of seconds of at least 1, got ${seconds}`);
    return `${seconds}s`;
}

/** Pure: the template with its placeholders filled in. */
export function renderQuery(template: string, o: { readonly selector: Selector; readonly windowSeconds: number }): string {
    const values: Record<string, string> = { $selector: renderSelector(o.selector), $window: promDuration(o.windowSeconds) };
    // A function replacer, so `$&` and friends in a value are never interpreted.
    return template.replace(/\$(selector|window)\b/g, (p) => values[p]);
}

/**
 * Pure: the lookback a probe uses for `$window`: its own interval, but at least four
 * scrapes. A rate over fewer scrapes is fragile (measured: `rate(x[2s])` at a 1 s scrape
 * interval often holds only two samples, `[1s]` none), and a fragile empty result is
 * a red probe.
 */
export function lookbackSeconds(probeIntervalSeconds: number, scrapeIntervalSeconds: number): number {
    return Math.max(Math.ceil(probeIntervalSeconds), 4 * Math.ceil(scrapeIntervalSeconds));
}

/**
 * What one instant query answered. A number (finite or ±Inf: histogram_quantile gives
 * +Inf when the quantile falls in the +Inf bucket), NaN (e.g. a ratio of zero requests),
 * an empty result (no series matched), an error (HTTP, Prometheus, connection, shape), or
 * a timeout. `message` always names the query and the server.
 */
export type InstantValue =
    | { readonly kind: "number"; readonly value: number }
    | { readonly kind: "nan" }
    | { readonly kind: "empty" }
    | { readonly kind: "error"; readonly message: string; readonly status?: number }
    | { readonly kind: "timeout"; readonly message: string; readonly timeoutMs: number };

/** Pure: a sample value as Prometheus writes it ("0.25", "NaN", "+Inf", "-Inf"). */
export function sampleValue(text: unknown): number | undefined {
    if (typeof text !== "string") return undefined;
    if (text === "+Inf" || text === "Inf") return Infinity;
    if (text === "-Inf") return -Infinity;
    if (text === "NaN") return NaN;
    const n = Number(text);
    return text.trim() === "" || Number.isNaN(n) ? undefined : n;
}

/** Where a message says it asked: the URL without credentials, query string or fragment. */
export function redactUrl(url: string): string {
    try {
        const u = new URL(url);
        u.username = "";
        u.password = "";
        u.search = "";
        u.hash = "";
        return u.toString().replace(/\/$/, "");
    } catch {
        return "(an unparsable URL)";
    }
}

/**
 * Pure: an instant query's HTTP answer as an InstantValue. A vector must hold at most one
 * series: an SLI is one number, so a query that returns several is a mistake in the
 * template (aggregate it with sum(...)), never something to pick from.
 */
export function parseInstantAnswer(status: number, body: string, where: { readonly query: string; readonly url: string }): InstantValue {
    const at = `query ${where.query} at ${redactUrl(where.url)}`;
    let json: unknown;
    try {
        json = JSON.parse(body);
    } catch {
        const excerpt = body.replace(/\s+/g, " ").trim().slice(0, 200);
        return { kind: "error", status, message: `${at}: HTTP ${status} with a body that is not Prometheus JSON${excerpt ? `: ${excerpt}` : ""}` };
    }
    const o = (json ?? {}) as { status?: unknown; errorType?: unknown; error?: unknown; data?: { resultType?: unknown; result?: unknown } };
    if (o.status !== "success") {
        const type = typeof o.errorType === "string" ? ` (${o.errorType})` : "";
        const err = typeof o.error === "string" ? o.error : "no error message";
        return { kind: "error", status, message: `${at}: Prometheus answered HTTP ${status}${type}: ${err}` };
    }
    if (status < 200 || status > 299) return { kind: "error", status, message: `${at}: HTTP ${status}` };
    const type = o.data?.resultType;
    const result = o.data?.result;
    const fromSample = (pair: unknown): InstantValue => {
        const v = Array.isArray(pair) ? sampleValue(pair[1]) : undefined;
        if (v === undefined) return { kind: "error", status, message: `${at}: a sample without a numeric value: ${JSON.stringify(pair)}` };
        return Number.isNaN(v) ? { kind: "nan" } : { kind: "number", value: v };
    };
    if (type === "scalar") return fromSample(result);
    if (type === "vector" && Array.isArray(result)) {
        if (result.length === 0) return { kind: "empty" };
        if (result.length > 1) {
            const series = result
                .slice(0, 3)
                .map((r: { metric?: unknown }) => JSON.stringify(r?.metric ?? {}))
                .join(", ");
            return {
                kind: "error",
                status,
                message: `${at}: ${result.length} series (${series}${result.length > 3 ? ", ..." : ""}); an SLI query must return one, aggregate it with sum(...)`,
            };
        }
        return fromSample((result[0] as { value?: unknown })?.value);
    }
    return { kind: "error", status, message: `${at}: a ${String(type)} result; an SLI query must be an instant vector or a scalar` };
}
