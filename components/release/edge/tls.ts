// bluegreen:tls.certificates on the HAProxy host: each bundle a root-only file (0600) that
// HAProxy's TLS binds load. A changed bundle that HAProxy has loaded is hot-swapped over the
// runtime API (`set ssl cert`, `commit ssl cert`), with no reload; a new one is only written,
// and the switch's reload (its config names every file) loads it. No value ever reaches a message.

import { HaproxyHost, describeHost, hostPathExists, hostState, readHostFile, removeHostFile, writeHostFile } from "../../io/haproxyHost";
import { progress } from "../../io/progress";
import { placeholderBundle } from "../../io/acme";
import { ACME_CERTIFICATE, challengeMapPath } from "../../model/edge/acme";
import { Channel, adminCommands, converse, readyHint } from "../../io/runtimeApi";
import { certificateChanges, certificatePath, commitSslCertCommand, parseShowSslCert, setSslCertCommand } from "../../model/edge/tls";
import type { HaproxyLayout } from "../../model/naming";
import { haproxyChannel } from "../../model/traffic/topology";

export interface CertificatesInputs {
    readonly stack: string;
    readonly host: HaproxyHost;
    readonly layout: HaproxyLayout;
    /** Normalized PEM bundles by name (model/edge/tls.ts parseCertificates); a Pulumi secret. */
    readonly certificates: Readonly<Record<string, string>>;
    /** bluegreen:tls.acme's domains: its placeholder and challenge map must exist before HAProxy loads a config naming them. */
    readonly acmeDomains?: readonly string[];
}

/** What a hot swap did, for the caller's progress and the tests. */
export interface CertificatesResult {
    readonly written: readonly string[];
    readonly swapped: readonly string[];
    readonly removed: readonly string[];
    /** Removed from the secret, but still named by the live config: removed by a later up. */
    readonly kept: readonly string[];
}

/** The files HAProxy has loaded; undefined while it does not answer (then there is nothing to swap). */
export async function loadedFiles(channel: Channel): Promise<string[] | undefined> {
    try {
        return parseShowSslCert(await adminCommands(channel, ["show ssl cert"]));
    } catch {
        return undefined;
    }
}

/** Swaps one loaded file's certificate in HAProxy's memory: stage, then commit; aborts a staged one that failed. */
export async function hotSwap(channel: Channel, file: string, pem: string): Promise<void> {
    const set = await converse(channel, [setSslCertCommand(file, pem)]);
    if (set.code !== 0 || !/Transaction (created|updated)/.test(set.stdout)) {
        await converse(channel, [`abort ssl cert ${file}`]).catch(() => undefined);
        throw new Error(
            `HAProxy did not take the new certificate for ${file}: ${(set.stdout || set.stderr).split("\n")[0].trim() || "no answer"}; ` +
                `it still serves the previous one. Check the bundle (chain and key), then run up again; the live state: ${readyHint(channel, "show ssl cert " + file)}`,
        );
    }
    const commit = await converse(channel, [commitSslCertCommand(file)]);
    if (commit.code !== 0 || !/Success!/.test(commit.stdout)) {
        await converse(channel, [`abort ssl cert ${file}`]).catch(() => undefined);
        throw new Error(
            `HAProxy could not commit the new certificate for ${file}: ${(commit.stdout || commit.stderr).replace(/\s+/g, " ").trim().slice(0, 200) || "no answer"}; ` +
                `it still serves the previous one. Run up again; the live state: ${readyHint(channel, "show ssl cert " + file)}`,
        );
    }
}

/**
 * Brings the files in line with `news` (`olds`: what the last up wrote). A changed bundle
 * HAProxy serves is swapped first, then written, so the file never holds one HAProxy refused.
 * A removed one's file goes unless the live config still names it (the switch stops naming it).
 */
export async function applyCertificates(
    olds: Readonly<Record<string, string>> | undefined,
    i: CertificatesInputs,
    pending: readonly string[] = [],
): Promise<CertificatesResult> {
    const channel = haproxyChannel(i.host, i.layout, "admin");
    const changes = certificateChanges(olds ?? {}, i.certificates);
    const loaded = changes.changed.length ? await loadedFiles(channel) : undefined;
    const swapped: string[] = [];
    for (const name of changes.changed) {
        const file = certificatePath(i.layout, name);
        if (!loaded?.includes(file)) continue;
        await hotSwap(channel, file, i.certificates[name]);
        swapped.push(name);
        progress(`tls: certificate ${name} swapped in HAProxy over the runtime API (no reload)`);
    }
    const written: string[] = [];
    for (const [name, pem] of Object.entries(i.certificates)) {
        const file = certificatePath(i.layout, name);
        // Written every time: a file lost (an instance rebuilt) comes back with the next up.
        await writeHostFile(i.host, file, pem);
        written.push(name);
    }
    const gone = [...new Set([...changes.removed, ...pending])].filter((n) => !(n in i.certificates)).sort();
    const config = gone.length ? ((await readHostFile(i.host, i.layout.configPath)) ?? "") : "";
    const removed: string[] = [];
    const kept: string[] = [];
    for (const name of gone) {
        const file = certificatePath(i.layout, name);
        if (config.includes(`crt ${file}`)) {
            progress(`tls: keeping ${file} while HAProxy's config still loads it; the next up removes it`);
            kept.push(name);
            continue;
        }
        await removeHostFile(i.host, file);
        removed.push(name);
    }
    if (written.length) progress(`tls: ${written.length} certificate file(s) on ${describeHost(i.host)} (0600)`);
    if (i.acmeDomains?.length) await ensureAcmeFiles(i.host, i.layout, i.acmeDomains);
    return { written, swapped, removed, kept };
}

/**
 * What a config with bluegreen:tls.acme loads: the certificate file (a one-day self-signed
 * placeholder until the first order: HAProxy does not start on a missing `crt`) and an empty
 * challenge map. Never overwrites either.
 */
export async function ensureAcmeFiles(host: HaproxyHost, layout: HaproxyLayout, domains: readonly string[]): Promise<void> {
    const file = certificatePath(layout, ACME_CERTIFICATE);
    if ((await readHostFile(host, file)) === undefined) {
        await writeHostFile(host, file, await placeholderBundle(domains));
        progress(`acme: a one-day self-signed placeholder for ${domains.join(", ")} until the first certificate is issued`);
    }
    const map = challengeMapPath(layout);
    if ((await readHostFile(host, map)) === undefined) await writeHostFile(host, map, "");
}

/** Removes every certificate file; nothing to do when the HAProxy instance is already gone. */
export async function removeCertificates(i: CertificatesInputs): Promise<void> {
    if ((await hostState(i.host)) === "absent") return;
    for (const name of Object.keys(i.certificates)) await removeHostFile(i.host, certificatePath(i.layout, name));
}

/** Whether every file is on the HAProxy host; false when that cannot be read (a replaced or absent instance), so the next up writes them. */
export async function certificatesPresent(i: CertificatesInputs): Promise<boolean> {
    try {
        for (const name of Object.keys(i.certificates)) if (!(await hostPathExists(i.host, certificatePath(i.layout, name)))) return false;
        return true;
    } catch {
        return false;
    }
}
