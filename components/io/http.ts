// One HTTP GET with a hard timeout, for health checks and for verifying what the
// frontend serves. Never throws: a failure is a probe with status 0.

import * as http from "http";

export interface Probe {
    /** HTTP status, or 0 when no response came back. */
    readonly status: number;
    /** Response headers by lowercase name; a repeated header keeps its first value. */
    readonly headers: Readonly<Record<string, string>>;
    /** The body's first bytes (up to 64 KiB), for a body match. */
    readonly body: string;
    /** The first 300 characters of the body, or the connection error: for messages. */
    readonly detail: string;
}

const BODY_LIMIT = 64 * 1024;

export function probe(url: string, timeoutMs: number): Promise<Probe> {
    return new Promise((resolve) => {
        let done = false;
        const finish = (p: Probe) => {
            if (!done) {
                done = true;
                resolve(p);
            }
        };
        const failed = (e: Error) => finish({ status: 0, headers: {}, body: "", detail: e.message });
        const req = http.get(url, { timeout: timeoutMs, agent: false, headers: { connection: "close" } }, (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on("data", (b: Buffer) => {
                if (size < BODY_LIMIT) chunks.push(b);
                size += b.length;
            });
            res.on("end", () => {
                const headers: Record<string, string> = {};
                for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v[0] : v;
                const body = Buffer.concat(chunks).toString("utf8").slice(0, BODY_LIMIT);
                finish({ status: res.statusCode ?? 0, headers, body, detail: body.slice(0, 300).trim() });
            });
            res.on("error", failed);
        });
        req.on("timeout", () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
        req.on("error", failed);
    });
}
