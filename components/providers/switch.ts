// The Switch resource: a thin lifecycle adapter onto release/traffic/switch.ts.

import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "./serialized";
import { lockGuarded, lockedDelete } from "./lock";
import { changedKeys } from "../model/diff";
import { initFailure } from "../model/errors";
import type { Color } from "../model/naming";
import { SwitchInputs, SwitchOutputs, applySwitch, claimSwitch, drifted, readSwitch, removeSwitch } from "../release/traffic/switch";

const WATCHED: readonly (keyof SwitchInputs)[] = [
    "stack",
    "host",
    "layout",
    "method",
    "active",
    "release",
    "frontendPort",
    "exporterPort",
    "extra",
    "edge",
    "preview",
    "previewRelease",
    "components",
    "services",
    "remote",
    "probePorts",
    "maintenance",
    "accessLogPort",
    "drained",
];

export const switchProvider: pulumi.dynamic.ResourceProvider = lockGuarded({
    async diff(_id: string, olds: SwitchOutputs, news: SwitchInputs) {
        // A flip made by hand (found by refresh) makes the next `up` switch back.
        return { changes: changedKeys(olds, news, WATCHED).length > 0 || drifted(olds, news), replaces: [] };
    },

    async create(inputs: SwitchInputs) {
        // Its own id: under --replace (create, then the old one's delete) the old delete must tell it apart.
        const id = `${inputs.stack}-switch-${crypto.randomBytes(4).toString("hex")}`;
        try {
            await claimSwitch(inputs, id);
            return { id, outs: await applySwitch(inputs) };
        } catch (e) {
            // Kept in state whatever happened to HAProxy, so a destroy runs its delete, which takes the weights off first.
            throw initFailure((e as Error).message, id, { ...inputs, served: "unknown", recorded: "unknown" });
        }
    },

    async update(id: string, olds: SwitchOutputs, news: SwitchInputs) {
        // Beside the switch, not before it: the switch never reads the owner file, and a claim is one round trip over a remote.
        const [claim, outs] = await Promise.allSettled([claimSwitch(news, id), applySwitch(news, olds.drained ?? [], olds)]);
        if (outs.status === "rejected") throw outs.reason;
        if (claim.status === "rejected") throw claim.reason;
        return { outs: outs.value };
    },

    async delete(id: string, props: SwitchOutputs) {
        await lockedDelete({ host: props.host, stateDir: props.layout.stateDir, stack: props.stack, broadcast: props.broadcast }, () =>
            removeSwitch(props, id),
        );
    },

    async read(id: string, props: SwitchOutputs) {
        const live = await readSwitch(props);
        const { served: _s, recorded: _r, releasesMap: _m, ...inputs } = props;
        return { id, props: { ...props, ...live }, inputs: { ...inputs, active: live.active } };
    },
});

export type SwitchArgs = { readonly [K in keyof SwitchInputs]: pulumi.Input<SwitchInputs[K]> };

/** The active-color switch in HAProxy. */
export class Switch extends DynamicResource {
    declare public readonly active: pulumi.Output<Color>;
    declare public readonly served: pulumi.Output<string>;
    declare public readonly recorded: pulumi.Output<string>;

    constructor(name: string, args: SwitchArgs, opts?: pulumi.CustomResourceOptions) {
        super(switchProvider, name, { ...args, served: undefined, recorded: undefined }, opts);
    }
}
