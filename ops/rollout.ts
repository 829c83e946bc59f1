// `npm run local -- rollout <abort|pause|resume|promote [--full]|retry|status|watch> --stack <name> [-m "<why>"]`:
// the verbs act on a running canary, shift or switch gate through the HAProxy host, as the lock
// verbs do (README: Rollout controls). Each writes the control record the running provider
// reads at least twice a second; each is audited and broadcast.

import { incusTrustOf, loadConfig } from "../components/model/config";
import { useIncusTrust } from "../components/io/incusTrust";
import { readHostFile, writeHostFile } from "../components/io/haproxyHost";
import { sleep } from "../components/io/poll";
import { CanaryRecord } from "../components/model/rollout/canary";
import { ControlRecord, ControlVerb, RolloutRecord, applyVerb, describeRollout, parseJson, running } from "../components/model/rollout/control";
import { auditContext } from "../components/plan";
import { canaryRecordPath } from "../components/release/rollout/canary";
import { actorNow, controlPath, rolloutPath } from "../components/release/rollout/control";
import { audit, performer } from "../components/release/safety/audit";
import { readLockState } from "../components/release/safety/lock";
import { Project, UsageError, loadStackConfig } from "../runner/project";

const USAGE = 'usage: rollout <abort|pause|resume|promote [--full]|retry|status|watch> --stack <name> [-m "<why>"] [--json]';
/** `watch` ends with the rollout, or after this long. */
const WATCH_BOUND_MS = 7 * 24 * 3600 * 1000;

export async function rolloutCommand(
    project: Project,
    stack: string,
    verb: string | undefined,
    opts: { message?: string; full: boolean; json: boolean; configFile?: string },
): Promise<number> {
    const cfg = loadStackConfig(project, stack, opts.configFile);
    const config = loadConfig(cfg.values, (k) => cfg.secretKeys.includes(k), stack);
    await useIncusTrust(incusTrustOf(cfg.values, config));
    const ctx = auditContext(config);
    const read = async () => {
        const [rollout, lock] = await Promise.all([readHostFile(ctx.host, rolloutPath(ctx.stateDir)), readLockState(ctx)]);
        return { rollout: parseJson<RolloutRecord>(rollout), lockHeld: lock.state === "held" };
    };
    const show = (r: { rollout?: RolloutRecord; lockHeld: boolean }) =>
        opts.json
            ? JSON.stringify({ ...(r.rollout ?? {}), running: running(r.rollout) && r.lockHeld }) + "\n"
            : describeRollout(r.rollout, r.lockHeld, Date.now()) + "\n";
    if (opts.full && verb !== "promote") throw new UsageError(`--full is for promote\n${USAGE}`);

    if (verb === "status") {
        const r = await read();
        process.stdout.write(show(r));
        return 0;
    }
    if (verb === "watch") {
        const until = Date.now() + WATCH_BOUND_MS;
        for (let n = 0; Date.now() < until; n++) {
            const r = await read();
            process.stdout.write((n > 0 && !opts.json ? "\n" : "") + show(r));
            if (!(running(r.rollout) && r.lockHeld)) return n === 0 ? 1 : 0;
            await sleep(2000);
        }
        return 0;
    }
    if (verb === "retry") return retry(ctx, stack, opts.message);
    if (verb !== "abort" && verb !== "pause" && verb !== "resume" && verb !== "promote") throw new UsageError(USAGE);

    const [r, controlText] = await Promise.all([read(), readHostFile(ctx.host, controlPath(ctx.stateDir))]);
    const actor = actorNow(performer(), opts.message);
    const applied = applyVerb({ ...r, control: parseJson<ControlRecord>(controlText), stack }, verb as ControlVerb, actor, opts.full);
    if ("refused" in applied) {
        process.stderr.write(`error: rollout ${verb}: ${applied.refused}\n`);
        return 1;
    }
    await writeHostFile(ctx.host, controlPath(ctx.stateDir), JSON.stringify(applied.record, null, 2) + "\n");
    const ro = r.rollout!;
    await audit(ctx, {
        operation: "rollout",
        color: ro.color,
        release: ro.release,
        details: { verb: opts.full ? "promote --full" : verb, kind: ro.kind, step: ro.step, ...(opts.message ? { why: opts.message } : {}) },
    });
    process.stdout.write(
        `rollout ${verb}${opts.full ? " --full" : ""}: sent to the ${ro.kind} of ${ro.release} on ${ro.color} (${ro.step}); it acts within a second\n`,
    );
    return 0;
}

/** Lifts a rejection: the last rollout's (an aborted one) and the canary record's (an aborted or red canary). */
async function retry(ctx: ReturnType<typeof auditContext>, stack: string, why: string | undefined): Promise<number> {
    const [rolloutText, canaryText, lock] = await Promise.all([
        readHostFile(ctx.host, rolloutPath(ctx.stateDir)),
        readHostFile(ctx.host, canaryRecordPath({ stateDir: ctx.stateDir })),
        readLockState(ctx),
    ]);
    const ro = parseJson<RolloutRecord>(rolloutText);
    const canary = parseJson<CanaryRecord>(canaryText);
    if (running(ro) && lock.state === "held") {
        process.stderr.write(
            `error: rollout retry: a ${ro!.kind} of ${ro!.release} is running; retry lifts the rejection of one that ended. Nothing was changed.\n`,
        );
        return 1;
    }
    const actor = actorNow(performer(), why);
    const lifted: string[] = [];
    if (ro && (ro.phase === "aborted" || ro.phase === "timedOut") && !ro.retried) {
        await writeHostFile(ctx.host, rolloutPath(ctx.stateDir), JSON.stringify({ ...ro, retried: actor }, null, 2) + "\n");
        lifted.push(`the ${ro.kind} of ${ro.release} on ${ro.color}`);
    }
    if (canary && canary.phase === "rolledBack" && !canary.retried) {
        await writeHostFile(
            ctx.host,
            canaryRecordPath({ stateDir: ctx.stateDir }),
            JSON.stringify({ ...canary, retried: { by: actor.by, at: actor.at } }, null, 2) + "\n",
        );
        if (!lifted.some((l) => l.includes(canary.release))) lifted.push(`the canary of ${canary.release} on ${canary.color}`);
    }
    if (lifted.length === 0) {
        process.stderr.write(
            `error: rollout retry: no rollout of stack ${stack} is rejected; nothing was changed. \`rollout status --stack ${stack}\` shows the last.\n`,
        );
        return 1;
    }
    await audit(ctx, { operation: "rollout", details: { verb: "retry", lifted: lifted.join(", "), ...(why ? { why } : {}) } });
    process.stdout.write(`rollout retry: lifted the rejection of ${lifted.join(" and ")}; the next up rolls it again\n`);
    return 0;
}
