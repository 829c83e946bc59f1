// The access log's receiver (model/edge/accessLog.ts) on the HAProxy host: a constant node
// script, started beside HAProxy, that writes each datagram as one stamped line and rotates
// by size. A second copy exits at once when the port is taken: starting it is idempotent.
// In an HAProxy instance, a constant supervisor script starts it and restarts it if it dies.

import * as dgram from "dgram";
import * as fs from "fs";
import * as path from "path";
import { Cmd, runOrThrow, startDetached } from "../../io/exec";
import { IncusTarget, execCmd, filePushCmd, runIdempotentOrThrow } from "../../io/incus";
import { withTempDir } from "../../io/tmp";
import { progress } from "../../io/progress";
import type { AccessLogModel } from "../../model/edge/accessLog";

/**
 * Constant: its arguments are port, file, maxBytes, keep (after \`-e\`), or one JSON file of
 * \`{ port, file, maxBytes, keep }\` (run as a file). Nothing from input is evaluated.
 */
export const RECEIVER_SCRIPT = `"use strict";
const dgram = require("dgram"), fs = require("fs");
const conf = process.argv.length === 3 ? JSON.parse(fs.readFileSync(process.argv[2], "utf8")) : null;
const port = Number(conf ? conf.port : process.argv[1]), file = conf ? conf.file : process.argv[2];
const max = Number(conf ? conf.maxBytes : process.argv[3]), keep = Number(conf ? conf.keep : process.argv[4]);
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
s.bind(port, "127.0.0.1", () => { if (conf && conf.pidFile) fs.writeFileSync(conf.pidFile, process.pid + "\\n"); });
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

/** Host placement: whether the receiver holds its port (a dead one is started again by the next up). */
export function receiverAliveOnHost(m: Pick<AccessLogModel, "port">): Promise<boolean> {
    return portTaken(m.port);
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

/** In an HAProxy instance: the receiver, its settings, and the script that supervises it. */
export const INSTANCE_RECEIVER = {
    script: "/opt/bluegreen/accesslog.js",
    conf: "/opt/bluegreen/accesslog.json",
    /** Written by the receiver once it holds the port: only the one that runs. */
    pid: "/opt/bluegreen/accesslog.pid",
    supervisor: "/opt/bluegreen/accesslog.sh",
} as const;

/**
 * Constant. No argument: starts itself detached (so \`incus exec\` returns at once) unless the
 * settings are gone. \`run\`: the receiver, again after a crash; its exit 0 (the port is another
 * receiver's) ends the loop, so starting it twice leaves one. \`stop\`: no more receiver.
 */
export const INSTANCE_SUPERVISOR_SCRIPT = `#!/bin/sh
JS=${INSTANCE_RECEIVER.script}; CONF=${INSTANCE_RECEIVER.conf}; PID=${INSTANCE_RECEIVER.pid}
case "$1" in
  run) until node "$JS" "$CONF"; do [ -f "$CONF" ] || exit 0; sleep 1; done ;;
  stop) rm -f "$CONF"; [ -f "$PID" ] && kill "$(cat "$PID")" 2>/dev/null; rm -f "$PID"; exit 0 ;;
  *) [ -f "$CONF" ] && setsid -f sh "$0" run </dev/null >/dev/null 2>&1; exit 0 ;;
esac
`;

/** Pure: the receiver's settings file in an instance. */
export function receiverConf(m: AccessLogModel): string {
    return JSON.stringify({ port: m.port, file: m.file, maxBytes: m.maxBytes, keep: m.keep, pidFile: INSTANCE_RECEIVER.pid }) + "\n";
}

/** Pure: the exec that starts (or stops) the instance's receiver. */
export function supervisorCmd(target: IncusTarget, instance: string, verb?: "stop"): Cmd {
    return execCmd(target, instance, ["sh", INSTANCE_RECEIVER.supervisor, ...(verb ? [verb] : [])]);
}

/** Incus placement: installs the receiver and starts it unless it runs; before HAProxy's start script, which starts it too. */
export async function ensureReceiverInInstance(target: IncusTarget, instance: string, m: AccessLogModel): Promise<void> {
    await withTempDir(async (dir) => {
        const files: [string, string, string, string][] = [
            ["accesslog.js", RECEIVER_SCRIPT, INSTANCE_RECEIVER.script, "0644"],
            ["accesslog.sh", INSTANCE_SUPERVISOR_SCRIPT, INSTANCE_RECEIVER.supervisor, "0755"],
            ["accesslog.json", receiverConf(m), INSTANCE_RECEIVER.conf, "0600"],
        ];
        for (const [local, text, remote, mode] of files) {
            const file = path.join(dir, local);
            fs.writeFileSync(file, text, { mode: 0o600 });
            await runIdempotentOrThrow(filePushCmd(target, instance, file, remote, mode), `cannot install the access-log receiver in ${instance}`);
        }
    });
    await runOrThrow(supervisorCmd(target, instance), `cannot start the access-log receiver in ${instance}`);
    progress(`access log: receiver on udp 127.0.0.1:${m.port} in ${instance} writes ${m.file} (rotated at ${m.maxBytes} bytes, ${m.keep} kept)`);
}

/** Incus placement: the access log was turned off. */
export async function stopReceiverInInstance(target: IncusTarget, instance: string): Promise<void> {
    await runOrThrow(supervisorCmd(target, instance, "stop"), `cannot stop the access-log receiver in ${instance}`);
}
