// The DeployLock resource: every `up` takes the stack's deploy lock here, before any other
// step (everything depends on it), and holds it while its provider process lives. It is
// taken in `diff`, the one method the engine calls on every up even when nothing changes, so
// that a no-op up stays a no-op in the plan; `mode` tells an up from a preview, which only
// looks. A refresh (`preview --refresh`, `up --refresh`) is refused while someone holds it.

import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "./serialized";
import { describeHost, hostState } from "../io/haproxyHost";
import { progress } from "../io/progress";
import { refused } from "../model/errors";
import { heldRefusal, lockPath } from "../model/lock";
import { AdoptionInputs, checkStateLoss } from "../release/adoption";
import { AuditContext } from "../release/audit";
import { acquireLock, keepRenewing, readLockState } from "../release/lock";

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

/**
 * Takes the lock for this process (once: a provider process serves one deployment). It lives
 * on the HAProxy host (`hostState` is always Running for this host): before the first up
 * creates the instance, or while it is stopped until the haproxy step starts it, there is
 * nowhere to keep it, so the up says so and goes on.
 */
async function take(i: DeployLockInputs): Promise<void> {
    const held = (globalThis as { bluegreenLock?: string }).bluegreenLock;
    if (held === i.stateDir) return;
    const state = await hostState(i.host);
    if (state !== "Running") {
        progress(`lock: ${describeHost(i.host)} is ${state.toLowerCase()}; this up runs without the deploy lock until the haproxy step has it running`);
        return;
    }
    const r = await acquireLock(i, { kind: "up", message: process.env.BLUEGREEN_LOCK_MESSAGE ?? "pulumi up", release: i.release, waitSeconds: waitSeconds() });
    (globalThis as { bluegreenLock?: string }).bluegreenLock = i.stateDir;
    keepRenewing(i, r);
    progress(`lock: stack ${i.stack} is locked for this run (${lockPath(i.stateDir)})`);
}

/** A preview only looks: it says who holds the lock, and that an up now would wait or be refused. */
async function look(i: DeployLockInputs): Promise<void> {
    if ((await hostState(i.host)) !== "Running") return;
    const st = await readLockState(i);
    if (st.state === "held") progress(`lock: an up now would be refused: ${heldRefusal(i.stack, st.record, lockPath(i.stateDir))}`);
}

export const deployLockProvider: pulumi.dynamic.ResourceProvider = {
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

    async delete() {
        // The lock file is the stack's record on the HAProxy host, not this resource's.
    },

    async read(id: string, props: DeployLockInputs) {
        if ((await hostState(props.host)) !== "Running") return { id, props, inputs: props };
        const st = await readLockState(props);
        if (st.state === "held") throw refused(heldRefusal(props.stack, st.record, lockPath(props.stateDir)));
        return { id, props, inputs: props };
    },
};

export type DeployLockArgs = { readonly [K in keyof DeployLockInputs]: pulumi.Input<DeployLockInputs[K]> };

/** The stack's deploy lock, held for the duration of an up. */
export class DeployLock extends DynamicResource {
    constructor(name: string, args: DeployLockArgs, opts?: pulumi.CustomResourceOptions) {
        super(deployLockProvider, name, args, opts);
    }
}
