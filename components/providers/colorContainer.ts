// The ColorContainer resource: a thin lifecycle adapter onto release/deploy.ts.

import * as pulumi from "@pulumi/pulumi";
import { changedKeys } from "../model/diff";
import { INSTANCE_NAME, RELEASE_SHA } from "../model/naming";
import {
    ColorContainerInputs,
    ColorContainerOutputs,
    UPDATE_ON,
    answersHealthy,
    heal,
    knownUnwell,
    launch,
    readContainer,
    removeContainer,
    replacedKeys,
} from "../release/deploy";

/** The single, static provider instance every ColorContainer shares. */
export const colorContainerProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: ColorContainerInputs, news: ColorContainerInputs) {
        const failures: pulumi.dynamic.CheckFailure[] = [];
        if (!INSTANCE_NAME.test(news.name ?? "")) failures.push({ property: "name", reason: "expected a valid Incus instance name" });
        if (news.color !== "blue" && news.color !== "green") failures.push({ property: "color", reason: "expected blue or green" });
        if (!RELEASE_SHA.test(news.release ?? "")) failures.push({ property: "release", reason: "expected 7-40 lowercase hex characters" });
        return { inputs: news, failures };
    },

    async diff(_id: string, olds: ColorContainerOutputs, news: ColorContainerInputs) {
        const replaces = replacedKeys(olds, news);
        if (replaces.length > 0) return { changes: true, replaces, deleteBeforeReplace: true };
        // `up` converges without --refresh: a container that is stopped, gone or unhealthy
        // (in state or live: one probe, no Incus call) is healed by the update.
        const changed = knownUnwell(olds) || changedKeys(olds, news, UPDATE_ON).length > 0 || !(await answersHealthy(news));
        return { changes: changed, replaces, deleteBeforeReplace: true };
    },

    async create(inputs: ColorContainerInputs) {
        return launch(inputs);
    },

    async update(_id: string, olds: ColorContainerOutputs, news: ColorContainerInputs) {
        return { outs: await heal(olds, news) };
    },

    async delete(id: string, props: ColorContainerOutputs) {
        await removeContainer(id, props);
    },

    async read(id: string, props: ColorContainerOutputs) {
        const live = await readContainer(id, props);
        if (!live.props) return { id: "" };
        const { status: _s, healthy: _h, url: _u, ...inputs } = live.props;
        return { id, props: live.props, inputs };
    },
};

/** Inputs of a ColorContainer; any of them may be an Output. */
export type ColorContainerArgs = { readonly [K in keyof ColorContainerInputs]: pulumi.Input<ColorContainerInputs[K]> };

/** One (component, color) container. Named `<prefix><component>-<color>` in Incus. */
export class ColorContainer extends pulumi.dynamic.Resource {
    declare public readonly name: pulumi.Output<string>;
    declare public readonly release: pulumi.Output<string>;
    declare public readonly status: pulumi.Output<string>;
    declare public readonly healthy: pulumi.Output<boolean>;
    declare public readonly url: pulumi.Output<string>;

    constructor(name: string, args: ColorContainerArgs, opts?: pulumi.CustomResourceOptions) {
        super(colorContainerProvider, name, { ...args, status: undefined, healthy: undefined, url: undefined }, opts);
    }
}
