// The Canary resource: a thin lifecycle adapter onto release/canary.ts. Its state holds
// the release the serving color last ran healthily: the last-known-good of the next canary.

import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "./serialized";
import { lockGuarded } from "./lock";
import { getInstance } from "../io/incus";
import { poolNodes } from "../model/canary";
import { incusTarget } from "../model/topology";
import { CanaryInputs, CanaryOutputs, canaryOutputs, converge, needsConverge, runCanary } from "../release/canary";

/** The release the serving color's nodes run, when they all agree (the baseline of a canary added with a release change). */
async function liveRelease(i: CanaryInputs): Promise<string | undefined> {
    const names = i.components.flatMap((c) => poolNodes(i.prefix, i.active, c).map((n) => n.container));
    const releases = new Set<string | undefined>();
    for (const n of names) releases.add((await getInstance(incusTarget(i.remote), n))?.config["user.bluegreen.release"]);
    const [only] = [...releases];
    return releases.size === 1 ? only : undefined;
}

/** The single, static provider instance every Canary shares. */
export const canaryProvider: pulumi.dynamic.ResourceProvider = lockGuarded({
    async diff(_id: string, olds: CanaryOutputs, news: CanaryInputs) {
        const { phase: _p, ...was } = olds;
        const { artifactToken: _t, ...now } = news;
        // A paused or interrupted rollout of another release is also a change: it converges back.
        return { changes: JSON.stringify(was) !== JSON.stringify(now) || (await needsConverge(news)), replaces: [] };
    },

    async create(inputs: CanaryInputs) {
        // Added together with a release change of the serving color: the nodes say what ran.
        const from = await liveRelease(inputs);
        if (from && from !== inputs.release) return { id: `${inputs.stack}-canary`, outs: await runCanary(inputs, from) };
        return { id: `${inputs.stack}-canary`, outs: canaryOutputs(inputs, "done") };
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
