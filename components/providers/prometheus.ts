// The Prometheus resource: the scrape targets of every pool, on every `up`, and on dev
// the server that reads them. A thin lifecycle adapter onto release/rollout/prometheus.ts.

import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "./serialized";
import { lockGuarded } from "./lock";
import { progress } from "../io/progress";
import { initFailure } from "../model/errors";
import { ScrapingInputs, ScrapingOutputs, ensureScraping, removeScraping, scrapingDrift } from "../release/rollout/prometheus";
import { ensureInstanceScraping, instanceScrapingDrift, removeInstancePrometheus } from "../release/rollout/prometheusInstance";

/** prometheus.placement: incus runs it in the HAProxy instance; host, on this machine. */
function ensure(i: ScrapingInputs): Promise<ScrapingOutputs> {
    return i.instance ? ensureInstanceScraping({ ...i, instance: i.instance }) : ensureScraping(i);
}

function inputsOf(o: ScrapingOutputs): ScrapingInputs {
    const { serverUrl: _u, targetsFile: _f, ...inputs } = o;
    return inputs;
}

/** The single, static provider instance. */
export const prometheusProvider: pulumi.dynamic.ResourceProvider = lockGuarded({
    async diff(_id: string, olds: ScrapingOutputs, news: ScrapingInputs) {
        const changed = JSON.stringify(inputsOf(olds)) !== JSON.stringify(news);
        // Supervision, as for HAProxy: a server that died, or targets edited by hand, are put right.
        const drift = changed ? undefined : news.instance ? await instanceScrapingDrift(news.instance, news.targets) : scrapingDrift(news);
        if (drift) progress(`prometheus: ${drift}; pulumi up will put it right`);
        return {
            changes: changed || drift !== undefined,
            replaces: [...(olds.dir !== news.dir ? ["dir"] : []), ...(JSON.stringify(olds.instance) !== JSON.stringify(news.instance) ? ["instance"] : [])],
            deleteBeforeReplace: true,
        };
    },

    async create(inputs: ScrapingInputs) {
        const id = `prometheus:${inputs.dir}`;
        if (!inputs.instance) return { id, outs: await ensureScraping(inputs) };
        try {
            return { id, outs: await ensure(inputs) };
        } catch (e) {
            // Kept in state: its proxy device may already hold the port, and a delete (a placement change, a destroy) removes it.
            throw initFailure((e as Error).message, id, { ...inputs, serverUrl: "", targetsFile: "" });
        }
    },

    async update(_id: string, _olds: ScrapingOutputs, news: ScrapingInputs) {
        return { outs: await ensure(news) };
    },

    async delete(_id: string, props: ScrapingOutputs) {
        if (props.instance) await removeInstancePrometheus(props.instance);
        else await removeScraping(props);
    },

    async read(id: string, props: ScrapingOutputs) {
        return { id, props, inputs: inputsOf(props) };
    },
});

/** Inputs of a Prometheus; any of them may be an Output. */
export type PrometheusArgs = { readonly [K in keyof ScrapingInputs]: pulumi.Input<ScrapingInputs[K]> };

/** What Prometheus scrapes, and on dev the server itself. */
export class Prometheus extends DynamicResource {
    declare public readonly serverUrl: pulumi.Output<string>;
    declare public readonly targetsFile: pulumi.Output<string>;

    constructor(name: string, args: PrometheusArgs, opts?: pulumi.CustomResourceOptions) {
        super(prometheusProvider, name, { ...args, serverUrl: undefined, targetsFile: undefined }, opts);
    }
}
