// The StatefulService resource: a thin lifecycle adapter onto release/stateful/stateful.ts.

import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "./serialized";
import { lockGuarded, lockedDelete } from "./lock";
import { probeAt } from "../io/prober";
import { probeRoute } from "../model/traffic/topology";
import { INSTANCE_NAME, RELEASE_SHA } from "../model/naming";
import { statefulMoveRefusal } from "../model/cluster/placement";
import { judge } from "../release/traffic/health";
import { expectOf, fetchArtifact } from "../release/deploy";
import {
    STATEFUL_PLACE,
    StatefulInputs,
    StatefulOutputs,
    convergeService,
    createService,
    placeChangeRefusal,
    readService,
    removeService,
    statefulHealthUrl,
    storeOf,
} from "../release/stateful/stateful";
import { readUpgradeRecord } from "../release/stateful/snapshot";

const OUTPUT_ONLY = ["status", "healthy", "url", "lastGood", "snapshot", "appliedRestore", "owner"] as const;

function inputsOf(o: StatefulOutputs): Omit<StatefulInputs, "artifactToken"> {
    const copy: Record<string, unknown> = { ...o };
    for (const k of OUTPUT_ONLY) delete copy[k];
    return copy as unknown as Omit<StatefulInputs, "artifactToken">;
}

/** The single, static provider instance every StatefulService shares. */
export const statefulProvider: pulumi.dynamic.ResourceProvider = lockGuarded({
    async check(olds: StatefulInputs | undefined, news: StatefulInputs) {
        const failures: pulumi.dynamic.CheckFailure[] = [];
        if (!INSTANCE_NAME.test(news.name ?? "")) failures.push({ property: "name", reason: "expected a valid Incus instance name" });
        if (!RELEASE_SHA.test(news.release ?? "")) failures.push({ property: "release", reason: "expected 7-40 lowercase hex characters" });
        if (!Array.isArray(news.volumes) || news.volumes.length === 0) failures.push({ property: "volumes", reason: "expected at least one volume" });
        // Where the data is never changes by replacement (issue 20): refused here, in preview too.
        // A new resource's olds are empty ({} from the engine).
        if (olds?.name !== undefined && failures.length === 0) {
            for (const k of STATEFUL_PLACE)
                if ((olds[k] ?? null) !== (news[k] ?? null)) failures.push({ property: k, reason: placeChangeRefusal(olds, news, k) });
            // Pinning a service that had no member is recorded; moving a pinned one is not done here.
            if (olds.member !== undefined && news.member !== olds.member)
                failures.push({ property: "member", reason: statefulMoveRefusal(news.service, olds.member, news.member ?? "(any member)", news.name) });
        }
        // Before the service is stopped: a release that is not in the store fails here, in preview too.
        if (failures.length === 0 && olds?.release !== news.release) {
            try {
                await fetchArtifact({ artifacts: news.artifacts, artifactToken: news.artifactToken, component: news.service, release: news.release });
            } catch (e) {
                failures.push({ property: "release", reason: `${(e as Error).message}. Nothing was touched.` });
            }
        }
        return { inputs: news, failures };
    },

    async diff(_id: string, olds: StatefulOutputs, news: StatefulInputs) {
        const { artifactToken: _t, ...wanted } = news;
        const changed = JSON.stringify(inputsOf(olds)) !== JSON.stringify(wanted);
        // `up` converges: a service known unhealthy, or one that does not answer now, is healed.
        const unwell =
            olds.healthy === false ||
            olds.status !== "Running" ||
            !judge(await probeAt(probeRoute(news.host), statefulHealthUrl(news), news.health.timeoutMs), expectOf(news)).healthy;
        // An upgrade a killed run left is resumed, even when config went back to what state says.
        const interrupted = !unwell && !changed && (await readUpgradeRecord(storeOf(news))) !== undefined;
        // Never a replacement: check refuses a change of place. A forced one (`pulumi up --replace`)
        // creates first, and the old resource's delete then finds another owner and deletes nothing.
        return { changes: changed || unwell || interrupted, replaces: [], deleteBeforeReplace: false };
    },

    async create(inputs: StatefulInputs) {
        return createService(inputs);
    },

    async update(_id: string, olds: StatefulOutputs, news: StatefulInputs) {
        return { outs: await convergeService(olds, { ...news, ...(olds.owner ? { owner: olds.owner } : {}) }) };
    },

    async delete(id: string, props: StatefulOutputs) {
        await lockedDelete(props, () => removeService(id, props));
    },

    async read(id: string, props: StatefulOutputs) {
        const live = await readService(id, props);
        if (!live.props) return { id: "" };
        return { id, props: live.props, inputs: inputsOf(live.props) };
    },
});

/** Inputs of a StatefulService; any of them may be an Output. */
export type StatefulServiceArgs = { readonly [K in keyof StatefulInputs]: pulumi.Input<StatefulInputs[K]> };

/** A stateful singleton, `<prefix><service>` in Incus, on volumes `<prefix><service>-<volume>`. */
export class StatefulService extends DynamicResource {
    declare public readonly name: pulumi.Output<string>;
    declare public readonly release: pulumi.Output<string>;
    declare public readonly status: pulumi.Output<string>;
    declare public readonly healthy: pulumi.Output<boolean>;
    declare public readonly url: pulumi.Output<string>;
    declare public readonly lastGood: pulumi.Output<string | undefined>;

    constructor(name: string, args: StatefulServiceArgs, opts?: pulumi.CustomResourceOptions) {
        const outputs = Object.fromEntries(OUTPUT_ONLY.map((k) => [k, undefined]));
        super(statefulProvider, name, { ...args, ...outputs }, opts);
    }
}
