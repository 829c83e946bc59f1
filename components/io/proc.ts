// What this process can tell about processes from /proc: who it is (machine, boot, pid
// namespace) and whether a pid is still the process that had it (its start time).

import * as fs from "fs";
import * as os from "os";
import type { ProcessSpace } from "../model/safety/lock";

function read(file: string): string | undefined {
    try {
        return fs.readFileSync(file, "utf8").trim();
    } catch {
        return undefined;
    }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); undefined when no live process has the pid (a zombie is gone). */
export function processStartTime(pid: number): string | undefined {
    const stat = read(`/proc/${pid}/stat`);
    if (stat === undefined) return undefined;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (/^[ZX]$/.test(fields[0] ?? "")) return undefined;
    return fields[22 - 3];
}

/** This process's machine, boot and pid namespace, and the start time of any pid in it. */
export function thisProcessSpace(): ProcessSpace {
    let ns: string | undefined;
    try {
        ns = fs.readlinkSync("/proc/self/ns/pid");
    } catch {
        ns = undefined;
    }
    return { hostname: os.hostname(), bootId: read("/proc/sys/kernel/random/boot_id"), pidNamespace: ns, startTime: processStartTime };
}
