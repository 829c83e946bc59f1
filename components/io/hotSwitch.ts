// The switch over an Incus remote in two execs into the HAProxy instance: one read of
// everything the decision needs (master CLI, servers state, the config, the active color,
// the releases map), then, once decided, one flip (or the flip alone, guarded, when decided
// on the state the last run left): write and validate the candidate, wait
// for HAProxy's own checks to see the target UP, check the live config is the one read,
// keep `.bak`, swap, and send the runtime API commands. Constant scripts; the files,
// sockets and commands are arguments, the candidate and the map come on stdin. Incus may
// lose an exec's output, never its exit code: the flip's verdict is its exit code.

import { createHash } from "crypto";
import { Cmd, run } from "./exec";
import { execCmd } from "./incus";
import { EXEC_SENTINEL, parseSentinel } from "./runtimeApi";
import { IncusTarget } from "../model/traffic/topology";
import { sleep } from "./poll";

/** Heads each part of the read script's output: `<marker> <rc|-> <bytes>`. */
export const PART_MARKER = "__bluegreen_part";

/**
 * Constant: `$1` master socket, `$2` admin socket, then files. Prints `show proc`, then
 * `show servers state; show version`, then each file (`-` when absent), each framed by its
 * byte count; then the sentinel.
 */
export const READ_SCRIPT =
    't=$(mktemp) || exit 1; part() { printf "%s %s %s\\n" ' +
    PART_MARKER +
    ' "$1" "$(wc -c < "$t")"; cat -- "$t"; echo; }; ' +
    'printf "show proc\\nquit\\n" | socat -t 10 - "UNIX-CONNECT:$1" > "$t" 2>/dev/null; part $?; ' +
    'printf "show servers state; show version\\nquit\\n" | socat -t 10 - "UNIX-CONNECT:$2" > "$t" 2>/dev/null; part $?; ' +
    "shift 2; " +
    'for f in "$@"; do if [ -e "$f" ]; then cat -- "$f" > "$t"; part $?; else : > "$t"; part -; fi; done; ' +
    `rm -f -- "$t"; echo "${EXEC_SENTINEL} 0"`;

export interface ReadPart {
    /** The producer's exit code; undefined for a file that does not exist. */
    readonly rc?: number;
    readonly text: string;
}

/** Pure: the read script's parts, or undefined when the output is not whole (Incus lost some). */
export function parseParts(stdout: string, count: number): ReadPart[] | undefined {
    const s = parseSentinel(stdout);
    if (!s || s.code !== 0) return undefined;
    // The sentinel took the last part's closing newline.
    const buf = Buffer.from(`${s.body}\n`, "utf8");
    const parts: ReadPart[] = [];
    let at = 0;
    while (at < buf.length) {
        const eol = buf.indexOf(10, at);
        if (eol < 0) return undefined;
        const m = new RegExp(`^${PART_MARKER} (-|\\d+) (\\d+)$`).exec(buf.subarray(at, eol).toString("utf8"));
        if (!m) return undefined;
        const end = eol + 1 + Number(m[2]);
        if (end >= buf.length || buf[end] !== 10) return undefined;
        parts.push({ ...(m[1] === "-" ? {} : { rc: Number(m[1]) }), text: buf.subarray(eol + 1, end).toString("utf8") });
        at = end + 1;
    }
    return parts.length === count ? parts : undefined;
}

/** Pure: the read exec. */
export function readCmd(target: IncusTarget, instance: string, sockets: { master: string; admin: string }, files: readonly string[]): Cmd {
    return execCmd(target, instance, ["sh", "-c", READ_SCRIPT, "sh", sockets.master, sockets.admin, ...files], { timeoutMs: 40_000 });
}

/** One exec; asked again (up to 3 times: it only reads) while its output comes back lost. Undefined when it never came whole. */
export async function readAll(
    target: IncusTarget,
    instance: string,
    sockets: { master: string; admin: string },
    files: readonly string[],
): Promise<{ proc: ReadPart; state: ReadPart; files: ReadPart[] } | undefined> {
    for (let attempt = 1; attempt <= 3; attempt++) {
        const r = await run(readCmd(target, instance, sockets, files));
        const parts = r.code === 0 ? parseParts(r.stdout, files.length + 2) : undefined;
        if (parts) return { proc: parts[0], state: parts[1], files: parts.slice(2) };
        if (r.timedOut) return undefined;
        await sleep(50 * attempt);
    }
    return undefined;
}

/** The flip script's exit codes: each names how far it got. */
export const FLIP = {
    ok: 0,
    /** Nothing swapped. */
    candidateWrite: 101,
    mapWrite: 102,
    rejected: 103,
    notUp: 104,
    changed: 105,
    swap: 106,
    /** The candidate is live; the runtime API refused or did not answer. */
    runtime: 107,
    /** Guarded: the live state is not the one the decision assumed. Nothing written. */
    differs: 108,
} as const;

/**
 * Constant. `$1` config, `$2` temp suffix, `$3` candidate bytes, `$4` releases map, `$5` its
 * bytes or `-` (left as is), `$6` the sha256 the live config must still have (`-`: absent),
 * `$7` `bak` to keep the live config as `.bak`, `$8` admin socket, `$9` tries (100 ms apart)
 * for HAProxy's checks to see `${10}` (`backend/server ...`) running and ready, `${11}`
 * runtime commands (`;`-separated; empty: none), `${12}` the guard (`-`: none): the servers
 * of the component backends as `backend/server:admin_state:0|1` (1: a weight), all of them and
 * nothing else, and `${13}` the releases map's sha256 (`-`: absent); with a guard the config
 * must have `$6` too. Stdin: the candidate, then the map.
 */
export const FLIP_SCRIPT =
    'c=$1; n="$1.new"; t="$1.new.tmp-$2"; umask 077; ' +
    `fail() { rm -f -- "$t" "$t.w" "$t.m" "$n"; echo; echo "${EXEC_SENTINEL} $1"; exit "$1"; }; ` +
    'if [ "${12}" != - ]; then ' +
    'printf "show servers state\\nquit\\n" | socat -t 10 - "UNIX-CONNECT:$8" > "$t" 2>/dev/null || fail 108; ' +
    'awk -v want="${12}" \'BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) { e[w[i]] = 1; split(w[i], p, "/"); b[p[1]] = 1 } } ' +
    '/^[0-9]/ && NF >= 8 && ($2 in b) { if (!(($2 "/" $4 ":" $7 ":" ($8 > 0 ? 1 : 0)) in e)) bad = 1; seen++ } END { exit (bad || seen != n) }\' "$t" || ' +
    '{ echo "HAProxy\'s servers are not as expected"; fail 108; }; ' +
    'h=-; [ -e "$c" ] && { h=$(sha256sum < "$c" | cut -d " " -f 1) || fail 108; }; [ "$h" = "$6" ] || { echo "$c is not as expected"; fail 108; }; ' +
    'h=-; [ -e "$4" ] && { h=$(sha256sum < "$4" | cut -d " " -f 1) || fail 108; }; [ "$h" = "${13}" ] || { echo "$4 is not as expected"; fail 108; }; fi; ' +
    'mkdir -p -- "$(dirname -- "$c")" && head -c "$3" > "$t" && [ "$(wc -c < "$t")" -eq "$3" ] && mv -f -- "$t" "$n" || fail 101; ' +
    'if [ "$5" != - ]; then mkdir -p -- "$(dirname -- "$4")" && head -c "$5" > "$t.m" && [ "$(wc -c < "$t.m")" -eq "$5" ] && ' +
    'chmod 600 -- "$t.m" && mv -f -- "$t.m" "$4" || fail 102; fi; ' +
    'haproxy -c -f "$n" 2>&1 || fail 103; ' +
    'k=0; while [ "$k" -lt "$9" ]; do ' +
    'printf "show servers state\\nquit\\n" | socat -t 10 - "UNIX-CONNECT:$8" > "$t" 2>/dev/null && ' +
    'awk -v want="${10}" \'BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) need[w[i]] = 1 } ' +
    '/^[0-9]/ && NF >= 8 && $6 == 2 && $7 == 0 { delete need[$2 "/" $4] } ' +
    'END { for (s in need) { print "not running and ready: " s; bad = 1 } exit bad }\' "$t" > "$t.w" && break; ' +
    'k=$((k + 1)); [ "$k" -ge "$9" ] && { cat -- "$t.w" 2>/dev/null; fail 104; }; sleep 0.1; done; ' +
    'h=-; [ -e "$c" ] && { h=$(sha256sum < "$c" | cut -d " " -f 1) || fail 105; }; [ "$h" = "$6" ] || { echo "$c changed since it was read"; fail 105; }; ' +
    'if [ "$7" = bak ]; then cp -- "$c" "$t" && chmod 600 -- "$t" && mv -f -- "$t" "$c.bak" || fail 106; fi; ' +
    'mv -f -- "$n" "$c" || fail 106; ' +
    'if [ -n "${11}" ]; then k=0; while :; do ' +
    'printf "%s; show version\\nquit\\n" "${11}" | socat -t 10 - "UNIX-CONNECT:$8" > "$t" 2>&1 && ' +
    'awk \'{ l = tolower($0); sub(/^[ \\t]+/, "", l) } l ~ /^(no such|unknown command|require|invalid|backend is)/ || l ~ /not found/ { bad = 1 } ' +
    'NF { last = $0 } END { exit (bad || last !~ /^[0-9]+\\.[0-9]+/) }\' "$t" && break; ' +
    'k=$((k + 1)); [ "$k" -ge 3 ] && { cat -- "$t"; fail 107; }; sleep 0.05; done; cat -- "$t"; fi; ' +
    `rm -f -- "$t" "$t.w"; echo; echo "${EXEC_SENTINEL} 0"`;

export interface FlipSpec {
    readonly target: IncusTarget;
    readonly instance: string;
    readonly configPath: string;
    readonly candidate: string;
    readonly mapFile: string;
    /** The map's new text; undefined: it stays as it is. */
    readonly map?: string;
    /** The live config as read before the decision; undefined: absent. */
    readonly live?: string;
    /** Keep the live config as `.bak`. */
    readonly bak: boolean;
    readonly adminSocket: string;
    /** Servers (`backend/server`) HAProxy's checks must see running and ready before the swap; none: no wait. */
    readonly waitFor: readonly string[];
    readonly settleMs: number;
    /** Runtime API commands once swapped; none: the caller reloads. */
    readonly commands: readonly string[];
    /**
     * A flip decided on the state the last run left, not on a read: the script checks it first
     * (`live` as the config, `mapHad` as the map, the servers with their admin states and which
     * have a weight) and exits `differs`, nothing written, when it is not that.
     */
    readonly guard?: { readonly servers: readonly { backend: string; server: string; adminState: number; weight: number }[]; readonly mapHad?: string };
}

/** Pure: a guarded server as the flip script compares it. */
export function guardToken(s: { backend: string; server: string; adminState: number; weight: number }): string {
    return `${s.backend}/${s.server}:${s.adminState}:${s.weight > 0 ? 1 : 0}`;
}

export function sha256(text: string): string {
    return createHash("sha256").update(text, "utf8").digest("hex");
}

/** Pure: the flip exec. */
export function flipCmd(f: FlipSpec): Cmd {
    const bytes = (s: string) => `${Buffer.byteLength(s)}`;
    const tries = f.waitFor.length > 0 ? Math.max(1, Math.ceil(f.settleMs / 100)) : 0;
    return execCmd(
        f.target,
        f.instance,
        [
            "sh",
            "-c",
            FLIP_SCRIPT,
            "sh",
            f.configPath,
            `${process.pid}`,
            bytes(f.candidate),
            f.mapFile,
            f.map === undefined ? "-" : bytes(f.map),
            f.live === undefined ? "-" : sha256(f.live),
            f.bak ? "bak" : "-",
            f.adminSocket,
            `${tries}`,
            f.waitFor.join(" "),
            f.commands.join("; "),
            f.guard ? f.guard.servers.map(guardToken).join(" ") : "-",
            f.guard?.mapHad === undefined ? "-" : sha256(f.guard.mapHad),
        ],
        // Room for the wait on HAProxy's checks and Incus's own round trip.
        { input: f.candidate + (f.map ?? ""), timeoutMs: f.settleMs + 45_000 },
    );
}

export interface FlipResult {
    readonly code: number;
    /** What the script printed (haproxy -c's reason, the servers not up, the runtime API's answer); undefined when Incus lost it. */
    readonly output?: string;
    readonly stderr: string;
    readonly timedOut?: boolean;
}

/** Runs the flip once: never asked again, as its writes are not all idempotent. */
export async function flip(f: FlipSpec): Promise<FlipResult> {
    const r = await run(flipCmd(f));
    const s = parseSentinel(r.stdout);
    return { code: r.code, ...(s ? { output: s.body.trim() } : {}), stderr: r.stderr.trim(), ...(r.timedOut ? { timedOut: true } : {}) };
}
