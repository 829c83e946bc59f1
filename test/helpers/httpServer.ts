// A throwaway HTTP server on 127.0.0.1, port 0 (the kernel picks a free port),
// for tests of code that probes HTTP endpoints.

import * as http from "http";
import type { AddressInfo } from "net";

export interface TestServer {
    readonly port: number;
    /** `http://127.0.0.1:<port><path>` */
    url(path?: string): string;
    /** Request paths in arrival order. */
    readonly requests: string[];
    close(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;

/** Starts a server; `handler` gets the 1-based number of the request. Port 0: the kernel picks one. */
export async function startServer(handler: Handler, port = 0): Promise<TestServer> {
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
        requests.push(req.url ?? "");
        handler(req, res, requests.length);
    });
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", resolve);
    });
    const bound = (server.address() as AddressInfo).port;
    return {
        port: bound,
        url: (path = "/") => `http://127.0.0.1:${bound}${path}`,
        requests,
        close: () =>
            new Promise<void>((resolve) => {
                server.closeAllConnections();
                server.close(() => resolve());
            }),
    };
}

/** Answers with `status`, optional headers and body. */
export function reply(status: number, headers: Record<string, string> = {}, body = ""): Handler {
    return (_req, res) => {
        res.writeHead(status, { "content-type": "text/plain", ...headers });
        res.end(body);
    };
}

/** A loopback port with nothing listening on it (connections are refused). */
export async function closedPort(): Promise<number> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
}
