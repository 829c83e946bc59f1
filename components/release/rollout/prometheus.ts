// The Prometheus the program runs on the dev host (Debian's package, started by hand:
// there is no systemd and the package's postinst starts nothing), and the file_sd
// target list it scrapes. On staging and prod an operator's server scrapes the same
// target file (see the README's scrape job); there the program only writes targets.
//
// Everything lives in one directory the caller chooses (`/var/lib/<app>/<stack>/prometheus`),
// laid out by model/rollout/prometheusConfig.ts's prometheusLayout.

import * as fs from "fs";
import { startDetached } from "../../io/exec";
import { poll, sleep } from "../../io/poll";
import { progress } from "../../io/progress";
import { PrometheusClient, prometheusClient } from "../../io/prometheus";
import { writeFileAtomic } from "../../io/tmp";
import { refusal } from "../../model/errors";
import {
    PrometheusInstance,
    PrometheusLayout,
    ScrapeTarget,
    prometheusLayout,
    renderPrometheusConfig,
    renderTargets,
} from "../../model/rollout/prometheusConfig";
import { loopbackAddress, loopbackUrl } from "../../model/traffic/topology";

export interface PrometheusInputs {
    /** Holds prometheus.yml, data/, targets/, the pid file and the log. */
    readonly dir: string;
    /** Loopback port of its web API. */
    readonly port: number;
    readonly scrapeIntervalSeconds: number;
    readonly haproxyExporterPort: number;
    /** Bound on waiting for /-/ready after a start. Default 30000 (measured: ready 0.25 s after launch). */
    readonly readyTimeoutMs?: number;
}

export interface PrometheusState {
    /** `http://127.0.0.1:<port>`, for prometheusClient. */
    readonly url: string;
    readonly pid: number;
    /** True when this call started the process; false when it was already running. */
    readonly started: boolean;
    /** True when it was running and the config changed, so it was reloaded. */
    readonly reloaded: boolean;
    /** From launch to /-/ready answering 200, when this call started it. */
    readonly readyAfterMs?: number;
    readonly layout: PrometheusLayout;
}

/** Pure: how Prometheus is started. Everything in `layout`, nothing under /var/lib/prometheus or /etc/prometheus. */
export function prometheusArgv(layout: PrometheusLayout, port: number): string[] {
    return [
        "prometheus",
        "--config.file",
        layout.configFile,
        "--storage.tsdb.path",
        layout.dataDir,
        "--web.listen-address",
        loopbackAddress(port),
        // No --web.enable-lifecycle: unauthenticated, it lets any local user stop the server
        // mid-window (a canary then goes red). A changed config is reloaded by SIGHUP instead.
    ];
}

/**
 * Reloads a running Prometheus by SIGHUP: done when the config it reports changes; failed
 * when its reload metric turns 0 (it keeps the old config), or when nothing changes in time.
 */
export async function reloadBySignal(
    client: PrometheusClient,
    signal: () => void | Promise<void>,
    timeoutMs: number,
): Promise<{ readonly ok: boolean; readonly detail: string }> {
    const [before, metric] = await Promise.all([client.loadedConfig(), client.lastReloadOk()]);
    if (before.yaml === undefined) return { ok: false, detail: before.detail };
    await signal();
    let detail = `no reload seen within ${timeoutMs} ms`;
    const outcome = await poll(
        async () => {
            const [now, ok] = await Promise.all([client.loadedConfig(), client.lastReloadOk()]);
            if (now.yaml !== undefined && now.yaml !== before.yaml) return "reloaded" as const;
            // Only a change to 0 is news: a reload that failed earlier left it 0.
            if (metric.ok === true && ok.ok === false) {
                detail = ok.detail;
                return "refused" as const;
            }
            return undefined;
        },
        { intervalMs: 100, timeoutMs },
    );
    return outcome === "reloaded" ? { ok: true, detail: "reloaded" } : { ok: false, detail };
}

function readPid(file: string): number | undefined {
    try {
        const n = Number(fs.readFileSync(file, "utf8").trim());
        return Number.isInteger(n) && n > 0 ? n : undefined;
    } catch {
        return undefined;
    }
}

/**
 * True when `pid` is a live Prometheus started with this config file; a pid file left
 * by a process that died, and a pid the kernel has since given to another process, are not.
 */
export function isOurPrometheus(pid: number, configFile: string): boolean {
    const argv = cmdline(pid);
    if (!argv) return false;
    const i = argv.indexOf("--config.file");
    return (argv[i + 1] === configFile && i >= 0) || argv.includes(`--config.file=${configFile}`);
}

function cmdline(pid: number): string[] | undefined {
    try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0$/, "").split("\0");
    } catch {
        return undefined;
    }
}

function logTail(layout: PrometheusLayout, lines = 15): string {
    try {
        const text = fs.readFileSync(layout.logFile, "utf8").trimEnd();
        return text ? `; last log lines (${layout.logFile}):\n${text.split("\n").slice(-lines).join("\n")}` : "";
    } catch {
        return "";
    }
}

async function waitReady(url: string, pid: number, layout: PrometheusLayout, timeoutMs: number): Promise<void> {
    const client = prometheusClient({ url, timeoutMs: 1000 });
    let last = "not asked";
    const outcome = await poll(
        async () => {
            if (!isOurPrometheus(pid, layout.configFile)) return "exited" as const;
            const r = await client.ready();
            last = r.detail;
            return r.ready ? ("ready" as const) : undefined;
        },
        { intervalMs: 100, timeoutMs },
    );
    if (outcome === "ready") return;
    const what = outcome === "exited" ? `exited before it was ready` : `was not ready within ${timeoutMs} ms (${last})`;
    throw new Error(`Prometheus (pid ${pid}, ${url}) ${what}${logTail(layout)}`);
}

/**
 * Makes sure this directory's Prometheus runs with the current config; idempotent.
 * Running already (a live pid in the pid file, started with this config file): nothing,
 * or a reload when the config changed. Not running: starts it detached, so it outlives
 * this process, and waits for /-/ready. Refuses when another server already answers on
 * the port, since queries would then judge someone else's data.
 */
export async function ensurePrometheus(i: PrometheusInputs): Promise<PrometheusState> {
    const layout = prometheusLayout(i.dir);
    const url = loopbackUrl(i.port, "").replace(/\/$/, "");
    for (const d of [layout.dir, layout.dataDir, layout.targetsDir]) fs.mkdirSync(d, { recursive: true, mode: 0o755 });
    const config = renderPrometheusConfig({ layout, scrapeIntervalSeconds: i.scrapeIntervalSeconds, haproxyExporterPort: i.haproxyExporterPort });
    const current = fs.existsSync(layout.configFile) ? fs.readFileSync(layout.configFile, "utf8") : undefined;
    const changed = current !== config;
    if (changed) writeFileAtomic(layout.configFile, config);
    const timeoutMs = i.readyTimeoutMs ?? 30_000;

    let pid = readPid(layout.pidFile);
    const argv = prometheusArgv(layout, i.port);
    if (pid !== undefined && isOurPrometheus(pid, layout.configFile) && cmdline(pid)?.join(" ") !== argv.join(" ")) {
        // Started with other flags (another port): only a restart changes them.
        progress(`prometheus: pid ${pid} runs with other flags than ${argv.slice(1).join(" ")}; restarting it`);
        await stopPrometheus(layout.dir);
        pid = undefined;
    }
    if (pid !== undefined && isOurPrometheus(pid, layout.configFile)) {
        let reloaded = false;
        if (changed && current !== undefined) {
            const r = await reloadBySignal(prometheusClient({ url, timeoutMs: 5000 }), () => void process.kill(pid, "SIGHUP"), 10_000);
            if (!r.ok) {
                // Put the config it runs back, so the next run tries the reload again.
                writeFileAtomic(layout.configFile, current);
                throw new Error(
                    `Prometheus (pid ${pid}) refused its new config, and keeps running the old one (${layout.configFile}): ${r.detail}${logTail(layout)}`,
                );
            }
            progress(`prometheus: config changed, reloaded (pid ${pid})`);
            reloaded = true;
        }
        await waitReady(url, pid, layout, timeoutMs);
        return { url, pid, started: false, reloaded, layout };
    }

    const someone = await prometheusClient({ url, timeoutMs: 1000 }).ready();
    if (someone.ready) {
        throw refusal({
            what: `a Prometheus that bluegreen did not start from ${layout.dir} already answers on ${loopbackAddress(i.port)} (${layout.pidFile} names no live process of it)`,
            next: [`stop that server`, `set bluegreen:prometheus.port to a free port`, `set bluegreen:prometheus.url to use that server as your own`],
            untouched: "Nothing was started",
        });
    }
    fs.rmSync(layout.pidFile, { force: true });
    progress(`prometheus: starting on ${loopbackAddress(i.port)} (log: ${layout.logFile})`);
    const launched = Date.now();
    const newPid = startDetached(argv, layout.logFile);
    writeFileAtomic(layout.pidFile, `${newPid}\n`);
    await waitReady(url, newPid, layout, timeoutMs);
    const readyAfterMs = Date.now() - launched;
    progress(`prometheus: ready after ${readyAfterMs} ms (pid ${newPid})`);
    return { url, pid: newPid, started: true, reloaded: false, readyAfterMs, layout };
}

/**
 * Replaces the file_sd target list atomically (temp file and rename: Prometheus reads
 * files the moment inotify reports them, and measured parse errors on in-place writes).
 * Unchanged targets leave the file alone. Prometheus picks a change up within about
 * 5 s (its discovery manager batches updates), then scrapes on its next interval.
 */
export function writeTargets(dir: string, targets: readonly ScrapeTarget[]): { readonly file: string; readonly changed: boolean } {
    const layout = prometheusLayout(dir);
    const content = renderTargets(targets);
    const current = fs.existsSync(layout.targetsFile) ? fs.readFileSync(layout.targetsFile, "utf8") : undefined;
    if (current === content) return { file: layout.targetsFile, changed: false };
    fs.mkdirSync(layout.targetsDir, { recursive: true, mode: 0o755 });
    // Readable: an operator's Prometheus (another user) reads it.
    writeFileAtomic(layout.targetsFile, content, 0o644);
    return { file: layout.targetsFile, changed: true };
}

/** Stops this directory's Prometheus (SIGTERM, SIGKILL after `timeoutMs`); a no-op when it is not running. Keeps its data. */
export async function stopPrometheus(dir: string, timeoutMs = 10_000): Promise<{ readonly stopped: boolean; readonly pid?: number }> {
    const layout = prometheusLayout(dir);
    const pid = readPid(layout.pidFile);
    if (pid === undefined || !isOurPrometheus(pid, layout.configFile)) {
        fs.rmSync(layout.pidFile, { force: true });
        return { stopped: false };
    }
    process.kill(pid, "SIGTERM");
    const gone = await poll(async () => (isOurPrometheus(pid, layout.configFile) ? undefined : true), { intervalMs: 50, timeoutMs });
    if (!gone) {
        process.kill(pid, "SIGKILL");
        await sleep(100);
        progress(`prometheus: pid ${pid} ignored SIGTERM for ${timeoutMs} ms; killed`);
    }
    fs.rmSync(layout.pidFile, { force: true });
    progress(`prometheus: stopped (pid ${pid})`);
    return { stopped: true, pid };
}

/** The Prometheus resource's inputs: what is scraped, and the server of ours, unless `url` names the operator's. */
export interface ScrapingInputs extends Omit<PrometheusInputs, "readyTimeoutMs"> {
    /** bluegreen:prometheus.url: an operator's server reads the targets file; the program runs none. */
    readonly url?: string;
    /** Every node of every pool of the colors present. */
    readonly targets: readonly ScrapeTarget[];
    /** prometheus.placement: incus: the server runs in this (the HAProxy) instance; `dir` is unused (release/rollout/prometheusInstance.ts). */
    readonly instance?: PrometheusInstance;
}

export interface ScrapingOutputs extends ScrapingInputs {
    /** Where the SLI queries go. */
    readonly serverUrl: string;
    readonly targetsFile: string;
}

/** Whether this directory's own Prometheus runs (a live pid in its pid file, started with its config). */
export function prometheusRunning(dir: string): boolean {
    const layout = prometheusLayout(dir);
    const pid = readPid(layout.pidFile);
    return pid !== undefined && isOurPrometheus(pid, layout.configFile);
}

/** Pure-ish: why an `up` must touch the scraping although its inputs did not change; undefined when nothing drifted. */
export function scrapingDrift(i: ScrapingInputs): string | undefined {
    const layout = prometheusLayout(i.dir);
    const current = fs.existsSync(layout.targetsFile) ? fs.readFileSync(layout.targetsFile, "utf8") : undefined;
    if (current !== renderTargets(i.targets)) return `${layout.targetsFile} does not list the pools' nodes`;
    if (!i.url && !prometheusRunning(i.dir)) return `Prometheus is not running from ${layout.dir}`;
    return undefined;
}

/** Writes the targets, then makes sure our own server runs (none with `url`). Idempotent. */
export async function ensureScraping(i: ScrapingInputs): Promise<ScrapingOutputs> {
    const written = writeTargets(i.dir, i.targets);
    if (written.changed) progress(`prometheus: ${i.targets.length} scrape targets written to ${written.file}`);
    if (i.url) return { ...i, serverUrl: i.url, targetsFile: written.file };
    const p = await ensurePrometheus(i);
    return { ...i, serverUrl: p.url, targetsFile: written.file };
}

/** Stops our server (its data stays) and removes the targets, so an operator's server stops scraping them too. */
export async function removeScraping(props: ScrapingInputs): Promise<void> {
    if (!props.url) await stopPrometheus(props.dir);
    fs.rmSync(prometheusLayout(props.dir).targetsFile, { force: true });
}
