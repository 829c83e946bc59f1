// The machine HAProxy runs on: this host (dev) or the `<prefix>haproxy` Incus instance
// (staging/prod). Commands are built for either, then run through the exec seam. What the
// program writes there (the state dir: audit log, lock, canary record, history) is private:
// directories 0700, files 0600, set on every write so a dir an earlier version made is fixed.

import * as fs from "fs";
import * as path from "path";
import { HaproxyHost, haproxyTarget } from "../model/traffic/topology";
import { Cmd, CmdResult, cmdError, runOrThrow, run } from "./exec";
import { execCmd, getInstance, readInstanceFile } from "./incus";
import { writeFileAtomic } from "./tmp";

export type { HaproxyHost } from "../model/traffic/topology";

/** Wraps argv so it runs on the HAProxy host. */
export function onHost(host: HaproxyHost, argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Cmd {
    if (host.placement === "host") return { argv, input: opts.input, timeoutMs: opts.timeoutMs ?? 30_000 };
    return execCmd(haproxyTarget(host), host.instance, argv, opts);
}

export function describeHost(host: HaproxyHost): string {
    return host.placement === "host" ? "this host" : `instance ${host.remote ? host.remote + ":" : ""}${host.instance}`;
}

/** The HAProxy host's state: this host is always "Running"; an instance may be absent or stopped. */
export async function hostState(host: HaproxyHost): Promise<"absent" | string> {
    if (host.placement === "host") return "Running";
    const inst = await getInstance(haproxyTarget(host), host.instance);
    return inst === undefined ? "absent" : inst.status;
}

/**
 * Whether a haproxy process runs from `configPath` on the HAProxy host; undefined when that
 * cannot be told. This host: its processes' argv (`haproxy ... -f <configPath>`). An instance:
 * `busybox pgrep -x haproxy`, by exit code (Incus may drop exec output, never the code).
 */
export async function haproxyRuns(host: HaproxyHost, configPath: string): Promise<boolean | undefined> {
    if (host.placement === "incus") {
        const r = await run(onHost(host, ["busybox", "pgrep", "-x", "haproxy"]));
        return r.code === 0 ? true : r.code === 1 ? false : undefined;
    }
    let pids: string[];
    try {
        pids = fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d));
    } catch {
        return undefined;
    }
    return pids.some((pid) => {
        let argv: string[];
        try {
            argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        } catch {
            return false; // gone meanwhile
        }
        const f = argv.indexOf("-f");
        return path.basename(argv[0] ?? "") === "haproxy" && f > 0 && argv[f + 1] === configPath;
    });
}

/**
 * `haproxy -c -f file` on the HAProxy host. A failure with no output at all is asked
 * again once: Incus can drop exec output, and the caller reports HAProxy's reason.
 */
export async function validateConfig(host: HaproxyHost, file: string): Promise<CmdResult> {
    const cmd = onHost(host, ["haproxy", "-c", "-f", file]);
    const r = await run(cmd);
    if (r.code === 0 || r.stdout.trim() || r.stderr.trim() || host.placement === "host") return r;
    return run(cmd);
}

/**
 * Writes `file` (as writeHostFile), then `haproxy -c -f file`: HAProxy's verdict. On an instance
 * in one exec (VALIDATE_SCRIPT): a switch's candidate costs one round trip. A failed write
 * throws (exit 125), never passes for HAProxy's verdict; a failure with no output at all is
 * asked again once, as validateConfig does.
 */
export async function writeAndValidate(host: HaproxyHost, file: string, content: string): Promise<CmdResult> {
    if (host.placement === "host") {
        await writeHostFile(host, file, content);
        return validateConfig(host, file);
    }
    const cmd = onHost(host, ["sh", "-c", VALIDATE_SCRIPT, "sh", file, `${process.pid}`, `${Buffer.byteLength(content)}`], { input: content });
    let r = await run(cmd);
    if (r.code !== 0 && r.code !== WRITE_FAILED && !r.stdout.trim() && !r.stderr.trim()) r = await run(cmd);
    if (r.code === WRITE_FAILED) throw cmdError(cmd, r, `cannot write ${file} on ${describeHost(host)}`);
    return r;
}

/** VALIDATE_SCRIPT's exit code when the write failed (haproxy exits 0, 1 or 2). */
const WRITE_FAILED = 125;

/** Reads a file on the HAProxy host; undefined when it does not exist. */
export async function readHostFile(host: HaproxyHost, file: string): Promise<string | undefined> {
    if (host.placement === "host") {
        try {
            return fs.readFileSync(file, "utf8");
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
            throw e;
        }
    }
    return readInstanceFile(haproxyTarget(host), host.instance, file);
}

/** Owner-only modes for what the program keeps on the HAProxy host. */
const PRIVATE_DIR = 0o700;
const PRIVATE_FILE = 0o600;

/** Makes `dir` (and any parent it creates) private on this host; fixes one left world-readable. */
function privateDir(dir: string): void {
    fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
    if ((fs.statSync(dir).mode & 0o777) !== PRIVATE_DIR) fs.chmodSync(dir, PRIVATE_DIR);
}

/** Replaces a file atomically: write a temp file beside it, then rename over it. */
export async function writeHostFile(host: HaproxyHost, file: string, content: string): Promise<void> {
    if (host.placement === "host") {
        privateDir(path.dirname(file));
        writeFileAtomic(file, content, PRIVATE_FILE);
        return;
    }
    // One exec (one round trip over a remote), not a push and a rename: Incus keeps exec's stdin and exit code.
    await runOrThrow(
        onHost(host, ["sh", "-c", WRITE_SCRIPT, "sh", file, `${process.pid}`, `${Buffer.byteLength(content)}`], { input: content }),
        `cannot write ${file} on ${describeHost(host)}`,
    );
}

/**
 * Writes `file` (as writeHostFile), then renames `from` over `to`; the rename only once the
 * write is done. On an instance both in one exec: a switch keeps `.bak` and swaps its
 * candidate in with one round trip.
 */
export async function writeHostFileThenRename(host: HaproxyHost, file: string, content: string, from: string, to: string): Promise<void> {
    if (host.placement === "host") {
        await writeHostFile(host, file, content);
        await renameHostFile(host, from, to);
        return;
    }
    await runOrThrow(
        onHost(host, ["sh", "-c", WRITE_SCRIPT, "sh", file, `${process.pid}`, `${Buffer.byteLength(content)}`, from, to], { input: content }),
        `cannot write ${file}, then rename ${from} to ${to}, on ${describeHost(host)}`,
    );
}

/**
 * Replaces the file `$1` inside an instance with stdin: a 0600 temp file beside it (`$1.tmp-$2`),
 * renamed over it only when it holds exactly `$3` bytes; then, given `$4` and `$5`, `$4` renamed
 * over `$5`. Constant text: the files are arguments.
 */
export const WRITE_SCRIPT =
    'd=$(dirname -- "$1") && mkdir -p -- "$d" && t="$1.tmp-$2" && (umask 077 && cat > "$t") && chmod 600 -- "$t" && ' +
    '[ "$(wc -c < "$t")" -eq "$3" ] && mv -f -- "$t" "$1" && { [ "$#" -lt 5 ] || mv -f -- "$4" "$5"; } || { rm -f -- "$t"; exit 1; }';

/** WRITE_SCRIPT's write of `$1`, then `haproxy -c -f "$1"`; exit 125 (and no haproxy) when the write failed. */
export const VALIDATE_SCRIPT = `( ${WRITE_SCRIPT} ) || { echo "bluegreen: cannot write $1" >&2; exit 125; }; exec haproxy -c -f "$1"`;

/**
 * Appends stdin to the file `$1` inside an instance, its dir 0700 and the file 0600, in one
 * exec. Constant text: the file is an argument, never part of the script.
 */
export const APPEND_SCRIPT = 'umask 077 && d=$(dirname -- "$1") && mkdir -p -- "$d" && chmod 700 -- "$d" && cat >> "$1" && chmod 600 -- "$1"';

/** Appends with one write (O_APPEND), so concurrent writers never interleave. */
export async function appendHostFile(host: HaproxyHost, file: string, line: string): Promise<void> {
    if (host.placement === "host") {
        privateDir(path.dirname(file));
        const fd = fs.openSync(file, "a", PRIVATE_FILE);
        try {
            fs.fchmodSync(fd, PRIVATE_FILE);
            fs.writeSync(fd, line);
        } finally {
            fs.closeSync(fd);
        }
        return;
    }
    await runOrThrow(onHost(host, ["sh", "-c", APPEND_SCRIPT, "sh", file], { input: line }), `cannot append to ${file} on ${describeHost(host)}`);
}

/**
 * Creates a file with its whole content only if it does not exist: written beside it, then
 * hard-linked into place (link(2) fails if the name exists). True when this call made it.
 */
export async function createHostFileExclusive(host: HaproxyHost, file: string, content: string): Promise<boolean> {
    const tmp = `${file}.new-${process.pid}-${Date.now()}`;
    if (host.placement === "host") {
        privateDir(path.dirname(file));
        fs.writeFileSync(tmp, content, { mode: PRIVATE_FILE });
        try {
            fs.linkSync(tmp, file);
            return true;
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
            throw e;
        } finally {
            fs.rmSync(tmp, { force: true });
        }
    }
    // One exec (one round trip over a remote; the lock is taken this way before every up's first step).
    const r = await run(onHost(host, ["sh", "-c", CREATE_SCRIPT, "sh", file, `${process.pid}`, `${Buffer.byteLength(content)}`], { input: content }));
    if (r.code === 0) return true;
    if (r.code === CREATE_EXISTS) return false;
    throw new Error(`cannot create ${file} on ${describeHost(host)}: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}`);
}

/** CREATE_SCRIPT's exit code when the file was already there (EEXIST). */
export const CREATE_EXISTS = 17;

/**
 * Creates the file `$1` inside an instance from stdin only if it does not exist: a 0600 temp
 * file beside it (`$1.new-$2`) holding exactly `$3` bytes, hard-linked into place (ln fails
 * if the name exists), then removed. Exit 0: made; 17: already there; else an error.
 */
export const CREATE_SCRIPT =
    'd=$(dirname -- "$1") && mkdir -p -- "$d" && t="$1.new-$2" && (umask 077 && cat > "$t") && chmod 600 -- "$t" && ' +
    '[ "$(wc -c < "$t")" -eq "$3" ] || { rm -f -- "$t"; exit 1; }; ' +
    'if ln -- "$t" "$1" 2>/dev/null; then rm -f -- "$t"; exit 0; fi; rm -f -- "$t"; [ -e "$1" ] && exit 17; exit 1';

/** Whether a file or directory exists on the HAProxy host (an instance: `test -e`, by exit code). */
export async function hostPathExists(host: HaproxyHost, file: string): Promise<boolean> {
    if (host.placement === "host") return fs.existsSync(file);
    const r = await run(onHost(host, ["test", "-e", file]));
    if (r.code === 0 || r.code === 1) return r.code === 0;
    throw new Error(`cannot tell whether ${file} exists on ${describeHost(host)}: ${(r.stderr || r.stdout).trim()}`);
}

/** Renames a file on the HAProxy host (atomic); false when `from` does not exist, so two callers never both move it. */
export async function moveHostFile(host: HaproxyHost, from: string, to: string): Promise<boolean> {
    if (host.placement === "host") {
        try {
            fs.renameSync(from, to);
            return true;
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
            throw e;
        }
    }
    const r = await run(onHost(host, ["mv", "-f", "--", from, to]));
    if (r.code === 0) return true;
    if ((await readHostFile(host, from)) === undefined) return false;
    throw new Error(`cannot rename ${from} on ${describeHost(host)}: ${(r.stderr || r.stdout).trim()}`);
}

/** Hard-links `from` to `to` only if `to` does not exist (link(2) fails then); true when this call made it. */
export async function linkHostFileExclusive(host: HaproxyHost, from: string, to: string): Promise<boolean> {
    if (host.placement === "host") {
        try {
            fs.linkSync(from, to);
            return true;
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
            throw e;
        }
    }
    const r = await run(onHost(host, ["ln", "--", from, to]));
    if (r.code === 0) return true;
    if ((await readHostFile(host, to)) !== undefined) return false;
    throw new Error(`cannot link ${to} on ${describeHost(host)}: ${(r.stderr || r.stdout).trim()}`);
}

/** Renames a file on the HAProxy host; atomic within one filesystem. */
export async function renameHostFile(host: HaproxyHost, from: string, to: string): Promise<void> {
    if (host.placement === "host") {
        fs.renameSync(from, to);
        return;
    }
    await runOrThrow(onHost(host, ["mv", "-f", "--", from, to]), `cannot rename ${from} on ${describeHost(host)}`);
}

export async function removeHostFile(host: HaproxyHost, file: string): Promise<void> {
    if (host.placement === "host") {
        fs.rmSync(file, { force: true });
        return;
    }
    await runOrThrow(onHost(host, ["rm", "-f", "--", file]), `cannot remove ${file} on ${describeHost(host)}`);
}
