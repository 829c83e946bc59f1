// bluegreen:tls.acme on the HAProxy host. Before the first order, a one-day placeholder sits
// where HAProxy's TLS binds expect the certificate (HAProxy does not start on a missing `crt`).
// An order publishes each HTTP-01 answer in HAProxy's challenge map over the runtime API, and
// the issued bundle is hot-swapped like any other certificate: no reload, no dropped request.
// The account key and the certificate's key stay on the host, root-only; the state keeps
// only what status shows (names, expiry, serial, fingerprint).

import { obtainCertificate } from "../../io/acme";
import { HaproxyHost, describeHost, readHostFile, writeHostFile } from "../../io/haproxyHost";
import { progress } from "../../io/progress";
import { adminCommands } from "../../io/runtimeApi";
import {
    ACME_CERTIFICATE,
    AcmeConfig,
    IssuedCertificate,
    accountKeyPath,
    addChallengeCommand,
    challengeMapPath,
    delChallengeCommand,
    describeCertificate,
    renewalReason,
} from "../../model/edge/acme";
import { certificatePath, normalizePem } from "../../model/edge/tls";
import type { HaproxyLayout } from "../../model/naming";
import { haproxyChannel } from "../../model/traffic/topology";
import { ensureAcmeFiles, hotSwap, loadedFiles } from "./tls";

export interface AcmeInputs {
    readonly stack: string;
    readonly host: HaproxyHost;
    readonly layout: HaproxyLayout;
    readonly acme: AcmeConfig;
}

export interface AcmeOutputs extends AcmeInputs {
    readonly issued: IssuedCertificate;
}

/** Orders a certificate, swaps it into HAProxy and writes it; the previous one serves until then. */
export async function issueCertificate(i: AcmeInputs, why: string): Promise<IssuedCertificate> {
    const channel = haproxyChannel(i.host, i.layout, "admin");
    const map = challengeMapPath(i.layout);
    const keyFile = accountKeyPath(i.layout);
    await ensureAcmeFiles(i.host, i.layout, i.acme.domains);
    progress(`acme: ${why}: renewing through ${describeHost(i.host)}`);
    const accountKey = await readHostFile(i.host, keyFile);
    const got = await obtainCertificate({
        acme: i.acme,
        accountKey: accountKey?.trim() ? accountKey : undefined,
        publish: async (c) => {
            const out = (await adminCommands(channel, [addChallengeCommand(map, c.token, c.keyAuthorization)])).trim();
            if (out) throw new Error(`HAProxy refused the ACME challenge's answer (${out.split("\n")[0]}); is bluegreen:tls.acme in its config? Run up again.`);
        },
        withdraw: async (c) => {
            await adminCommands(channel, [delChallengeCommand(map, c.token)]).catch(() => undefined);
        },
    });
    if (!accountKey?.trim()) await writeHostFile(i.host, keyFile, got.accountKey);
    const file = certificatePath(i.layout, ACME_CERTIFICATE);
    const bundle = normalizePem(got.bundle);
    if ((await loadedFiles(channel))?.includes(file)) {
        await hotSwap(channel, file, bundle);
        progress(`acme: certificate swapped in HAProxy over the runtime API (no reload)`);
    }
    await writeHostFile(i.host, file, bundle);
    progress(`acme: ${describeCertificate(got.issued, new Date())}`);
    return got.issued;
}

/** Pure on its inputs and the clock: why an up must order now, if it must. */
export function dueReason(olds: Partial<AcmeOutputs> | undefined, news: AcmeInputs, now = new Date()): string | undefined {
    return renewalReason(olds?.issued, news.acme, now);
}
