// The Canary resource: a thin lifecycle adapter onto release/rollout/canary.ts. Its state holds
// the release the serving color last ran healthily: the last-known-good of the next canary.

import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "./serialized";
import { lockGuarded } from "./lock";
import { CanaryInputs, CanaryOutputs, converge, createCanary, needsConverge, previewRelease, runCanary } from "../release/rollout/canary";

/** The single, static provider instance every Canary shares. */
export const canaryProvider: pulumi.dynamic.ResourceProvider = lockGuarded({
    async diff(_id: string, olds: CanaryOutputs, news: CanaryInputs) {
        const { phase: _p, ...was } = olds;
        const { artifactToken: _t, ...now } = news;
        // A paused or interrupted rollout of another release is also a change: it converges back.
        const changes = JSON.stringify(was) !== JSON.stringify(now) || (await needsConverge(news));
        if (changes && olds.active === news.active && olds.release !== news.release) await previewRelease(news, olds.release);
        return { changes, replaces: [] };
    },

    async create(inputs: CanaryInputs) {
        // Added with a release change, or over a rollout a lost state forgot: the host's record and the nodes say where it stands.
        return { id: `${inputs.stack}-canary`, outs: await createCanary(inputs) };
    },

    async update(_id: string, olds: CanaryOutputs, news: CanaryInputs) {
        // A release change of the color that serves; a switch only moves the baseline.
        if (olds.active === news.active && olds.release !== news.release) return { outs: await runCanary(news, olds.release) };
        return { outs: await converge(news) };
    },

    async delete() {
        return;
    },

    async read(id: string, props: CanaryOutputs) {
        return { id, props, inputs: props };
    },
});

/** Inputs of a Canary; any of them may be an Output. */
export type CanaryArgs = { readonly [K in keyof CanaryInputs]: pulumi.Input<CanaryInputs[K]> };

/** The serving color's in-place releases, gated on the SLI analysis. */
export class Canary extends DynamicResource {
    declare public readonly phase: pulumi.Output<string>;
    declare public readonly release: pulumi.Output<string>;

    constructor(name: string, args: CanaryArgs, opts?: pulumi.CustomResourceOptions) {
        super(canaryProvider, name, { phase: undefined, ...args }, { ...opts, additionalSecretOutputs: ["artifactToken"] });
    }
}
