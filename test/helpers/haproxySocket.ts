// A unix socket that talks like HAProxy's CLI in non-interactive mode: it answers the
// first line of `; `-separated commands, each answer followed by an empty line, then
// it closes (later lines, such as `quit`, are ignored). `show version` answers like HAProxy 2.6. For unit tests of code that
// talks to the admin or master socket.

import * as net from "net";

export const VERSION = "2.6.12-1+deb12u4";

export interface CliSocket {
    /** Everything received per connection, newlines included. */
    readonly received: string[];
    close(): Promise<void>;
}

/** `answer` gets one command at a time and returns its output (newline-terminated, or ""). */
export async function haproxyCliSocket(path: string, answer: (command: string) => string): Promise<CliSocket> {
    const received: string[] = [];
    const server = net.createServer((c) => {
        let buf = "";
        c.on("data", (b) => {
            buf += b.toString();
            if (!buf.endsWith("\n")) return;
            received.push(buf);
            const out = buf
                .split("\n")[0]
                .trim()
                .split(/;\s*/)
                .map((cmd) => `${cmd === "show version" ? `${VERSION}\n` : answer(cmd)}\n`)
                .join("");
            c.end(out);
        });
    });
    await new Promise<void>((r) => server.listen(path, r));
    return { received, close: () => new Promise<void>((r) => server.close(() => r())) };
}
