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
}

/**
 * The interpreter every hook runs under: `/bin/sh -c <this> <hook>`, so the hook is `$0`.
 * Constant text, no input in it. What changes without the hook's triggers changing (the
 * time, the performer, the runtime, the release that served before, and for a deploy hook
 * the serving color) is read when the hook runs, from this machine and the HAProxy host's
 * files, not put in the resource's inputs: an input change would run the hook again, and a
 * no-op up must run nothing. After the hook it appends a `hook` line to the audit log beside
 * the lock, and exits with the hook's status.
 */
export const HOOK_SCRIPT = `set -u
export BLUEGREEN_TIME="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
export BLUEGREEN_PERFORMER="\${BLUEGREEN_PERFORMER:-$(id -un 2>/dev/null || echo unknown)}"
lockfile="\${BLUEGREEN_LOCK_FILE:-}"
statedir="\${lockfile%/*}"
inst="\${BLUEGREEN_LOCK_INSTANCE:-}"
readhost() { if [ -n "$inst" ]; then incus file pull "$inst$1" - 2>/dev/null; else cat "$1" 2>/dev/null; fi; }
append() { if [ -n "$inst" ]; then incus exec "$inst" -- tee -a "$1" >/dev/null; else tee -a "$1" >/dev/null; fi; }
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
/bin/sh -c "$0"
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
    };
}

/**
 * Pure: what makes a hook run again: its release, its color, and for a switch hook the
 * active color. A switch is not a deploy, so it does not run the deploy hooks again.
 */
export function hookTriggers(c: Pick<HookContext, "release" | "color" | "active">): string[] {
    return c.active ? [c.release, c.color, c.active] : [c.release, c.color];
}
