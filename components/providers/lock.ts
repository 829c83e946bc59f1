// The DeployLock resource: every `up` takes the stack's deploy lock here, before any other
// step (everything depends on it), and holds it while its provider process lives. It is
// taken in `diff`, the one method the engine calls on every up even when nothing changes, so
// that a no-op up stays a no-op in the plan; `mode` tells an up from a preview, which only
// looks. A refresh (`preview --refresh`, `up --refresh`) is refused while someone holds it.
// DeployUnlock, which depends on every other step, frees it at the end of a successful up,
// in its `diff` too (the engine calls a dependent's diff only once its dependencies are done).
// Under `pulumi destroy` the program does not run: DeployUnlock's delete (first: nothing depends
// on it) takes the lock, every delete that changes anything holds it (withDeployLock), and
// DeployLock's delete (last: everything depends on it) frees it.

import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "./serialized";
import { trusted } from "./trust";
import { HaproxyHost, hostState } from "../io/haproxyHost";
import { progress } from "../io/progress";
import { refused } from "../model/errors";
import { heldRefusal, lockPath } from "../model/safety/lock";
import { AdoptionInputs, checkStateLoss } from "../release/stateful/adoption";
import { AuditContext, auditTo } from "../release/safety/audit";
import { HoldOptions, assertDeployLockKept, finishDeployLock, holdDeployLock, readLockState, stoppedRefusal, withDeployLock } from "../release/safety/lock";

export interface DeployLockInputs extends AuditContext, AdoptionInputs {
    /** The release the active color is set to: written in the lock for whoever meets it. */
    readonly release: string;
    /** `up` takes the lock; `preview` only says who holds it. Never a change by itself. */
    readonly mode: "up" | "preview";
}

/** `up --lock-wait <seconds>` (runner), or the same variable under `pulumi up`. */
function waitSeconds(): number {
    const v = Number(process.env.BLUEGREEN_LOCK_WAIT ?? "0");
    return Number.isFinite(v) && v > 0 ? Math.min(v, 24 * 3600) : 0;
}

/** What a lock taken by this process says about it. */
function holdOptions(message: string, release?: string): HoldOptions {
    return { message: process.env.BLUEGREEN_LOCK_MESSAGE ?? message, ...(release ? { release } : {}), waitSeconds: waitSeconds() };
}

/** Takes the lock for this process (once: a provider process serves one deployment); refuses on a stopped instance. */
async function take(i: DeployLockInputs): Promise<void> {
    await holdDeployLock(i, holdOptions("pulumi up", i.release));
}

/** A preview only looks: it says who holds the lock, and that an up now would wait or be refused. */
async function look(i: DeployLockInputs): Promise<void> {
    const state = await hostState(i.host);
    if (state === "absent") return;
    if (state !== "Running") return progress(`lock: an up now would be refused: ${stoppedRefusal(i, state)}`);
    const st = await readLockState(i);
    if (st.state === "held") progress(`lock: an up now would be refused: ${heldRefusal(i.stack, st.record, lockPath(i.stateDir))}`);
}

/**
 * A delete that changes anything runs under the stack's lock (a destroy takes no other way):
 * `target` is where the lock lives, from the deleted resource's own inputs.
 */
export function lockedDelete<T>(
    where: { readonly host: HaproxyHost; readonly stateDir: string; readonly stack: string; readonly broadcast?: string },
    fn: () => Promise<T>,
): Promise<T> {
    const target = auditTo(where.host, where.stateDir, where.stack, where.broadcast);
    return withDeployLock(target, holdOptions("pulumi destroy, or an up deleting what left the program"), fn);
}

/**
 * The provider with every method refusing once this process lost its lock (a renewal found
 * another run's lock): the up stops before its next step, as after any failed step.
 */
export function lockGuarded(provider: pulumi.dynamic.ResourceProvider): pulumi.dynamic.ResourceProvider {
    const guarded: Record<string, unknown> = {};
    for (const [name, method] of Object.entries(provider)) {
        guarded[name] =
            typeof method === "function"
                ? async (...args: unknown[]) => {
                      assertDeployLockKept();
                      return (method as (...a: unknown[]) => unknown).apply(provider, args);
                  }
                : method;
    }
    return trusted(guarded as unknown as pulumi.dynamic.ResourceProvider);
}

export const deployLockProvider: pulumi.dynamic.ResourceProvider = trusted({
    async check(olds: Partial<DeployLockInputs> | undefined, news: DeployLockInputs) {
        // Without old inputs the lock is not in state: an empty state over a live stack is refused here, before any step.
        await checkStateLoss(olds, news);
        return { inputs: news, failures: [] };
    },

    async diff(_id: string, _olds: DeployLockInputs, news: DeployLockInputs) {
        await (news.mode === "up" ? take(news) : look(news));
        return { changes: false, replaces: [] };
    },

    async create(inputs: DeployLockInputs) {
        if (inputs.mode === "up") await take(inputs);
        return { id: `${inputs.stack}-lock`, outs: inputs };
    },

    async update(_id: string, _olds: DeployLockInputs, news: DeployLockInputs) {
        return { outs: news };
    },

    async delete(_id: string, props: DeployLockInputs) {
        // Last in a destroy: takes the lock if no step did (a stack with nothing else), then frees it.
        await finishDeployLock(props, holdOptions("pulumi destroy"));
    },

    async read(id: string, props: DeployLockInputs) {
        if ((await hostState(props.host)) !== "Running") return { id, props, inputs: props };
        const st = await readLockState(props);
        if (st.state === "held") throw refused(heldRefusal(props.stack, st.record, lockPath(props.stateDir)));
        return { id, props, inputs: props };
    },
});

export const deployUnlockProvider: pulumi.dynamic.ResourceProvider = trusted({
    async diff(_id: string, _olds: DeployLockInputs, news: DeployLockInputs) {
        if (news.mode === "up") await finishDeployLock(news);
        return { changes: false, replaces: [] };
    },

    async create(inputs: DeployLockInputs) {
        if (inputs.mode === "up") await finishDeployLock(inputs);
        return { id: `${inputs.stack}-unlock`, outs: inputs };
    },

    async update(_id: string, _olds: DeployLockInputs, news: DeployLockInputs) {
        return { outs: news };
    },

    async delete(_id: string, props: DeployLockInputs) {
        // First in a destroy: nothing is deleted before the lock is held.
        await holdDeployLock(props, holdOptions("pulumi destroy"));
    },

    async read(id: string, props: DeployLockInputs) {
        return { id, props, inputs: props };
    },
});

export type DeployLockArgs = { readonly [K in keyof DeployLockInputs]: pulumi.Input<DeployLockInputs[K]> };

/** The stack's deploy lock, held for the duration of an up. */
export class DeployLock extends DynamicResource {
    constructor(name: string, args: DeployLockArgs, opts?: pulumi.CustomResourceOptions) {
        super(deployLockProvider, name, args, opts);
    }
}

/** Frees the deploy lock once every other step of an up succeeded: it depends on all of them. */
export class DeployUnlock extends DynamicResource {
    constructor(name: string, args: DeployLockArgs, opts?: pulumi.CustomResourceOptions) {
        super(deployUnlockProvider, name, args, opts);
    }
}
