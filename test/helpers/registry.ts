// A small generic-package registry: the subset of the Forgejo/Gitea API that
// components/artifacts.ts httpStore uses.
//   PUT <base>/<package>/<version>/<file>  -> 201, or 409 when the file exists
//   GET <base>/<package>/<version>/<file>  -> 200 with the bytes, or 404
// With a token, every request needs `Authorization: token <token>`, else 401.

import * as http from "http";
import type { AddressInfo } from "net";

export interface RecordedRequest {
    readonly method: string;
    readonly path: string;
    readonly authorization?: string;
    readonly status: number;
}

export interface Registry {
    /** Base URL, e.g. http://127.0.0.1:PORT/api/packages/acme/generic (no trailing slash). */
    readonly url: string;
    /** Stored files by `<package>/<version>/<file>`; tests may alter them to simulate tampering. */
    readonly files: Map<string, Buffer>;
    readonly requests: RecordedRequest[];
    /** When set, every request is answered with this status (after the token check). */
    forceStatus?: number;
    /** Stops the server; calling it again is a no-op. */
    close(): Promise<void>;
}

export interface RegistryOptions {
    readonly token?: string;
    readonly basePath?: string;
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
    const basePath = (opts.basePath ?? "/api/packages/acme/generic").replace(/\/+$/, "");
    const files = new Map<string, Buffer>();
    const requests: RecordedRequest[] = [];

    let registry: Registry;
    const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            const answer = (status: number, body: string | Buffer = "") => {
                requests.push({ method: req.method ?? "", path: req.url ?? "", authorization: req.headers.authorization, status });
                res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain" : "application/octet-stream" });
                res.end(body);
            };
            if (opts.token !== undefined && req.headers.authorization !== `token ${opts.token}`) return answer(401, "unauthorized\n");
            if (registry.forceStatus !== undefined) return answer(registry.forceStatus, "forced\n");
            const url = decodeURIComponent((req.url ?? "").split("?")[0]);
            if (!url.startsWith(basePath + "/")) return answer(404, "not found\n");
            const parts = url.slice(basePath.length + 1).split("/");
            if (parts.length !== 3 || parts.some((p) => p === "")) return answer(404, "not found\n");
            const key = parts.join("/");
            if (req.method === "PUT") {
                if (files.has(key)) return answer(409, "package file already exists\n");
                files.set(key, Buffer.concat(chunks));
                return answer(201);
            }
            if (req.method === "GET") {
                const body = files.get(key);
                return body === undefined ? answer(404, "package does not exist\n") : answer(200, body);
            }
            return answer(405, "method not allowed\n");
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    let closed = false;
    registry = {
        url: `http://127.0.0.1:${port}${basePath}`,
        files,
        requests,
        close: () =>
            new Promise<void>((resolve, reject) => {
                if (closed) return resolve();
                closed = true;
                server.closeAllConnections();
                server.close((e) => (e ? reject(e) : resolve()));
            }),
    };
    return registry;
}
