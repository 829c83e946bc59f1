// The audit log's lines and the environment a broadcast (and a hook) gets. Pure.
// One JSON object per line in <stateDir>/audit.jsonl on the HAProxy host.

/** What happened; a hook's operation is one of the first six (Kamal's KAMAL_COMMAND). */
export const OPERATIONS = [
    "deploy",
    "switch",
    "rollback",
    "cleanup",
    "canary",
    "upgrade",
    "snapshot",
    "restore",
    "hook",
    "lock",
    "maintenance",
    "rollout",
] as const;
export type Operation = (typeof OPERATIONS)[number];

export interface AuditEvent {
    /** UTC ISO 8601. */
    readonly time: string;
    readonly performer: string;
    readonly stack: string;
    readonly operation: Operation;
    readonly color?: string;
    readonly release?: string;
    /** What the operation did, in a few fields (never a secret: inputs carry none). */
    readonly details: Readonly<Record<string, string | number | boolean>>;
}

/** Pure: one line of audit.jsonl. Newlines inside values are escaped by JSON, so a line is a line. */
export function auditLine(e: AuditEvent): string {
    return JSON.stringify(e) + "\n";
}

/** Pure: the last `n` events of an audit file, oldest first; unreadable lines are skipped. */
export function parseAudit(text: string | undefined, n: number): AuditEvent[] {
    const out: AuditEvent[] = [];
    for (const line of (text ?? "").split("\n")) {
        if (!line.trim()) continue;
        try {
            out.push(JSON.parse(line) as AuditEvent);
        } catch {
            // a line cut by a full disk: the next ones still count
        }
    }
    return out.slice(-n);
}

/** Pure: a detail key as an environment variable's tail: `fromColor` -> `FROM_COLOR`. */
function envKey(k: string): string {
    return k
        .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
        .replace(/[^A-Za-z0-9]+/g, "_")
        .toUpperCase();
}

/** Pure: the BLUEGREEN_* environment of an event, as a broadcast command receives it. */
export function eventEnv(e: AuditEvent): Record<string, string> {
    const env: Record<string, string> = {
        BLUEGREEN_TIME: e.time,
        BLUEGREEN_PERFORMER: e.performer,
        BLUEGREEN_STACK: e.stack,
        BLUEGREEN_OPERATION: e.operation,
        BLUEGREEN_DETAILS: JSON.stringify(e.details),
    };
    if (e.color) env.BLUEGREEN_COLOR = e.color;
    if (e.release) env.BLUEGREEN_RELEASE = e.release;
    for (const [k, v] of Object.entries(e.details)) {
        const key = `BLUEGREEN_${envKey(k)}`;
        if (!(key in env)) env[key] = String(v);
    }
    return env;
}

/** Pure: an event in one line for `status`. */
export function describeEvent(e: AuditEvent): string {
    const what = [e.operation, e.color, e.release].filter(Boolean).join(" ");
    const details = Object.entries(e.details)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ");
    return `${e.time} ${e.performer} ${what}${details ? ` (${details})` : ""}`;
}

/** Pure: the served entries of a history file since the last destroy, oldest first. */
export function servedHistory(text: string | undefined): { color: string; release: string }[] {
    const lines = (text ?? "").split("\n").map((l) => l.trim().split(/\s+/));
    // A destroy writes `none -`: what served before it is another life of the stack, no rollback target.
    const ended = lines.map((f) => f[1]).lastIndexOf("none");
    const life = lines.slice(ended + 1);
    return (
        life
            // Only whole switches: a shift's step lines name a split (`blue=90,green=10`).
            .filter((f) => f.length >= 3 && (f[1] === "blue" || f[1] === "green"))
            .map((f) => ({ color: f[1]!, release: f[2]! }))
    );
}

/**
 * Pure: is this a rollback? A switch is a fast rollback when it goes back to the color and
 * release that served just before the current one. A deploy is a full rollback when its
 * release served before and does not serve now.
 */
export function rollbackKind(
    history: readonly { color: string; release: string }[],
    op: "switch" | "deploy",
    target: { color: string; release: string },
): "fast" | "full" | undefined {
    const now = history.at(-1);
    if (op === "switch") {
        const before = history.at(-2);
        return before && now && before.color === target.color && before.release === target.release && now.release !== target.release ? "fast" : undefined;
    }
    return now && now.release !== target.release && history.slice(0, -1).some((h) => h.release === target.release) ? "full" : undefined;
}
