// The Certificates resource (bluegreen:tls.certificates): a thin lifecycle adapter onto
// release/edge/tls.ts. The bundles are a secret input, so the engine keeps them encrypted.

import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "./serialized";
import { lockGuarded, lockedDelete } from "./lock";
import { changedKeys } from "../model/diff";
import { CertificatesInputs, applyCertificates, certificatesPresent, removeCertificates } from "../release/edge/tls";

export interface CertificatesOutputs extends CertificatesInputs {
    /** Names removed from the secret whose file the live config still loaded: the next up removes them. */
    readonly pending: readonly string[];
}

export const certificatesProvider: pulumi.dynamic.ResourceProvider = lockGuarded({
    async diff(_id: string, olds: CertificatesOutputs, news: CertificatesInputs) {
        const replaces = changedKeys(olds, news, ["host", "layout"]);
        const changed = changedKeys(olds, news, ["stack", "certificates", "acmeDomains"]).length > 0 || (olds.pending ?? []).length > 0;
        // A rebuilt HAProxy instance has none of the files: the next up writes them again.
        const missing = replaces.length === 0 && !changed && !(await certificatesPresent(news));
        return { changes: replaces.length > 0 || changed || missing, replaces, deleteBeforeReplace: true };
    },

    async create(inputs: CertificatesInputs) {
        const r = await applyCertificates(undefined, inputs);
        return { id: `${inputs.stack}-certificates`, outs: { ...inputs, pending: r.kept } };
    },

    async update(_id: string, olds: CertificatesOutputs, news: CertificatesInputs) {
        const r = await applyCertificates(olds.certificates, news, olds.pending ?? []);
        return { outs: { ...news, pending: r.kept } };
    },

    async delete(_id: string, props: CertificatesOutputs) {
        await lockedDelete({ host: props.host, stateDir: props.layout.stateDir, stack: props.stack }, () => removeCertificates(props));
    },

    async read(id: string, props: CertificatesOutputs) {
        const { pending: _p, ...inputs } = props;
        return { id, props, inputs };
    },
});

export type CertificatesArgs = { readonly [K in keyof CertificatesInputs]: pulumi.Input<CertificatesInputs[K]> };

/** The TLS certificates HAProxy serves, written root-only on its host. */
export class Certificates extends DynamicResource {
    constructor(name: string, args: CertificatesArgs, opts?: pulumi.CustomResourceOptions) {
        super(certificatesProvider, name, { ...args, pending: undefined }, opts);
    }
}
