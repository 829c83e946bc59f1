// The ColorContainer resource: a thin lifecycle adapter onto release/deploy.ts.

import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "./serialized";
import { lockGuarded, lockedDelete } from "./lock";
import { changedKeys } from "../model/diff";
import { INSTANCE_NAME, RELEASE_SHA } from "../model/naming";
import {
    ColorContainerInputs,
    ColorContainerOutputs,
    UPDATE_ON,
    answersHealthy,
    artifactProblem,
    heal,
    knownUnwell,
    launch,
    readContainer,
    refuseStranded,
    removeContainer,
    rolloutReplaces,
} from "../release/deploy";
import { progress } from "../io/progress";
import { rolloutMigrationProblem } from "../release/stateful/migrationGuard";

/** The single, static provider instance every ColorContainer shares. */
export const colorContainerProvider: pulumi.dynamic.ResourceProvider = lockGuarded({
    async check(olds: ColorContainerInputs | undefined, news: ColorContainerInputs) {
        const failures: pulumi.dynamic.CheckFailure[] = [];
        if (!INSTANCE_NAME.test(news.name ?? "")) failures.push({ property: "name", reason: "expected a valid Incus instance name" });
        if (news.color !== "blue" && news.color !== "green") failures.push({ property: "color", reason: "expected blue or green" });
        if (!RELEASE_SHA.test(news.release ?? "")) failures.push({ property: "release", reason: "expected 7-40 lowercase hex characters" });
        // Before any delete-first replace: a release that is not in the store fails here, in preview too.
        const missing = failures.length === 0 ? await artifactProblem(olds, news) : undefined;
        if (missing) failures.push({ property: "release", reason: `${missing}. Nothing was touched.` });
        const refused = failures.length === 0 ? await rolloutMigrationProblem(olds, news) : undefined;
        if (refused) failures.push({ property: "release", reason: refused });
        return { inputs: news, failures };
    },

    async diff(_id: string, olds: ColorContainerOutputs, news: ColorContainerInputs) {
        const { replaces, pending, migrated } = await rolloutReplaces(olds, news);
        if (pending.length > 0) {
            progress(
                `${news.name}: ${pending.join(" and ")} changed; ${news.color} serves traffic, so it keeps what it runs until it is redeployed or traffic moves off it`,
            );
        }
        if (replaces.length > 0) return { changes: true, replaces, deleteBeforeReplace: true };
        // `up` converges without --refresh: a container that is stopped, gone or unhealthy
        // (in state or live: one probe, no Incus call) is healed by the update.
        // A release the canary installs in place is recorded by an update.
        const inPlace = news.inPlace === true && olds.release !== news.release;
        const changed = migrated === true || inPlace || knownUnwell(olds) || changedKeys(olds, news, UPDATE_ON).length > 0 || !(await answersHealthy(news));
        return { changes: changed, replaces, deleteBeforeReplace: true };
    },

    async create(inputs: ColorContainerInputs) {
        return launch(inputs);
    },

    async update(_id: string, olds: ColorContainerOutputs, news: ColorContainerInputs) {
        return { outs: await heal(olds, news) };
    },

    async delete(id: string, props: ColorContainerOutputs) {
        await refuseStranded(props);
        await lockedDelete({ host: props.guard.host, stateDir: props.guard.stateDir, stack: props.stack, broadcast: props.broadcast }, () =>
            removeContainer(id, props),
        );
    },

    async read(id: string, props: ColorContainerOutputs) {
        const live = await readContainer(id, props);
        if (!live.props) return { id: "" };
        const { status: _s, healthy: _h, url: _u, ...inputs } = live.props;
        return { id, props: live.props, inputs };
    },
});

/** Inputs of a ColorContainer; any of them may be an Output. */
export type ColorContainerArgs = { readonly [K in keyof ColorContainerInputs]: pulumi.Input<ColorContainerInputs[K]> };

/** One (component, color) container. Named `<prefix><component>-<color>` in Incus. */
export class ColorContainer extends DynamicResource {
    declare public readonly name: pulumi.Output<string>;
    declare public readonly release: pulumi.Output<string>;
    declare public readonly status: pulumi.Output<string>;
    declare public readonly healthy: pulumi.Output<boolean>;
    declare public readonly url: pulumi.Output<string>;

    constructor(name: string, args: ColorContainerArgs, opts?: pulumi.CustomResourceOptions) {
        // The secret environment stays secret in outputs too (it is kept there for the next diff).
        super(
            colorContainerProvider,
            name,
            { ...args, status: undefined, healthy: undefined, url: undefined },
            { ...opts, additionalSecretOutputs: ["secretEnv"] },
        );
    }
}
