// The Maintenance resource (bluegreen:maintenance): a thin lifecycle adapter onto
// release/edge/maintenance.ts. It runs after the switch, which renders the rule.

import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "./serialized";
import { lockGuarded } from "./lock";
import { changedKeys } from "../model/diff";
import { MaintenanceInputs, MaintenanceOutputs, applyMaintenance, describeLive, readLiveMaintenance, removeMaintenance } from "../release/edge/maintenance";

const WATCHED: readonly (keyof MaintenanceInputs)[] = ["stack", "host", "layout", "mapFile", "enabled", "allow"];

export const maintenanceProvider: pulumi.dynamic.ResourceProvider = lockGuarded({
    async diff(_id: string, olds: MaintenanceOutputs, news: MaintenanceInputs) {
        // A map set by hand (found by refresh) is set back by the next up.
        const drifted = olds.live !== describeLive(news.enabled);
        return { changes: changedKeys(olds, news, WATCHED).length > 0 || drifted, replaces: [] };
    },

    async create(inputs: MaintenanceInputs) {
        return { id: `${inputs.stack}-maintenance`, outs: await applyMaintenance(inputs) };
    },

    async update(_id: string, _olds: MaintenanceOutputs, news: MaintenanceInputs) {
        return { outs: await applyMaintenance(news) };
    },

    async delete(_id: string, props: MaintenanceOutputs) {
        await removeMaintenance(props);
    },

    async read(id: string, props: MaintenanceOutputs) {
        const live = describeLive(await readLiveMaintenance(props).catch(() => undefined));
        const { live: _l, ...inputs } = props;
        return { id, props: { ...props, live }, inputs };
    },
});

export type MaintenanceArgs = { readonly [K in keyof MaintenanceInputs]: pulumi.Input<MaintenanceInputs[K]> };

/** Maintenance mode on or off in the running HAProxy. */
export class Maintenance extends DynamicResource {
    declare public readonly live: pulumi.Output<string>;

    constructor(name: string, args: MaintenanceArgs, opts?: pulumi.CustomResourceOptions) {
        super(maintenanceProvider, name, { ...args, live: undefined }, opts);
    }
}
