// The Retention resource: after every successful up (it depends on every other step, so a
// failed one skips it), the artifact store is pruned (release/safety/retention.ts). Like the deploy
// lock it works in `diff`, which the engine calls on every up, so a no-op up stays a no-op
// in the plan; `mode` tells an up from a preview, which only reports.

import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "./serialized";
import { lockGuarded } from "./lock";
import { RetentionInputs, applyRetention } from "../release/safety/retention";

export const retentionProvider: pulumi.dynamic.ResourceProvider = lockGuarded({
    async check(_olds: RetentionInputs | undefined, news: RetentionInputs) {
        // A preview reports here, whether or not the resource exists yet.
        if (news.mode === "preview") await applyRetention(news);
        return { inputs: news, failures: [] };
    },

    async diff(_id: string, _olds: RetentionInputs, news: RetentionInputs) {
        if (news.mode === "up") await applyRetention(news);
        return { changes: false, replaces: [] };
    },

    async create(inputs: RetentionInputs) {
        await applyRetention(inputs);
        return { id: `${inputs.stack}-retention`, outs: inputs };
    },

    async update(_id: string, _olds: RetentionInputs, news: RetentionInputs) {
        return { outs: news };
    },

    async delete() {
        // Removing bluegreen:retain keeps every artifact from then on; nothing to undo.
    },

    async read(id: string, props: RetentionInputs) {
        return { id, props, inputs: props };
    },
});

export type RetentionArgs = { readonly [K in keyof RetentionInputs]: pulumi.Input<RetentionInputs[K]> };

/** bluegreen:retain: prunes the artifact store after a successful up. */
export class Retention extends DynamicResource {
    constructor(name: string, args: RetentionArgs, opts?: pulumi.CustomResourceOptions) {
        super(retentionProvider, name, args, opts);
    }
}
