// A unix socket that talks like HAProxy's CLI in non-interactive mode: one line in,
// the answer, then it closes. For unit tests of code that talks to the admin socket.

import * as net from "net";

export interface CliSocket {
    /** Every command line received, newline included. */
    readonly received: string[];
    close(): Promise<void>;
}

export async function haproxyCliSocket(path: string, answer: (line: string) => string): Promise<CliSocket> {
    const received: string[] = [];
    const server = net.createServer((c) => {
        let buf = "";
        c.on("data", (b) => {
            buf += b.toString();
            if (buf.endsWith("\n")) {
                received.push(buf);
                c.end(answer(buf.trim()));
            }
        });
    });
    await new Promise<void>((r) => server.listen(path, r));
    return { received, close: () => new Promise<void>((r) => server.close(() => r())) };
}
