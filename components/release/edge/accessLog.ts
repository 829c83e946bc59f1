// The access log's receiver (model/edge/accessLog.ts) on the HAProxy host: a constant node
// script, started beside HAProxy, that writes each datagram as one stamped line and rotates
// by size. A second copy exits at once when the port is taken: starting it is idempotent.

import * as dgram from "dgram";
import * as fs from "fs";
import { startDetached } from "../../io/exec";
import { progress } from "../../io/progress";
import type { AccessLogModel } from "../../model/edge/accessLog";

/** Constant: argv after the script is port, file, maxBytes, keep. Nothing from input is evaluated. */
export const RECEIVER_SCRIPT = `"use strict";
const dgram = require("dgram"), fs = require("fs");
const port = Number(process.argv[1]), file = process.argv[2], max = Number(process.argv[3]), keep = Number(process.argv[4]);
let fd, size;
const open = () => { fd = fs.openSync(file, "a", 0o600); size = fs.fstatSync(fd).size; };
const rotate = () => {
  fs.closeSync(fd);
  for (let i = keep - 1; i >= 1; i--) { try { fs.renameSync(file + "." + i, file + "." + (i + 1)); } catch (e) {} }
  fs.renameSync(file, file + ".1");
  open();
};
const s = dgram.createSocket("udp4");
s.on("error", (e) => { if (e.code !== "EADDRINUSE") console.error("bluegreen access log: " + e.message); process.exit(e.code === "EADDRINUSE" ? 0 : 1); });
s.on("message", (m) => {
  const line = new Date().toISOString() + " " + m.toString("utf8").replace(/\\s+$/, "") + "\\n";
  fs.writeSync(fd, line);
  size += Buffer.byteLength(line);
  if (size >= max) rotate();
});
open();
s.bind(port, "127.0.0.1");
`;

/** Pure: the receiver's argv, with `node` as the host has it. */
export function receiverArgv(node: string, m: AccessLogModel): string[] {
    return [node, "-e", RECEIVER_SCRIPT, String(m.port), m.file, String(m.maxBytes), String(m.keep)];
}

/** Whether something holds the UDP port on loopback (the receiver, once started). */
function portTaken(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const s = dgram.createSocket("udp4");
        s.once("error", () => resolve(true));
        s.bind(port, "127.0.0.1", () => s.close(() => resolve(false)));
    });
}

/** Where the host's receiver records its pid, beside its log: a destroy stops it. */
export function receiverPidFile(m: Pick<AccessLogModel, "file">): string {
    return `${m.file}.pid`;
}

/** Host placement: stops the receiver its pid file names, if any. */
export function stopReceiverOnHost(m: Pick<AccessLogModel, "file">): void {
    const pid = Number((fs.existsSync(receiverPidFile(m)) ? fs.readFileSync(receiverPidFile(m), "utf8") : "").trim());
    if (pid > 1) {
        try {
            process.kill(pid, "SIGTERM");
        } catch {
            // already gone
        }
    }
    fs.rmSync(receiverPidFile(m), { force: true });
}

/** Host placement: starts the receiver unless it runs. */
export async function ensureReceiverOnHost(m: AccessLogModel, logFile: string): Promise<void> {
    if (await portTaken(m.port)) return;
    const pid = startDetached(receiverArgv(process.execPath, m), logFile);
    fs.writeFileSync(receiverPidFile(m), `${pid}\n`, { mode: 0o600 });
    progress(`access log: receiver ${pid} on udp 127.0.0.1:${m.port} writes ${m.file} (rotated at ${m.maxBytes} bytes, ${m.keep} kept)`);
}
