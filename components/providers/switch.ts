// The Switch resource: a thin lifecycle adapter onto release/switch.ts.

import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "./serialized";
import { lockGuarded, lockedDelete } from "./lock";
import { changedKeys } from "../model/diff";
import type { Color } from "../model/naming";
import { SwitchInputs, SwitchOutputs, applySwitch, drifted, readSwitch, removeSwitch } from "../release/switch";

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
    "components",
    "services",
    "remote",
];

export const switchProvider: pulumi.dynamic.ResourceProvider = lockGuarded({
    async diff(_id: string, olds: SwitchOutputs, news: SwitchInputs) {
        // A flip made by hand (found by refresh) makes the next `up` switch back.
        return { changes: changedKeys(olds, news, WATCHED).length > 0 || drifted(olds, news), replaces: [] };
    },

    async create(inputs: SwitchInputs) {
        return { id: `${inputs.stack}-switch`, outs: await applySwitch(inputs) };
    },

    async update(_id: string, _olds: SwitchOutputs, news: SwitchInputs) {
        return { outs: await applySwitch(news) };
    },

    async delete(_id: string, props: SwitchOutputs) {
        await lockedDelete({ host: props.host, stateDir: props.layout.stateDir, stack: props.stack, broadcast: props.broadcast }, () => removeSwitch(props));
    },

    async read(id: string, props: SwitchOutputs) {
        const live = await readSwitch(props);
        const { served: _s, recorded: _r, ...inputs } = props;
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
