// A running rollout under the `rollout` verbs (issue 23): its record on the HAProxy host, and
// its waits (a window, a manual gate, a pause, between nodes), each reading the control
// record at least once a second, so a verb acts within about a second. The transitions
// are model/rollout/control.ts's.

import * as crypto from "crypto";
import { HaproxyHost, readHostFile, writeHostFile } from "../../io/haproxyHost";
import { sleep } from "../../io/poll";
import { progress } from "../../io/progress";
import type { Color } from "../../model/naming";
import {
    Actor,
    ControlRecord,
    Effect,
    NOTHING_SEEN,
    RolloutKind,
    RolloutRecord,
    RolloutState,
    Seen,
    controlEvents,
    describeActor,
    isTerminal,
    parseJson,
    transition,
} from "../../model/rollout/control";
import { assertDeployLockKept } from "../safety/lock";
import { AuditContext, audit } from "../safety/audit";
import type { Clock } from "./analysis";

/** The longest one wait sleeps between two reads of the control record. */
const CHECK_MS = 500;
/** How often a held rollout says so again in its progress. */
const REMIND_MS = 30_000;

export function rolloutPath(stateDir: string): string {
    return `${stateDir}/rollout.json`;
}

export function controlPath(stateDir: string): string {
    return `${stateDir}/rollout-control.json`;
}

/** Thrown out of a window's clock by a verb: the window ends now. */
export class ControlInterrupt extends Error {
    constructor(readonly effect: Effect) {
        super(`rollout control: ${effect}`);
    }
}

/** How a window or a gate ended. `skipped`: by `rollout promote`; `aborted`: by `rollout abort` or a gate's timeout. */
export type Outcome<T> = { readonly kind: "judged"; readonly result: T } | { readonly kind: "skipped" } | { readonly kind: "aborted"; readonly why: string };

export interface RolloutTarget {
    readonly host: HaproxyHost;
    readonly stateDir: string;
    readonly audit: AuditContext;
}

export class RolloutRun {
    readonly runId = crypto.randomBytes(6).toString("hex");
    private state: RolloutState = { phase: "progressing" };
    private seen: Seen = NOTHING_SEEN;
    private record: Omit<RolloutRecord, "updatedAt">;
    private readFailed = false;
    /** Nothing written yet: a run refused before it started leaves the last record alone. */
    private written = false;

    constructor(
        private readonly t: RolloutTarget,
        info: { readonly kind: RolloutKind; readonly release: string; readonly from: string; readonly color: Color },
        /** Bound on a gate and on a pause; past it the rollout rolls back. */
        private readonly holdTimeoutSeconds: number,
    ) {
        this.record = { runId: this.runId, ...info, phase: "progressing", step: "starting" };
    }

    get phase(): RolloutState["phase"] {
        return this.state.phase;
    }

    /** Writes rollout.json (atomically: writeHostFile renames a temp file over it). Never fails the rollout. */
    async write(change: Partial<Omit<RolloutRecord, "runId" | "kind" | "updatedAt">>, drop: readonly (keyof RolloutRecord)[] = []): Promise<void> {
        const next: Record<string, unknown> = { ...this.record, ...change };
        for (const k of drop) delete next[k];
        this.record = next as Omit<RolloutRecord, "updatedAt">;
        this.written = true;
        const text = JSON.stringify({ ...this.record, updatedAt: new Date().toISOString() }, null, 2) + "\n";
        await writeHostFile(this.t.host, rolloutPath(this.t.stateDir), text).catch((e: Error) => progress(`rollout: cannot write its record: ${e.message}`));
    }

    /** The last probe, for `rollout status`. */
    async probe(line: string): Promise<void> {
        await this.write({ lastProbe: line });
    }

    /** Reads the control record and applies what is new in it; the effect that matters most. */
    async check(): Promise<Effect> {
        let text: string | undefined;
        try {
            text = await readHostFile(this.t.host, controlPath(this.t.stateDir));
            this.readFailed = false;
        } catch (e) {
            // Unreadable is not a verb: the rollout goes on as configured, and says so once.
            if (!this.readFailed) progress(`rollout: cannot read ${controlPath(this.t.stateDir)} (${(e as Error).message}); it goes on as configured`);
            this.readFailed = true;
            return "none";
        }
        const { events, seen } = controlEvents(parseJson<ControlRecord>(text), this.runId, this.seen);
        this.seen = seen;
        let effect: Effect = "none";
        for (const e of events) {
            const r = transition(this.state, e);
            this.state = r.state;
            if (rank(r.effect) > rank(effect)) effect = r.effect;
        }
        return effect;
    }

    /** A clock for runAnalysis whose sleeps read the control record every CHECK_MS; a verb ends the window by throwing ControlInterrupt. */
    clock(): Clock {
        return {
            now: () => Date.now(),
            sleep: async (ms: number) => {
                const end = Date.now() + ms;
                for (let n = 0; n <= Math.ceil(ms / CHECK_MS) + 1; n++) {
                    const effect = await this.check();
                    if (effect !== "none") throw new ControlInterrupt(effect);
                    const left = end - Date.now();
                    if (left <= 0) return;
                    await sleep(Math.min(left, CHECK_MS));
                }
            },
        };
    }

    /**
     * A window under control: `judge(startedAt, clock)` runs the analysis from `startedAt`.
     * A pause holds it with its clock stopped: on resume the window goes on from where it
     * stood, `startedAt` moved on by the time held (`moved` persists it).
     */
    async window<T>(
        step: string,
        windowMs: number,
        startedAt: number,
        judge: (startedAt: number, clock: Clock) => Promise<T>,
        moved?: (startedAt: number) => Promise<void>,
    ): Promise<Outcome<T>> {
        let start = startedAt;
        // Each round ends the window or is one pause: bounded by the pauses a run can hold.
        for (let n = 0; n < 10_000; n++) {
            if (this.state.phase !== "paused") {
                const early = await this.check();
                if (early === "rollBack" || early === "skip") return this.ended(early);
                if (early !== "hold") {
                    if ("full" in this.state && this.state.full) return { kind: "skipped" };
                    await this.write({ phase: "progressing", step, windowEndsAt: start + windowMs }, ["remainingMs", "gateTimesOutAt", "paused"]);
                    try {
                        return { kind: "judged", result: await judge(start, this.clock()) };
                    } catch (e) {
                        if (!(e instanceof ControlInterrupt)) throw e;
                        if (e.effect !== "hold") return this.ended(e.effect);
                    }
                }
            }
            const pausedAt = Date.now();
            const held = await this.hold(step, start + windowMs - pausedAt);
            if (held !== "none") return this.ended(held);
            start += Date.now() - pausedAt;
            await moved?.(start);
            progress(`rollout: resumed; ${step} goes on with ${Math.round((start + windowMs - Date.now()) / 1000)}s left`);
        }
        return { kind: "aborted", why: `${step} was paused and resumed too often` };
    }

    /** A manual gate: waits for `rollout promote`, bounded by the gate timeout. */
    async gate(step: string): Promise<Outcome<never>> {
        if (this.state.phase === "paused") {
            const held = await this.hold(step, undefined);
            if (held !== "none") return this.ended(held);
        }
        const g = transition(this.state, { kind: "gate" });
        this.state = g.state;
        if (g.effect === "skip") return { kind: "skipped" };
        const timesOutAt = Date.now() + this.holdTimeoutSeconds * 1000;
        await this.write({ phase: "gated", step }, ["windowEndsAt", "remainingMs", "paused"]);
        await this.write({ gateTimesOutAt: timesOutAt });
        const how = `\`npm run local -- rollout promote --stack ${this.t.audit.stack}\``;
        progress(`rollout: ${step}: waiting for ${how} (or abort); rolls back at ${new Date(timesOutAt).toISOString()}`);
        await audit(this.t.audit, {
            operation: "rollout",
            color: this.record.color,
            release: this.record.release,
            details: { gate: step, kind: this.record.kind },
        });
        return this.ended(await this.waitWhile(step, ["gated", "paused"], timesOutAt));
    }

    /** Between two nodes: holds while paused; an abort ends the rollout. */
    async checkpoint(step: string): Promise<Outcome<never>> {
        const effect = await this.check();
        if (effect === "rollBack") return this.ended(effect);
        if (this.state.phase !== "paused") return { kind: "skipped" };
        const held = await this.hold(step, undefined);
        return held === "rollBack" ? this.ended(held) : { kind: "skipped" };
    }

    /** The record's last word on this run. */
    async finish(phase: "done" | "rolledBack" | "aborted" | "timedOut", why?: string): Promise<void> {
        if (!isTerminal(this.state)) this.state = phase === "aborted" ? { phase, actor: { by: "bluegreen", at: new Date().toISOString() } } : { phase };
        await this.write({ phase, step: why ?? this.record.step }, ["windowEndsAt", "remainingMs", "gateTimesOutAt"]);
    }

    /** Unless it ended already: the run stopped on an error (a failed node, a lost lock). */
    async close(): Promise<void> {
        if (this.written && (this.record.phase === "progressing" || this.record.phase === "paused" || this.record.phase === "gated"))
            await this.finish("rolledBack", "stopped by an error; see the up's output");
    }

    /** Why an aborted run ended, for its error. */
    abortedWhy(): string {
        const s = this.state;
        if (s.phase === "aborted") return `aborted by ${describeActor(s.actor)} (\`rollout abort\`)`;
        if (s.phase === "timedOut")
            return `it was held (a manual gate or a pause) past gateTimeoutSeconds (${this.holdTimeoutSeconds} s) without \`rollout promote\` or \`rollout resume\``;
        return "stopped";
    }

    private ended(effect: Effect): Outcome<never> {
        if (effect === "rollBack") return { kind: "aborted", why: this.abortedWhy() };
        return { kind: "skipped" };
    }

    /** Held by a pause, the window's time left frozen in the record: "none" once resumed, "skip" when promoted, "rollBack" when aborted. */
    private async hold(step: string, remainingMs: number | undefined): Promise<Effect> {
        const actor = this.state.phase === "paused" ? this.state.actor : undefined;
        await this.write(
            { phase: "paused", step, ...(actor ? { paused: actor } : {}), ...(remainingMs !== undefined ? { remainingMs: Math.max(0, remainingMs) } : {}) },
            ["windowEndsAt"],
        );
        const line =
            `rollout: paused by ${actor ? describeActor(actor) : "a verb"}: ${step} holds` +
            (remainingMs !== undefined ? ` with ${Math.round(Math.max(0, remainingMs) / 1000)}s left in its window` : "") +
            `; \`rollout resume --stack ${this.t.audit.stack}\` continues it`;
        progress(line);
        return this.waitWhile(step, ["paused"], Date.now() + this.holdTimeoutSeconds * 1000, line);
    }

    /**
     * Reads the control record every CHECK_MS while the state is one of `phases`, bounded by
     * `until` (then it times out: "rollBack"). "skip" when a promote ended it, "none" a resume.
     */
    private async waitWhile(step: string, phases: readonly RolloutState["phase"][], until: number, remind?: string): Promise<Effect> {
        let reminded = Date.now();
        const bound = Math.ceil((until - Date.now()) / CHECK_MS) + 2;
        for (let n = 0; n < bound; n++) {
            assertDeployLockKept();
            const before = this.state.phase;
            const effect = await this.check();
            if (effect === "rollBack") return effect;
            if (!phases.includes(this.state.phase)) return effect === "skip" ? "skip" : "none";
            if (this.state.phase !== before) {
                if (this.state.phase === "paused") {
                    const a = this.state.actor;
                    progress(`rollout: paused by ${describeActor(a)}: ${step} holds`);
                    await this.write({ phase: "paused", paused: a });
                } else {
                    progress(`rollout: resumed; ${step} waits again`);
                    await this.write({ phase: this.state.phase }, ["paused"]);
                }
            }
            if (Date.now() >= until) break;
            if (Date.now() - reminded >= REMIND_MS) {
                reminded = Date.now();
                progress(remind ?? `rollout: ${step}: still waiting for \`rollout promote\``);
            }
            await sleep(CHECK_MS);
        }
        this.state = { phase: "timedOut" };
        return "rollBack";
    }
}

function rank(e: Effect): number {
    return e === "rollBack" ? 3 : e === "skip" ? 2 : e === "hold" ? 1 : 0;
}

/** Who asked, for a verb: BLUEGREEN_PERFORMER, else the OS user (as the audit log names them). */
export function actorNow(by: string, why: string | undefined): Actor {
    return { by, ...(why ? { why } : {}), at: new Date().toISOString() };
}
