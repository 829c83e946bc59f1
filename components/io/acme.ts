// The ACME client: acme-client (publishlab/node-acme-client), a kept RFC 8555 client with
// account, order, HTTP-01 and finalize flows, used by many Node projects. We write none of
// the protocol. The CA's TLS is verified as Node verifies any HTTPS (NODE_EXTRA_CA_CERTS adds
// a private CA such as pebble's); nothing here turns verification off.

import * as crypto from "crypto";
import * as acme from "acme-client";
// A plain require keeps the module itself, which the SDK serializes as require() (an __importStar copy it cannot walk).
// eslint-disable-next-line @typescript-eslint/no-require-imports
import x509 = require("@peculiar/x509");
import { AcmeConfig, IssuedCertificate, leafCertificate } from "../model/edge/acme";
import { progress } from "./progress";

export interface Challenge {
    readonly token: string;
    readonly keyAuthorization: string;
}

export interface ObtainOptions {
    readonly acme: AcmeConfig;
    /** The account key (PEM); undefined: a new account key is made and returned. */
    readonly accountKey?: string;
    /** Publish a challenge's answer where the CA will fetch it (HAProxy's challenge map). */
    readonly publish: (c: Challenge) => Promise<void>;
    readonly withdraw: (c: Challenge) => Promise<void>;
}

export interface Obtained {
    readonly accountKey: string;
    /** Leaf and chain, then the private key: the bundle HAProxy loads. A secret: never logged. */
    readonly bundle: string;
    readonly issued: IssuedCertificate;
}

/** Orders a certificate for the configured domains over HTTP-01. */
export async function obtainCertificate(o: ObtainOptions): Promise<Obtained> {
    const accountKey = o.accountKey ?? (await acme.crypto.createPrivateEcdsaKey()).toString();
    const client = new acme.Client({ directoryUrl: o.acme.directory, accountKey });
    const [key, csr] = await acme.crypto.createCsr({ commonName: o.acme.domains[0], altNames: [...o.acme.domains] }, await acme.crypto.createPrivateEcdsaKey());
    progress(`acme: ordering a certificate for ${o.acme.domains.join(", ")} from ${o.acme.directory}`);
    const chain = await client.auto({
        csr,
        email: o.acme.email,
        termsOfServiceAgreed: true,
        challengePriority: ["http-01"],
        // acme-client would fetch the token itself on port 80 of each domain first; HAProxy
        // answers on the listeners the operator chose, and the CA's own check is the one that counts.
        skipChallengeVerification: true,
        challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
            await o.publish({ token: challenge.token, keyAuthorization });
            progress(`acme: challenge for ${_authz.identifier.value} published in HAProxy`);
        },
        challengeRemoveFn: async (_authz, challenge, keyAuthorization) => {
            await o.withdraw({ token: challenge.token, keyAuthorization });
        },
    });
    const issued = describeIssued(chain, o.acme);
    progress(`acme: issued for ${issued.domains.join(", ")}, expires ${issued.notAfter}`);
    return { accountKey, bundle: `${chain.trim()}\n${key.toString().trim()}\n`, issued };
}

/** What the state keeps of a chain (leaf first): never the key. */
export function describeIssued(chain: string, a: Pick<AcmeConfig, "directory" | "domains">): IssuedCertificate {
    const leaf = leafCertificate(chain);
    if (!leaf) throw new Error("the CA's answer holds no readable certificate; run up again");
    return {
        domains: [...a.domains],
        directory: a.directory,
        notAfter: new Date(leaf.validTo).toISOString(),
        serial: leaf.serialNumber,
        fingerprint: leaf.fingerprint256,
    };
}

/**
 * A self-signed bundle for `names`, valid one day: what a TLS bind loads until the first
 * certificate is issued (HAProxy does not start on a `crt` that is missing), swapped out then.
 */
export async function placeholderBundle(names: readonly string[]): Promise<string> {
    const webcrypto = crypto.webcrypto as unknown as Crypto;
    const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
    const keys = await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]);
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.createSelfSigned(
        {
            serialNumber: crypto.randomBytes(8).toString("hex"),
            name: `CN=${names[0]}`,
            notBefore: new Date(now - 60_000),
            notAfter: new Date(now + 86_400_000),
            keys,
            signingAlgorithm: alg,
            extensions: [new x509.SubjectAlternativeNameExtension(names.map((n) => ({ type: "dns" as const, value: n })))],
        },
        webcrypto,
    );
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
    const key = crypto.createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }).export({ format: "pem", type: "pkcs8" }).toString();
    return `${cert.toString("pem").trim()}\n${key.trim()}\n`;
}
