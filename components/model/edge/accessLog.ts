// Access logs (bluegreen:accessLog): HAProxy's fe_main logs each request in `httplog` format
// over UDP on loopback to a small receiver on the HAProxy host, which stamps each line with
// its UTC time and writes <stateDir>/access.log, rotated by size. Pure.

import { z } from "zod";

export const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
export const DEFAULT_KEEP = 3;

export const accessLogSpec = z.strictObject({
    /** The receiver's UDP port on the HAProxy host's loopback; default: frontendPort + 2. */
    port: z.int("expected a port number").min(1024, "expected a port of at least 1024").max(65535, "expected a port of at most 65535").optional(),
    /** access.log is rotated (to access.log.1, ...) once it reaches this size. */
    maxBytes: z.int("expected a whole number of bytes").min(4096, "expected at least 4096 bytes").default(DEFAULT_MAX_BYTES),
    /** Rotated files kept. */
    keep: z.int("expected a whole number").min(1, "expected at least 1").max(20, "expected at most 20").default(DEFAULT_KEEP),
});

export type AccessLogSpec = z.infer<typeof accessLogSpec>;

/** What the receiver and the rendered config need. */
export interface AccessLogModel {
    readonly port: number;
    readonly file: string;
    readonly maxBytes: number;
    readonly keep: number;
}

export function accessLogPath(layout: { readonly stateDir: string }): string {
    return `${layout.stateDir}/access.log`;
}

/** Pure: the receiver's port: the key's, else frontendPort + 2. */
export function accessLogPort(spec: AccessLogSpec, frontendPort: number): number {
    return spec.port ?? frontendPort + 2;
}

/** Pure: fe_main's lines: only client traffic is logged, never the exporter's scrapes. */
export function accessLogLines(port: number): string[] {
    return [`log 127.0.0.1:${port} len 8192 format raw local0 info`, "option httplog"];
}

/** A leading ISO 8601 UTC time, as the receiver (and the example app) write it. */
const STAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)\s/;

/** Pure: a line's time in ms, or undefined when it starts with none. */
export function lineTime(line: string): number | undefined {
    const m = STAMP.exec(line);
    return m ? Date.parse(m[1]) : undefined;
}

export interface LogSource {
    readonly prefix: string;
    readonly lines: readonly string[];
}

/**
 * Pure: the sources' lines interleaved by time, each with its source's prefix. A line with no
 * time of its own (a stack trace) keeps the time of the line before it, so it stays with it;
 * equal times keep source order, then line order.
 */
export function mergeByTime(sources: readonly LogSource[]): string[] {
    const all: { t: number; s: number; i: number; text: string }[] = [];
    sources.forEach((src, s) => {
        let t = -Infinity;
        src.lines.forEach((line, i) => {
            t = lineTime(line) ?? t;
            all.push({ t, s, i, text: `${src.prefix}${line}` });
        });
    });
    return all.sort((a, b) => a.t - b.t || a.s - b.s || a.i - b.i).map((x) => x.text);
}
