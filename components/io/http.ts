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

export interface ProbeOptions {
    /** false: done at the headers, for a caller that reads only status and headers (a stream route never ends). Default true. */
    readonly body?: boolean;
    /** Request headers beside `connection: close`, e.g. the Host a host route matches. */
    readonly headers?: Readonly<Record<string, string>>;
}

const BODY_LIMIT = 64 * 1024;

/**
 * `timeoutMs` bounds the whole probe: connect, headers and body. A body still coming at
 * the deadline (a stream) ends the probe with what arrived.
 */
export function probe(url: string, timeoutMs: number, opts: ProbeOptions = {}): Promise<Probe> {
    return new Promise((resolve) => {
        // Declared before `finish` uses them: Pulumi's closure serializer rejects forward references.
        let req: http.ClientRequest | undefined = undefined;
        let deadline: NodeJS.Timeout | undefined = undefined;
        let done = false;
        let answer: { status: number; headers: Record<string, string> } | undefined = undefined;
        const chunks: Buffer[] = [];
        let size = 0;
        const finish = (p: Probe) => {
            if (done) return;
            done = true;
            clearTimeout(deadline);
            req?.destroy();
            resolve(p);
        };
        const answered = () => {
            const body = Buffer.concat(chunks).toString("utf8").slice(0, BODY_LIMIT);
            finish({ status: answer!.status, headers: answer!.headers, body, detail: body.slice(0, 300).trim() });
        };
        const failed = (e: Error) => (answer ? answered() : finish({ status: 0, headers: {}, body: "", detail: e.message }));
        req = http.get(url, { agent: false, headers: { ...opts.headers, connection: "close" } }, (res) => {
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v[0] : v;
            answer = { status: res.statusCode ?? 0, headers };
            if (opts.body === false) return answered();
            res.on("data", (b: Buffer) => {
                chunks.push(b);
                size += b.length;
                if (size >= BODY_LIMIT) answered();
            });
            res.on("end", answered);
            res.on("close", answered);
            res.on("error", failed);
        });
        deadline = setTimeout(() => failed(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
        req.on("error", failed);
    });
}
