// The Haproxy resource: a thin lifecycle adapter onto release/traffic/haproxy.ts.

import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "./serialized";
import { lockGuarded, lockedDelete } from "./lock";
import { describeHost } from "../io/haproxyHost";
import { progress } from "../io/progress";
import { changedKeys } from "../model/diff";
import type { HaproxyLayout } from "../model/naming";
import { receiverAliveOnHost } from "../release/edge/accessLog";
import { HaproxyInputs, HaproxyOutputs, ensureHaproxy, isRunning, readHaproxy, removeHaproxy } from "../release/traffic/haproxy";

/** Inputs that change in place. */
const UPDATE_ON = ["frontendPort", "exporterPort", "backendPorts", "image", "profiles", "stack", "layout", "listen", "accessLog"] as const;

/** Where this host reaches the sockets is a proxy device (or the same path): an update, not a replace. */
function fixedLayout(l: HaproxyLayout | undefined) {
    return l && { ...l, hostAdminSocket: undefined, hostMasterSocket: undefined };
}

export const haproxyProvider: pulumi.dynamic.ResourceProvider = lockGuarded({
    async diff(_id: string, olds: HaproxyOutputs, news: HaproxyInputs) {
        const replaces: string[] = changedKeys({ ...olds, layout: fixedLayout(olds.layout) }, { ...news, layout: fixedLayout(news.layout) }, [
            "host",
            "layout",
            "member",
            "routedAddress",
            "parent",
        ]);
        const changed = changedKeys(olds, news, UPDATE_ON).length > 0;
        // Supervision: a haproxy that died (or a rebooted host) is started again by the next `up`.
        const alive = replaces.length > 0 || (await isRunning(news));
        if (!alive) progress(`haproxy: not running on ${describeHost(news.host)}; pulumi up will start it`);
        // In an instance, the receiver's own supervisor restarts it.
        const logging = replaces.length > 0 || !news.accessLog || news.host.placement !== "host" || (await receiverAliveOnHost(news.accessLog));
        if (!logging) progress(`access log: the receiver on udp 127.0.0.1:${news.accessLog?.port} is gone; pulumi up will start it`);
        return { changes: replaces.length > 0 || changed || !alive || !logging, replaces, deleteBeforeReplace: true };
    },

    async create(inputs: HaproxyInputs) {
        const outs = await ensureHaproxy(inputs, true);
        return { id: inputs.host.placement === "host" ? `host:${inputs.layout.configPath}` : inputs.host.instance, outs };
    },

    async update(_id: string, olds: HaproxyOutputs, news: HaproxyInputs) {
        return { outs: await ensureHaproxy(news, false, olds) };
    },

    async delete(_id: string, props: HaproxyOutputs) {
        await lockedDelete({ host: props.host, stateDir: props.layout.stateDir, stack: props.stack }, () => removeHaproxy(props));
    },

    async read(id: string, props: HaproxyOutputs) {
        const outs = await readHaproxy(props);
        const { running: _r, masterPid: _m, address: _a, ...inputs } = outs;
        return { id, props: outs, inputs };
    },
});

export type HaproxyArgs = { readonly [K in keyof HaproxyInputs]: pulumi.Input<HaproxyInputs[K]> };

/** HAProxy itself: the process (dev) or the instance (staging/prod) that runs it. */
export class Haproxy extends DynamicResource {
    declare public readonly running: pulumi.Output<boolean>;
    declare public readonly masterPid: pulumi.Output<number>;
    /** With an Incus remote: the remote's address, where the frontend listens. */
    declare public readonly address: pulumi.Output<string | undefined>;

    constructor(name: string, args: HaproxyArgs, opts?: pulumi.CustomResourceOptions) {
        super(haproxyProvider, name, { ...args, running: undefined, masterPid: undefined, address: undefined }, opts);
    }
}
