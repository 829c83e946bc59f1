// Hooks (seed 004: Kamal's hooks): the operator's commands at fixed moments of an up, each a
// @pulumi/command local.Command. Pure: what a hook gets, and when it runs again.

export const HOOK_NAMES = ["preDeploy", "postDeploy", "preSwitch", "postSwitch", "postRollback"] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** The operation a hook belongs to: BLUEGREEN_OPERATION, as Kamal's KAMAL_COMMAND. */
export type HookOperation = "deploy" | "switch" | "rollback" | "cleanup" | "canary" | "upgrade";

export interface HookContext {
    readonly hook: HookName;
    readonly stack: string;
    readonly operation: HookOperation;
    readonly color: string;
    readonly release: string;
    /** The color traffic goes to: set for switch hooks; a deploy hook reads the serving one when it runs. */
    readonly active?: string;
    /** The deploy lock on the HAProxy host: when this up began, for BLUEGREEN_RUNTIME. */
    readonly lockFile: string;
    /** `[remote:]instance` when the HAProxy host is an Incus instance. */
    readonly lockInstance?: string;
    /** bluegreen:hooks.passEnv: the variables it gets beyond the minimal environment. */
    readonly passEnv?: readonly string[];
}

/** What every hook and broadcast gets of the runner's environment, with BLUEGREEN_* and hooks.passEnv. */
export const BASE_ENV = ["PATH", "HOME", "LANG"] as const;

/** A BLUEGREEN_* name that may hold a secret (BLUEGREEN_ARTIFACT_TOKEN): passed only when listed in hooks.passEnv. */
const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSPHRASE/;

/**
 * Pure: the environment a hook or the broadcast runs with: PATH, HOME, LANG, the BLUEGREEN_*
 * variables and the passEnv names, never the rest of the runner's (the stack passphrase, the
 * artifact token, a forge token). HOOK_SCRIPT applies the same rule in sh.
 */
export function minimalEnv(from: Readonly<Record<string, string | undefined>>, passEnv: readonly string[] = []): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(from)) {
        if (v === undefined) continue;
        const base = (BASE_ENV as readonly string[]).includes(k) || (k.startsWith("BLUEGREEN_") && !SECRET_NAME.test(k));
        if (base || passEnv.includes(k)) out[k] = v;
    }
    return out;
}

/**
 * The interpreter every hook runs under: `/bin/sh -c <this> <hook>`, so the hook is `$0`.
 * Constant text, no input in it. What changes without the hook's triggers changing (the
 * time, the performer, the runtime, the release that served before, and for a deploy hook
 * the serving color) is read when the hook runs, from this machine and the HAProxy host's
 * files, not put in the resource's inputs: an input change would run the hook again, and a
 * no-op up must run nothing. The hook runs under `env -i` with minimalEnv's variables only:
 * the command provider (and the runner) hand the wrapper their whole environment. After the
 * hook it appends a `hook` line to the audit log beside the lock (private: umask 077), and
 * exits with the hook's status.
 */
export const HOOK_SCRIPT = `set -u
export BLUEGREEN_TIME="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
export BLUEGREEN_PERFORMER="\${BLUEGREEN_PERFORMER:-$(id -un 2>/dev/null || echo unknown)}"
lockfile="\${BLUEGREEN_LOCK_FILE:-}"
statedir="\${lockfile%/*}"
inst="\${BLUEGREEN_LOCK_INSTANCE:-}"
readhost() { if [ -n "$inst" ]; then incus file pull "$inst$1" - 2>/dev/null; else cat "$1" 2>/dev/null; fi; }
append() { if [ -n "$inst" ]; then incus exec "$inst" -- sh -c 'umask 077 && cat >> "$1"' sh "$1"; else (umask 077 && cat >> "$1"); fi; }
clean() { printf %s "$1" | tr -d '"\\\\\\n'; }
if [ -n "$lockfile" ]; then
  if [ -z "\${BLUEGREEN_ACTIVE:-}" ]; then a=$(readhost "$statedir/active-color" | head -n 1); if [ -n "$a" ]; then export BLUEGREEN_ACTIVE="$a"; fi; fi
  hist=$(readhost "$statedir/history" | grep -E '^[^ ]+ (blue|green) ' | tail -n 2)
  if [ "\${BLUEGREEN_HOOK:-}" = postSwitch ]; then
    prev=$(if [ "$(printf '%s\\n' "$hist" | grep -c .)" = 2 ]; then printf '%s\\n' "$hist" | head -n 1; fi | awk '{print $3}')
  else
    prev=$(printf '%s\\n' "$hist" | tail -n 1 | awk '{print $3}')
  fi
  if [ -n "$prev" ]; then export BLUEGREEN_PREVIOUS_RELEASE="$prev"; fi
  if [ -n "\${BLUEGREEN_POST:-}" ]; then
    since=$(readhost "$lockfile" | sed -n 's/.*"time": *"\\([^"]*\\)".*/\\1/p' | head -n 1)
    if [ -n "$since" ] && began=$(date -u -d "$since" +%s 2>/dev/null); then export BLUEGREEN_RUNTIME=$(( $(date -u +%s) - began )); fi
  fi
fi
hook="$0"
set -f
set --
for n in PATH HOME LANG $(env | sed -n 's/^\\(BLUEGREEN_[A-Za-z0-9_]*\\)=.*/\\1/p') \${BLUEGREEN_PASS_ENV:-}; do
  case "$n" in ''|[0-9]*|*[!A-Za-z0-9_]*) continue ;; esac
  case " \${BLUEGREEN_PASS_ENV:-} " in *" $n "*) ;; *) case "$n" in BLUEGREEN_*TOKEN*|BLUEGREEN_*SECRET*|BLUEGREEN_*PASSWORD*|BLUEGREEN_*PASSPHRASE*) continue ;; esac ;; esac
  if eval "[ -n \\"\\\${$n+x}\\" ]"; then eval "set -- \\"\\$@\\" \\"$n=\\\${$n}\\""; fi
done
set +f
env -i "$@" /bin/sh -c "$hook"
rc=$?
if [ -n "$lockfile" ]; then
  printf '{"time":"%s","performer":"%s","stack":"%s","operation":"hook","color":"%s","release":"%s","details":{"hook":"%s","operation":"%s","exitCode":%s}}\\n' \\
    "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$(clean "$BLUEGREEN_PERFORMER")" "$(clean "\${BLUEGREEN_STACK:-}")" "$(clean "\${BLUEGREEN_COLOR:-}")" \\
    "$(clean "\${BLUEGREEN_RELEASE:-}")" "$(clean "\${BLUEGREEN_HOOK:-}")" "$(clean "\${BLUEGREEN_OPERATION:-}")" "$rc" | append "$statedir/audit.jsonl" || true
fi
exit $rc
`;

export const HOOK_INTERPRETER: readonly string[] = ["/bin/sh", "-c", HOOK_SCRIPT];

/** Pure: a hook's BLUEGREEN_* variables that are known before it runs (the rest the script sets). */
export function hookEnv(c: HookContext): Record<string, string> {
    return {
        BLUEGREEN_HOOK: c.hook,
        BLUEGREEN_STACK: c.stack,
        BLUEGREEN_OPERATION: c.operation,
        BLUEGREEN_COLOR: c.color,
        BLUEGREEN_RELEASE: c.release,
        ...(c.active ? { BLUEGREEN_ACTIVE: c.active } : {}),
        ...(c.hook.startsWith("post") ? { BLUEGREEN_POST: "1" } : {}),
        BLUEGREEN_LOCK_FILE: c.lockFile,
        ...(c.lockInstance ? { BLUEGREEN_LOCK_INSTANCE: c.lockInstance } : {}),
        ...(c.passEnv?.length ? { BLUEGREEN_PASS_ENV: c.passEnv.join(" ") } : {}),
    };
}

/**
 * Pure: what makes a hook run again: its release, its color, and for a switch hook the
 * active color. A switch is not a deploy, so it does not run the deploy hooks again.
 */
export function hookTriggers(c: Pick<HookContext, "release" | "color" | "active">): string[] {
    return c.active ? [c.release, c.color, c.active] : [c.release, c.color];
}
