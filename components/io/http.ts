// One HTTP GET with a hard timeout, for health checks and for verifying what the
// frontend serves. Never throws: a failure is a probe with status 0.

import * as http from "http";

export interface Probe {
    /** HTTP status, or 0 when no response came back. */
    readonly status: number;
    readonly release?: string;
    readonly color?: string;
    /** The first bytes of the body, or the connection error. */
    readonly detail: string;
}

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
        req.on("timeout", () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
        req.on("error", (e) => finish({ status: 0, detail: e.message }));
    });
}

function header(v: string | string[] | undefined): string | undefined {
    return Array.isArray(v) ? v[0] : v;
}
