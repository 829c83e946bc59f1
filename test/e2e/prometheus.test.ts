// A real Prometheus (Debian's package) on loopback, scraping two real example apps
// (example-app/server.js under node), one healthy and one built with broken: errors,
// under a little real load: ensurePrometheus, file_sd targets from writeTargets, the
// default SLI queries, and runAnalysis's verdicts. Scrape interval 1 s, windows of
// a few seconds, ports 19700-19799.

import assert from "node:assert/strict";
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { run } from "../../components/io/exec";
import { poll } from "../../components/io/poll";
import { prometheusClient } from "../../components/io/prometheus";
import { DEFAULT_QUERIES, InstantValue, Selector, lookbackSeconds, renderQuery } from "../../components/model/rollout/promql";
import { prometheusLayout } from "../../components/model/rollout/prometheusConfig";
import { runAnalysis } from "../../components/release/rollout/analysis";
import { ensurePrometheus, isOurPrometheus, stopPrometheus, writeTargets } from "../../components/release/rollout/prometheus";
import { setEnv } from "../helpers/tmp";

const SERVER_JS = path.resolve(__dirname, "..", "..", "example-app", "server.js");
/** Fixed, so a re-run after a killed run finds (and stops) the Prometheus it left. */
const BASE = "/tmp/bluegreen-sli-e2e-prometheus";
const DIR = `${BASE}/prometheus`;
const OTHER_DIR = `${BASE}/other-prometheus`;
const PROM_PORT = 19790;
const EXPORTER_PORT = 19797; // nothing listens: HAProxy's job is simply down here
const HEALTHY = { port: 19701, component: "backend", color: "blue", node: 1, release: "aaa1001" };
const BROKEN = { port: 19702, component: "backend", color: "green", node: 2, release: "dead1003", broken: "errors" };
const SCRAPE_S = 1;
const LOOKBACK_S = lookbackSeconds(1, SCRAPE_S); // 4 s: four scrapes
const THRESHOLDS = { p95Seconds: 0.5, errorRatio: 0.005, minRequests: 10 };
const URL_ = `http://127.0.0.1:${PROM_PORT}`;

const selectorOf = (a: { component: string; color: string; node: number }): Selector => ({ component: a.component, color: a.color, node: String(a.node) });

/** Stops an app a killed run left behind (its pid file, if that pid still runs our copy of server.js). */
function stopLeftoverApp(port: number): void {
    const dir = `${BASE}/app-${port}`;
    try {
        const pid = Number(fs.readFileSync(`${dir}/pid`, "utf8"));
        if (fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`${dir}/server.js`)) process.kill(pid, "SIGKILL");
    } catch {
        // no pid file, or the process is gone
    }
}

async function startApp(a: typeof HEALTHY & { broken?: string }): Promise<ChildProcess> {
    const dir = `${BASE}/app-${a.port}`;
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(SERVER_JS, path.join(dir, "server.js"));
    fs.writeFileSync(path.join(dir, "release.json"), JSON.stringify({ release: a.release, ...(a.broken ? { broken: a.broken } : {}) }));
    const c = spawn(process.execPath, [path.join(dir, "server.js")], {
        env: { ...process.env, PORT: String(a.port), HOST: "127.0.0.1", BLUEGREEN_COLOR: a.color, BLUEGREEN_COMPONENT: a.component },
        stdio: ["ignore", "pipe", "pipe"],
    });
    fs.writeFileSync(`${dir}/pid`, String(c.pid));
    let out = "";
    await new Promise<void>((resolve, reject) => {
        c.stdout!.on("data", (b: Buffer) => {
            out += b.toString("utf8");
            if (out.includes("listening on")) resolve();
        });
        c.stderr!.on("data", (b: Buffer) => (out += b.toString("utf8")));
        c.once("exit", (code) => reject(new Error(`example app on ${a.port} exited ${code}:\n${out}`)));
    });
    return c;
}

/** About 25 requests a second to `port` until stopped; bounded in count. */
function drive(port: number, stop: { stopped: boolean }): Promise<void> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    return (async () => {
        for (let i = 0; i < 5000 && !stop.stopped; i++) {
            await new Promise<void>((resolve) => {
                const req = http.get({ host: "127.0.0.1", port, path: `/api/load/${i}`, agent }, (res) => {
                    res.resume();
                    res.on("end", () => resolve());
                });
                req.on("error", () => resolve());
                req.setTimeout(2000, () => req.destroy());
            });
            await new Promise((r) => setTimeout(r, 40));
        }
        agent.destroy();
    })();
}

function value(v: InstantValue): number {
    assert.equal(v.kind, "number", JSON.stringify(v));
    return (v as { value: number }).value;
}

describe("e2e: a real Prometheus and the SLI analysis", function () {
    this.timeout(60_000);
    const client = prometheusClient({ url: URL_ });
    const apps: ChildProcess[] = [];
    const stop = { stopped: false };
    const load: Promise<void>[] = [];
    let restoreEnv: () => void;

    before(async () => {
        restoreEnv = setEnv({ BLUEGREEN_QUIET: "1" });
        // What a previous run that was killed left behind.
        await stopPrometheus(DIR);
        for (const a of [HEALTHY, BROKEN]) stopLeftoverApp(a.port);
        fs.rmSync(BASE, { recursive: true, force: true });
        fs.mkdirSync(BASE, { recursive: true });
        apps.push(await startApp(HEALTHY), await startApp(BROKEN));
        load.push(drive(HEALTHY.port, stop), drive(BROKEN.port, stop));
    });

    after(async () => {
        stop.stopped = true;
        await Promise.all(load);
        await stopPrometheus(DIR);
        for (const c of apps) if (c.exitCode === null) c.kill("SIGTERM");
        await Promise.all(apps.map((c) => (c.exitCode === null ? new Promise((r) => c.once("exit", r)) : undefined)));
        fs.rmSync(BASE, { recursive: true, force: true });
        restoreEnv();
    });

    it("ensurePrometheus starts the packaged Prometheus on loopback; a second call finds it running", async () => {
        const first = await ensurePrometheus({ dir: DIR, port: PROM_PORT, scrapeIntervalSeconds: SCRAPE_S, haproxyExporterPort: EXPORTER_PORT });
        assert.equal(first.started, true);
        assert.equal(first.url, URL_);
        assert.ok(isOurPrometheus(first.pid, first.layout.configFile));
        const argv = fs.readFileSync(`/proc/${first.pid}/cmdline`, "utf8").split("\0");
        assert.deepEqual(argv.slice(argv.indexOf("--web.listen-address"), argv.indexOf("--web.listen-address") + 2), [
            "--web.listen-address",
            `127.0.0.1:${PROM_PORT}`,
        ]);
        assert.equal(fs.readFileSync(first.layout.pidFile, "utf8").trim(), String(first.pid));
        assert.ok(fs.existsSync(path.join(first.layout.dataDir, "wal")), "its TSDB is in our directory");
        console.log(`      Prometheus ready ${first.readyAfterMs} ms after launch`);
        assert.deepEqual((await client.ready()).ready, true);

        const again = await ensurePrometheus({ dir: DIR, port: PROM_PORT, scrapeIntervalSeconds: SCRAPE_S, haproxyExporterPort: EXPORTER_PORT });
        assert.deepEqual([again.started, again.reloaded, again.pid], [false, false, first.pid]);
    });

    it("promtool accepts the rendered config", async () => {
        const r = await run({ argv: ["promtool", "check", "config", prometheusLayout(DIR).configFile], timeoutMs: 20_000 });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout + r.stderr, /SUCCESS/);
    });

    it("a changed config is reloaded, not restarted", async () => {
        const pid = fs.readFileSync(prometheusLayout(DIR).pidFile, "utf8").trim();
        const status = async () => {
            const r = await fetch(`${URL_}/api/v1/status/config`).then((x) => x.json() as Promise<{ data: { yaml: string } }>);
            return r.data.yaml.match(/scrape_interval: (\S+)/)?.[1];
        };
        const slower = await ensurePrometheus({ dir: DIR, port: PROM_PORT, scrapeIntervalSeconds: 2, haproxyExporterPort: EXPORTER_PORT });
        assert.deepEqual([slower.started, slower.reloaded, String(slower.pid)], [false, true, pid]);
        assert.equal(await status(), "2s");
        const back = await ensurePrometheus({ dir: DIR, port: PROM_PORT, scrapeIntervalSeconds: SCRAPE_S, haproxyExporterPort: EXPORTER_PORT });
        assert.equal(back.reloaded, true);
        assert.equal(await status(), "1s");
    });

    it("targets written by writeTargets are picked up without a restart", async () => {
        const started = Date.now();
        const w = writeTargets(DIR, [HEALTHY, BROKEN]);
        assert.equal(w.changed, true);
        assert.equal(writeTargets(DIR, [BROKEN, HEALTHY]).changed, false, "the same targets leave the file alone");
        const up = await poll(
            async () => {
                const v = await client.query('count(up{job="bluegreen-app"} == 1)');
                return v.kind === "number" && v.value === 2 ? v.value : undefined;
            },
            { intervalMs: 200, timeoutMs: 20_000 },
        );
        assert.equal(up, 2, "both app targets up");
        console.log(`      file_sd targets scraped ${Date.now() - started} ms after writeTargets`);
        const labels = await client.query('count(up{job="bluegreen-app",component="backend",color="green",node="2"})');
        assert.deepEqual(labels, { kind: "number", value: 1 }, "target labels component, color, node");
    });

    it("the default queries return numbers for the healthy app", async () => {
        const q = (t: string) => renderQuery(t, { selector: selectorOf(HEALTHY), windowSeconds: LOOKBACK_S });
        // Enough scrapes for a rate over the lookback.
        const enough = await poll(
            async () => {
                const v = await client.query(q(DEFAULT_QUERIES.requests));
                return v.kind === "number" && v.value >= 20 ? v.value : undefined;
            },
            { intervalMs: 250, timeoutMs: 20_000 },
        );
        assert.ok(enough !== undefined, "requests counted");
        const t = Date.now();
        const [p95, ratio, requests] = await Promise.all([
            client.query(q(DEFAULT_QUERIES.p95)),
            client.query(q(DEFAULT_QUERIES.errorRatio)),
            client.query(q(DEFAULT_QUERIES.requests)),
        ]);
        console.log(`      three SLI queries in ${Date.now() - t} ms`);
        assert.ok(value(p95) > 0 && value(p95) < 0.5, `p95 ${value(p95)}`);
        assert.equal(value(ratio), 0, "no 5xx: 0, not no data (or vector(0))");
        assert.ok(value(requests) >= 20, `requests ${value(requests)}`);
    });

    it("the client tells NaN, an empty result and a Prometheus error apart on the real server", async () => {
        assert.deepEqual(await client.query("vector(0) / 0"), { kind: "nan" });
        assert.deepEqual(await client.query("bluegreen_no_such_metric"), { kind: "empty" });
        const bad = await client.query("sum((");
        assert.equal(bad.kind, "error");
        assert.match(
            (bad as { message: string }).message,
            new RegExp(`^query sum\\(\\( at ${URL_}/api/v1/query: Prometheus answered HTTP 400 \\(bad_data\\): `),
        );
    });

    it("runAnalysis: the healthy app is green over its window", async () => {
        const r = await runAnalysis({
            client,
            queries: DEFAULT_QUERIES,
            selector: selectorOf(HEALTHY),
            thresholds: THRESHOLDS,
            windowSeconds: 3,
            probeIntervalSeconds: 1,
            lookbackSeconds: LOOKBACK_S,
            label: "healthy",
        });
        assert.equal(r.verdict, "green", r.reasons.join("\n"));
        assert.equal(r.probes.length, 3);
        for (const p of r.probes) assert.ok(p.p95! < 0.5 && p.errorRatio === 0 && p.requests! >= 10, JSON.stringify(p));
    });

    it("runAnalysis: the app built with broken: errors is red on its error ratio at the first probe", async () => {
        const r = await runAnalysis({
            client,
            queries: DEFAULT_QUERIES,
            selector: selectorOf(BROKEN),
            thresholds: THRESHOLDS,
            windowSeconds: 5,
            probeIntervalSeconds: 1,
            lookbackSeconds: LOOKBACK_S,
            label: "broken",
        });
        assert.equal(r.verdict, "red");
        assert.equal(r.probes.length, 1, "the first red probe ends it");
        const p = r.probes[0];
        assert.ok(p.errorRatio! > 0.2 && p.errorRatio! < 0.4, `about 30% errors: ${p.errorRatio}`);
        assert.deepEqual(p.reasons.length, 1, p.reasons.join("; "));
        assert.match(r.reasons[0], /^broken: probe 1\/5 at .* is red \(.*\): error ratio \d+(\.\d+)?% is above the threshold of 0\.5%$/);
    });

    it("runAnalysis: a selector with no targets is red, no data", async () => {
        const r = await runAnalysis({
            client,
            queries: DEFAULT_QUERIES,
            selector: { component: "backend", color: "blue", node: "9" },
            thresholds: THRESHOLDS,
            windowSeconds: 5,
            probeIntervalSeconds: 1,
            lookbackSeconds: LOOKBACK_S,
            label: "nobody",
        });
        assert.equal(r.verdict, "red");
        assert.equal(r.probes.length, 1);
        assert.deepEqual(r.probes[0].reasons, [
            "requests: no data (the query returned nothing, or failed)",
            "p95: no data (the query returned nothing, or failed)",
            "error ratio: no data (the query returned nothing, or failed)",
        ]);
    });

    it("runAnalysis: real traffic below minRequests is red, too thin to judge", async () => {
        const r = await runAnalysis({
            client,
            queries: DEFAULT_QUERIES,
            selector: selectorOf(HEALTHY),
            thresholds: { ...THRESHOLDS, minRequests: 100_000 },
            windowSeconds: 1,
            probeIntervalSeconds: 1,
            lookbackSeconds: LOOKBACK_S,
            label: "thin",
        });
        assert.equal(r.verdict, "red");
        assert.match(r.reasons[0], /traffic too thin to judge: \d+(\.\d)? requests in the window, at least 100000 needed$/);
    });

    it("a changed port restarts it on the new port", async () => {
        const old = Number(fs.readFileSync(prometheusLayout(DIR).pidFile, "utf8"));
        const moved = await ensurePrometheus({ dir: DIR, port: PROM_PORT + 1, scrapeIntervalSeconds: SCRAPE_S, haproxyExporterPort: EXPORTER_PORT });
        assert.equal(moved.started, true);
        assert.notEqual(moved.pid, old);
        assert.equal(isOurPrometheus(old, prometheusLayout(DIR).configFile), false, "the old process is gone");
        assert.equal((await prometheusClient({ url: moved.url }).ready()).ready, true);
        assert.equal((await client.ready()).ready, false, "nothing on the old port");
        const back = await ensurePrometheus({ dir: DIR, port: PROM_PORT, scrapeIntervalSeconds: SCRAPE_S, haproxyExporterPort: EXPORTER_PORT });
        assert.equal(back.started, true);
    });

    it("refuses to start a second Prometheus on a port another one answers on", async () => {
        await assert.rejects(
            ensurePrometheus({ dir: OTHER_DIR, port: PROM_PORT, scrapeIntervalSeconds: SCRAPE_S, haproxyExporterPort: EXPORTER_PORT }),
            (e: Error) => {
                assert.equal(e.name, "RefusedError");
                assert.match(
                    e.message,
                    new RegExp(`a Prometheus that bluegreen did not start from ${OTHER_DIR} already answers on 127\\.0\\.0\\.1:${PROM_PORT}`),
                );
                return true;
            },
        );
        assert.equal(fs.existsSync(prometheusLayout(OTHER_DIR).pidFile), false, "nothing started");
    });

    it("stopPrometheus stops it (a second stop is a no-op); a restart keeps its data", async () => {
        const before = await client.query('count_over_time(up{job="bluegreen-app",node="1"}[1m])');
        const stopped = await stopPrometheus(DIR);
        assert.equal(stopped.stopped, true);
        assert.equal(isOurPrometheus(stopped.pid!, prometheusLayout(DIR).configFile), false);
        assert.equal((await client.ready()).ready, false);
        assert.deepEqual(await stopPrometheus(DIR), { stopped: false });
        const again = await ensurePrometheus({ dir: DIR, port: PROM_PORT, scrapeIntervalSeconds: SCRAPE_S, haproxyExporterPort: EXPORTER_PORT });
        assert.equal(again.started, true);
        const after = await client.query('count_over_time(up{job="bluegreen-app",node="1"}[1m])');
        assert.ok(value(after) >= value(before), `samples from before the restart are still there: ${value(before)} then ${value(after)}`);
    });
});
