// prometheus.placement: incus. The program's own Prometheus runs inside the stack's HAProxy
// instance (model/rollout/prometheusConfig.ts says why there), started and signalled by dpkg's
// start-stop-daemon through `incus exec`, whose exit codes are reliable (its output is not:
// files are read with `incus file pull`). Every call has the incus CLI's deadline. Files that
// matter are pushed beside their place and renamed, so a kill mid-way leaves old or new.

import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { Cmd, cmdError, run, runOrThrow } from "../../io/exec";
import { addDeviceCmd, execCmd, filePushCmd, getInstance, readInstanceFile, removeDeviceCmd, runIdempotentOrThrow, serverAddress } from "../../io/incus";
import { poll } from "../../io/poll";
import { progress } from "../../io/progress";
import { prometheusClient } from "../../io/prometheus";
import { withTempDir } from "../../io/tmp";
import { refusal } from "../../model/errors";
import {
    INSTANCE_PROMETHEUS_ARGV,
    INSTANCE_PROMETHEUS_BIN,
    INSTANCE_PROMETHEUS_BIN_SUM,
    INSTANCE_PROMETHEUS_DIR,
    PROMETHEUS_DEVICE,
    PrometheusInstance,
    ScrapeTarget,
    instancePrometheusArgv,
    partsSweepArgv,
    prometheusDevice,
    prometheusLayout,
    prometheusListenAddress,
    prometheusServerUrl,
    renderPrometheusConfig,
    renderTargets,
    ssdArgv,
} from "../../model/rollout/prometheusConfig";
import { IncusTarget, incusTarget } from "../../model/traffic/topology";
import { ScrapingInputs, ScrapingOutputs, reloadBySignal } from "./prometheus";

export interface InstancePrometheusInputs {
    readonly instance: PrometheusInstance;
    readonly port: number;
    readonly scrapeIntervalSeconds: number;
    readonly haproxyExporterPort: number;
    readonly readyTimeoutMs?: number;
}

/** The binary pushed into the instance: Debian's package on this host (static: it needs only libc). */
export const HOST_PROMETHEUS_BIN = "/usr/bin/prometheus";

const LAYOUT = prometheusLayout(INSTANCE_PROMETHEUS_DIR);

function targetOf(i: PrometheusInstance): IncusTarget {
    return incusTarget(i.remote);
}

/** With a remote, the remote's own address, where the device listens; none locally (loopback). */
export async function instanceListenHost(i: PrometheusInstance): Promise<string | undefined> {
    return i.remote ? serverAddress(targetOf(i)) : undefined;
}

function where(i: PrometheusInstance): string {
    return `instance ${i.remote ? `${i.remote}:` : ""}${i.name}`;
}

/** Runs argv in the instance; its exit code (output is not trusted, see io/incus.ts execCmd). */
async function execCode(i: PrometheusInstance, argv: readonly string[]): Promise<number> {
    return (await run(execCmd(targetOf(i), i.name, argv))).code;
}

async function execOrThrow(i: PrometheusInstance, argv: readonly string[], context: string): Promise<void> {
    const cmd: Cmd = execCmd(targetOf(i), i.name, argv);
    const r = await run(cmd);
    if (r.code !== 0) throw cmdError(cmd, r, `${context} in ${where(i)}`);
}

/**
 * Pushes a file beside `dest` and renames it into place (the rename is atomic; a push is not).
 * The part's name is this call's own: a push orphaned by a killed runner may still be writing its.
 */
async function pushAtomic(i: PrometheusInstance, dest: string, content: string | Buffer | { file: string }, mode: string): Promise<void> {
    const part = path.posix.join(path.posix.dirname(dest), `.${path.posix.basename(dest)}.${crypto.randomBytes(6).toString("hex")}.part`);
    await withTempDir(async (dir) => {
        let local: string;
        if (typeof content === "object" && "file" in content && !Buffer.isBuffer(content)) local = content.file;
        else {
            local = path.join(dir, "f");
            fs.writeFileSync(local, content, { mode: 0o600 });
        }
        await runIdempotentOrThrow(filePushCmd(targetOf(i), i.name, local, part, mode), `cannot push ${dest} to ${where(i)}`);
    });
    await execOrThrow(i, ["mv", "-f", part, dest], `cannot move ${part} to ${dest}`);
}

async function pull(i: PrometheusInstance, file: string): Promise<string | undefined> {
    return readInstanceFile(targetOf(i), i.name, file);
}

function sha256File(file: string): string {
    return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/**
 * start-stop-daemon --status: 0 running, 1 or 3 not, 4 unknown (no binary yet). An incus error
 * also reads as not running; a start then meets the running one, and start-stop-daemon refuses.
 */
async function isRunning(i: PrometheusInstance): Promise<boolean> {
    return (await execCode(i, ssdArgv("status"))) === 0;
}

async function stop(i: PrometheusInstance): Promise<void> {
    // Without the binary (none pushed yet) start-stop-daemon cannot match, and nothing of ours runs.
    if (!(await isRunning(i))) return;
    // --retry TERM/10/KILL/2 waits at most 12 s; the exec's own deadline is above that.
    await execOrThrow(i, ssdArgv("stop"), "cannot stop Prometheus");
}

/** The instance, running; a missing or stopped one is the HAProxy resource's to fix first. */
async function runningInstance(i: PrometheusInstance): Promise<Readonly<Record<string, Readonly<Record<string, string>>>>> {
    const inst = await getInstance(targetOf(i), i.name);
    if (!inst || inst.status !== "Running") {
        throw refusal({
            what: `Prometheus runs in ${where(i)}, which is ${inst ? inst.status : "absent"}`,
            untouched: "Nothing was started",
            next: [
                inst
                    ? `start it with \`incus start ${i.remote ? `${i.remote}:` : ""}${i.name}\`, then run pulumi up`
                    : `run pulumi up, which creates it with HAProxy`,
            ],
        });
    }
    return inst.devices;
}

/** The proxy device the program queries through; replaced when it differs (another port). */
async function ensureDevice(
    i: PrometheusInstance,
    devices: Readonly<Record<string, Readonly<Record<string, string>>>>,
    port: number,
    address: string | undefined,
): Promise<void> {
    const want = prometheusDevice(port, address);
    const have = devices[PROMETHEUS_DEVICE];
    if (have && Object.entries(want).every(([k, v]) => have[k] === v)) return;
    if (have) await runOrThrow(removeDeviceCmd(targetOf(i), i.name, PROMETHEUS_DEVICE));
    progress(`prometheus: proxy device ${PROMETHEUS_DEVICE} on ${where(i)} listens on ${prometheusListenAddress(port, address)}`);
    await runOrThrow(addDeviceCmd(targetOf(i), i.name, PROMETHEUS_DEVICE, want), `cannot add proxy ${PROMETHEUS_DEVICE} to ${where(i)}`);
}

/** Pushes this host's binary when the instance has another (or none); stops the old one first. */
async function ensureBinary(i: PrometheusInstance): Promise<void> {
    if (!fs.existsSync(HOST_PROMETHEUS_BIN)) {
        throw new Error(`${HOST_PROMETHEUS_BIN} is missing on this host; prometheus.placement: incus pushes it into ${where(i)}. Run scripts/setup-host.sh`);
    }
    const sum = sha256File(HOST_PROMETHEUS_BIN);
    if ((await pull(i, INSTANCE_PROMETHEUS_BIN_SUM))?.trim() === sum) return;
    progress(`prometheus: pushing ${HOST_PROMETHEUS_BIN} into ${where(i)} (${Math.round(fs.statSync(HOST_PROMETHEUS_BIN).size / 1e6)} MB)`);
    await stop(i); // one running an older binary
    // What pushes cut short by a kill left (50 MB each).
    await execOrThrow(i, partsSweepArgv(), "cannot remove partial pushes");
    // Bounded by the push's own deadline (io/incus.ts filePushCmd); over a remote it is HTTPS.
    const pushed = Date.now();
    await pushAtomic(i, INSTANCE_PROMETHEUS_BIN, { file: HOST_PROMETHEUS_BIN }, "0755");
    progress(`prometheus: pushed the binary into ${where(i)} in ${((Date.now() - pushed) / 1000).toFixed(1)} s`);
    await pushAtomic(i, INSTANCE_PROMETHEUS_BIN_SUM, `${sum}\n`, "0644");
}

async function logTail(i: PrometheusInstance, lines = 15): Promise<string> {
    const text = (await pull(i, LAYOUT.logFile).catch(() => undefined))?.trimEnd();
    return text ? `; last log lines (${where(i)}:${LAYOUT.logFile}):\n${text.split("\n").slice(-lines).join("\n")}` : "";
}

async function waitReady(i: PrometheusInstance, url: string, timeoutMs: number): Promise<void> {
    const client = prometheusClient({ url, timeoutMs: 1000 });
    let last = "not asked";
    const since = Date.now();
    let said = since;
    const outcome = await poll(
        async () => {
            const r = await client.ready();
            last = r.detail;
            if (r.ready) return "ready" as const;
            if (Date.now() - said >= 5000) {
                said = Date.now();
                progress(`prometheus: waiting for it to be ready in ${where(i)} (${Math.round((said - since) / 1000)} s of ${timeoutMs / 1000} s: ${last})`);
            }
            return (await isRunning(i)) ? undefined : ("exited" as const);
        },
        { intervalMs: 250, timeoutMs },
    );
    if (outcome === "ready") return;
    const what = outcome === "exited" ? "exited before it was ready" : `was not ready within ${timeoutMs} ms (${last})`;
    throw new Error(`Prometheus in ${where(i)} (${url}) ${what}${await logTail(i)}`);
}

export interface InstancePrometheusState {
    readonly url: string;
    readonly started: boolean;
    readonly reloaded: boolean;
    readonly readyAfterMs?: number;
}

/**
 * Makes sure Prometheus runs in the instance with the current config; idempotent. Running
 * with the same flags: nothing, or a SIGHUP reload when the config changed. Else it is
 * (re)started; its data dir stays.
 */
export async function ensureInstancePrometheus(i: InstancePrometheusInputs): Promise<InstancePrometheusState> {
    const inst = i.instance;
    const address = await instanceListenHost(inst);
    const url = prometheusServerUrl(i.port, address);
    const timeoutMs = i.readyTimeoutMs ?? 30_000;
    await ensureDevice(inst, await runningInstance(inst), i.port, address);
    await ensureBinary(inst);

    const config = renderPrometheusConfig({ layout: LAYOUT, scrapeIntervalSeconds: i.scrapeIntervalSeconds, haproxyExporterPort: i.haproxyExporterPort });
    const current = await pull(inst, LAYOUT.configFile);
    const changed = current !== config;
    if (changed) await pushAtomic(inst, LAYOUT.configFile, config, "0644");

    const argv = JSON.stringify(instancePrometheusArgv(i.port));
    let running = await isRunning(inst);
    if (running && (await pull(inst, INSTANCE_PROMETHEUS_ARGV))?.trim() !== argv) {
        progress(`prometheus: the one in ${where(inst)} runs with other flags than ${argv}; restarting it`);
        await stop(inst);
        running = false;
    }
    if (running) {
        let reloaded = false;
        if (changed && current !== undefined) {
            const r = await reloadBySignal(
                prometheusClient({ url, timeoutMs: 5000 }),
                () => execOrThrow(inst, ssdArgv("reload"), "cannot signal Prometheus"),
                10_000,
            );
            if (!r.ok) {
                // Put the config it runs back, so the next run tries the reload again.
                await pushAtomic(inst, LAYOUT.configFile, current, "0644");
                throw new Error(`Prometheus in ${where(inst)} refused its new config, and keeps running the old one: ${r.detail}${await logTail(inst)}`);
            }
            progress(`prometheus: config changed, reloaded in ${where(inst)}`);
            reloaded = true;
        }
        await waitReady(inst, url, timeoutMs);
        return { url, started: false, reloaded };
    }

    const someone = await prometheusClient({ url, timeoutMs: 1000 }).ready();
    if (someone.ready) {
        throw refusal({
            what: `a Prometheus that bluegreen did not start in ${where(inst)} already answers on ${prometheusListenAddress(i.port, address)}`,
            next: [`stop that server`, `set bluegreen:prometheus.port to a free port`, `set bluegreen:prometheus.url to use that server as your own`],
            untouched: "Nothing was started",
        });
    }
    progress(`prometheus: starting in ${where(inst)}, reached on ${prometheusListenAddress(i.port, address)} (log: ${LAYOUT.logFile} there)`);
    const launched = Date.now();
    await execOrThrow(inst, ssdArgv("start", i.port), "cannot start Prometheus");
    await pushAtomic(inst, INSTANCE_PROMETHEUS_ARGV, `${argv}\n`, "0644");
    await waitReady(inst, url, timeoutMs);
    const readyAfterMs = Date.now() - launched;
    progress(`prometheus: ready in ${where(inst)} after ${readyAfterMs} ms`);
    return { url, started: true, reloaded: false, readyAfterMs };
}

/** Replaces the file_sd target list in the instance (renamed into place); unchanged targets leave it alone. */
export async function writeInstanceTargets(
    inst: PrometheusInstance,
    targets: readonly ScrapeTarget[],
): Promise<{ readonly file: string; readonly changed: boolean }> {
    const content = renderTargets(targets);
    if ((await pull(inst, LAYOUT.targetsFile)) === content) return { file: LAYOUT.targetsFile, changed: false };
    await pushAtomic(inst, LAYOUT.targetsFile, content, "0644");
    return { file: LAYOUT.targetsFile, changed: true };
}

/** Why an `up` must touch the in-instance scraping although its inputs did not change; undefined when nothing drifted. */
export async function instanceScrapingDrift(inst: PrometheusInstance, targets: readonly ScrapeTarget[]): Promise<string | undefined> {
    try {
        const devices = (await getInstance(targetOf(inst), inst.name))?.devices;
        if (!devices?.[PROMETHEUS_DEVICE]) return `${where(inst)} has no ${PROMETHEUS_DEVICE} proxy device`;
        if ((await pull(inst, LAYOUT.targetsFile)) !== renderTargets(targets)) return `${LAYOUT.targetsFile} in ${where(inst)} does not list the pools' nodes`;
        if (!(await isRunning(inst))) return `Prometheus is not running in ${where(inst)}`;
        return undefined;
    } catch (e) {
        return `cannot read Prometheus in ${where(inst)} (${(e as Error).message.split("\n")[0]})`;
    }
}

/**
 * Stops it and removes its device and targets; its data stays in the instance until the
 * instance goes (a destroy). An absent instance has nothing left to remove.
 */
export async function removeInstancePrometheus(inst: PrometheusInstance): Promise<void> {
    const found = await getInstance(targetOf(inst), inst.name);
    if (!found) return;
    if (found.status === "Running") {
        await stop(inst);
        await execOrThrow(inst, ["rm", "-f", LAYOUT.targetsFile], "cannot remove the scrape targets");
        progress(`prometheus: stopped in ${where(inst)} (its data stays in ${LAYOUT.dataDir} there)`);
    }
    if (found.devices[PROMETHEUS_DEVICE]) await runOrThrow(removeDeviceCmd(targetOf(inst), inst.name, PROMETHEUS_DEVICE));
}

/** The Prometheus resource with prometheus.placement: incus: targets first, then the server. */
export async function ensureInstanceScraping(i: ScrapingInputs & { readonly instance: PrometheusInstance }): Promise<ScrapingOutputs> {
    const written = await writeInstanceTargets(i.instance, i.targets);
    if (written.changed) progress(`prometheus: ${i.targets.length} scrape targets written to ${written.file} in ${where(i.instance)}`);
    const p = await ensureInstancePrometheus(i);
    return { ...i, serverUrl: p.url, targetsFile: written.file };
}
