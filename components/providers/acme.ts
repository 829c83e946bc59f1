// The AcmeCertificate resource (bluegreen:tls.acme): a thin lifecycle adapter onto
// release/edge/acme.ts. Its diff reads the clock: under 30 days left, any preview shows the
// renewal and any up does it, so `up` on a schedule is the renewal job.

import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "./serialized";
import { lockGuarded } from "./lock";
import { changedKeys } from "../model/diff";
import { AcmeInputs, AcmeOutputs, dueReason, issueCertificate } from "../release/edge/acme";

export const acmeProvider: pulumi.dynamic.ResourceProvider = lockGuarded({
    async diff(_id: string, olds: AcmeOutputs, news: AcmeInputs) {
        const replaces = changedKeys(olds, news, ["host", "layout"]);
        const changed = changedKeys(olds, news, ["stack", "acme"]).length > 0 || dueReason(olds, news) !== undefined;
        return { changes: replaces.length > 0 || changed, replaces, deleteBeforeReplace: true };
    },

    async create(inputs: AcmeInputs) {
        const issued = await issueCertificate(inputs, dueReason(undefined, inputs) ?? "first order");
        return { id: `${inputs.stack}-acme`, outs: { ...inputs, issued } };
    },

    async update(_id: string, olds: AcmeOutputs, news: AcmeInputs) {
        const why = dueReason(olds, news);
        // A change of stack name alone needs no new certificate.
        const issued = why ? await issueCertificate(news, why) : olds.issued;
        return { outs: { ...news, issued } };
    },

    // The certificate stays on the host with HAProxy's files; the instance's removal takes it.
    async delete() {},

    async read(id: string, props: AcmeOutputs) {
        const { issued: _i, ...inputs } = props;
        return { id, props, inputs };
    },
});

export type AcmeArgs = { readonly [K in keyof AcmeInputs]: pulumi.Input<AcmeInputs[K]> };

/** The certificate bluegreen:tls.acme orders and renews; its state holds no key. */
export class AcmeCertificate extends DynamicResource {
    declare public readonly issued: pulumi.Output<{ notAfter: string; serial: string; domains: string[] }>;
    constructor(name: string, args: AcmeArgs, opts?: pulumi.CustomResourceOptions) {
        super(acmeProvider, name, { ...args, issued: undefined }, opts);
    }
}
