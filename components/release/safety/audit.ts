// The audit log: every operation appends one line to <stateDir>/audit.jsonl on the HAProxy
// host, and bluegreen:broadcast runs for each, as Kamal's broadcast does. Neither ever fails
// the operation it records: a failure is a progress line.

import * as os from "os";
import { run } from "../../io/exec";
import { HaproxyHost, appendHostFile, readHostFile } from "../../io/haproxyHost";
import { progress } from "../../io/progress";
import { AuditEvent, Operation, auditLine, eventEnv, parseAudit, rollbackKind, servedHistory } from "../../model/safety/audit";
import { minimalEnv } from "../../model/safety/hooks";
import { historyPath } from "./history";

/** Where an operation's events go: the HAProxy host's state dir, and the broadcast command. */
export interface AuditContext {
    readonly host: HaproxyHost;
    readonly stateDir: string;
    readonly stack: string;
    /** bluegreen:broadcast: the operator's own shell command. */
    readonly broadcast?: string;
    /** bluegreen:hooks.passEnv: what the broadcast gets beyond the minimal environment. */
    readonly passEnv?: readonly string[];
}

/** The context of a resource whose inputs carry these; broadcast only when set. */
export function auditTo(host: HaproxyHost, stateDir: string, stack: string, broadcast: string | undefined, passEnv?: readonly string[]): AuditContext {
    return { host, stateDir, stack, ...(broadcast ? { broadcast } : {}), ...(broadcast && passEnv?.length ? { passEnv } : {}) };
}

export function auditPath(stateDir: string): string {
    return `${stateDir}/audit.jsonl`;
}

/** Who runs this: BLUEGREEN_PERFORMER, else the OS user. */
export function performer(): string {
    const named = process.env.BLUEGREEN_PERFORMER?.trim();
    if (named) return named;
    try {
        return os.userInfo().username;
    } catch {
        return "unknown";
    }
}

/** The bound on one broadcast: a hung notifier must not hold a deploy. */
const BROADCAST_TIMEOUT_MS = 30_000;

/** Appends the event (one write, O_APPEND: concurrent writers never interleave), then broadcasts it. */
export async function audit(
    ctx: AuditContext,
    e: { readonly operation: Operation; readonly color?: string; readonly release?: string; readonly details?: AuditEvent["details"] },
): Promise<AuditEvent> {
    const event: AuditEvent = {
        time: new Date().toISOString(),
        performer: performer(),
        stack: ctx.stack,
        operation: e.operation,
        ...(e.color ? { color: e.color } : {}),
        ...(e.release ? { release: e.release } : {}),
        details: e.details ?? {},
    };
    await appendHostFile(ctx.host, auditPath(ctx.stateDir), auditLine(event)).catch((err: Error) =>
        progress(`audit: could not append to ${auditPath(ctx.stateDir)}: ${err.message}`),
    );
    if (ctx.broadcast) {
        // The operator's own command, the one shell string we run (as a hook is), with none of our secrets.
        const env = { ...minimalEnv(process.env, ctx.passEnv), ...eventEnv(event) };
        const r = await run({ argv: ["/bin/sh", "-c", ctx.broadcast], env, cleanEnv: true, timeoutMs: BROADCAST_TIMEOUT_MS });
        if (r.code !== 0) progress(`broadcast: exited ${r.code} for ${e.operation} (ignored): ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
    }
    return event;
}

/** The last `n` audit events, oldest first. */
export async function readAudit(host: HaproxyHost, stateDir: string, n: number): Promise<AuditEvent[]> {
    return parseAudit(await readHostFile(host, auditPath(stateDir)), n);
}

/** A switch or a deploy, named a rollback when the history says it is one (model/safety/audit.ts). */
export async function auditChange(
    ctx: AuditContext,
    op: "switch" | "deploy",
    target: { color: string; release: string },
    details: AuditEvent["details"],
    /** The history file's text as it now is, when the caller has it: one read less over a remote. */
    known?: string,
): Promise<void> {
    const history = servedHistory(known ?? (await readHostFile(ctx.host, historyPath(ctx.stateDir)).catch(() => undefined)));
    const kind = rollbackKind(op === "switch" ? history.slice(0, -1) : history, op, target);
    await audit(ctx, { operation: kind ? "rollback" : op, color: target.color, release: target.release, details: { ...details, ...(kind ? { kind } : {}) } });
}
