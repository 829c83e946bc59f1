// Issue 20, items 6 and 7, end to end on real Incus, HAProxy and Prometheus: what hooks and
// the broadcast may see of the runner's environment, the dev host's Prometheus without its
// unauthenticated lifecycle API, private state on the HAProxy host (both placements), and
// the exit codes of `status`. Ports 21500-21599.

import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { stopPrometheus } from "../../components/release/rollout/prometheus";
import { TestStack, eventually, instance } from "../../harness/stack";

const A = "f20a001";
const B = "f20b002";
const C = "f20c003";

/** What the runner's environment holds that no hook or broadcast may see. */
const SENTINELS = {
    PULUMI_CONFIG_PASSPHRASE: "xf-passphrase-sentinel",
    BLUEGREEN_ARTIFACT_TOKEN: "xf-artifact-token-sentinel",
    FORGE_TOKEN: "xf-forge-token-sentinel",
};
const ENV = { ...SENTINELS, DEPLOY_CHANNEL: "#xf-ops" };

function mode(file: string): number {
    return fs.statSync(file).mode & 0o777;
}

function assertMinimal(envText: string, who: string): void {
    const names = envText
        .split("\n")
        .filter((l) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(l))
        .map((l) => l.slice(0, l.indexOf("=")));
    for (const [name, value] of Object.entries(SENTINELS)) {
        assert.ok(!names.includes(name), `${who} sees ${name}`);
        assert.ok(!envText.includes(value), `${who} sees the value of ${name}`);
    }
    assert.match(envText, /^DEPLOY_CHANNEL=#xf-ops$/m, `${who} sees the passEnv name`);
    assert.match(envText, /^BLUEGREEN_STACK=e2e-hard/m, `${who} sees its BLUEGREEN_* variables`);
    assert.ok(names.includes("PATH"), `${who} has a PATH`);
}

describe("e2e: secrets and permissions, and status exit codes (host placement)", function () {
    this.timeout(600_000);
    const s = new TestStack({ name: "hard", basePort: 21500 });
    const promPort = s.frontendPort + 90;
    const promUrl = `http://127.0.0.1:${promPort}`;
    const promDir = path.join(s.haproxyDir, "prometheus");
    const hookEnv = path.join(s.dir, "hook.env");
    const broadcastEnv = path.join(s.dir, "broadcast.env");
    const run = (args: readonly string[]) => s.start(args, undefined, ENV).done;
    const status = async () => {
        const r = await run(["status", "--json"]);
        return { code: r.code, json: r.stdout ? JSON.parse(r.stdout) : undefined, stderr: r.stderr };
    };

    before(async () => {
        await stopPrometheus(promDir);
        s.reset();
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/" } };
        for (const r of [A, B, C]) await s.publishOne("web", r);
        s.config.hooks = { preDeploy: `env > ${hookEnv}`, passEnv: ["DEPLOY_CHANNEL"] };
        s.config.broadcast = `env >> ${broadcastEnv}`;
        s.config.prometheus = { port: promPort, scrapeIntervalSeconds: 1 };
        s.setColors({ blue: A }, "blue");
    });
    after(async () => {
        await s.teardown();
        await stopPrometheus(promDir);
    });

    it("hooks and the broadcast get a minimal environment: no passphrase, no token; a hooks.passEnv name reaches them", async () => {
        const r = await run(["up"]);
        assert.equal(r.code, 0, r.stderr);
        assertMinimal(fs.readFileSync(hookEnv, "utf8"), "the preDeploy hook");
        assertMinimal(fs.readFileSync(broadcastEnv, "utf8"), "the broadcast");
    });

    it("the dev host's Prometheus answers its lifecycle endpoints as disabled, and keeps running", async () => {
        const pid = Number(fs.readFileSync(path.join(promDir, "prometheus.pid"), "utf8"));
        for (const endpoint of ["/-/quit", "/-/reload"]) {
            const res = await fetch(`${promUrl}${endpoint}`, { method: "POST", signal: AbortSignal.timeout(5000) });
            assert.equal(res.status, 403, `${endpoint} answered ${res.status}: ${await res.text()}`);
        }
        await new Promise((r) => setTimeout(r, 300));
        assert.equal((await fetch(`${promUrl}/-/ready`)).status, 200);
        assert.equal(Number(fs.readFileSync(path.join(promDir, "prometheus.pid"), "utf8")), pid, "the same process");
    });

    it("a config change is still reloaded in place (SIGHUP), and a new color's targets are scraped", async () => {
        const pid = fs.readFileSync(path.join(promDir, "prometheus.pid"), "utf8").trim();
        s.config.prometheus = { port: promPort, scrapeIntervalSeconds: 2 };
        s.setColors({ blue: A, green: B }, "blue");
        const r = await run(["up"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /prometheus: config changed, reloaded/);
        assert.equal(fs.readFileSync(path.join(promDir, "prometheus.pid"), "utf8").trim(), pid, "not restarted");
        const loaded = (await fetch(`${promUrl}/api/v1/status/config`).then((x) => x.json())) as { data: { yaml: string } };
        assert.match(loaded.data.yaml, /scrape_interval: 2s/);
        await eventually(
            async () => {
                const q = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent('up{job="bluegreen-app",color="green"}')}`).then((x) => x.json());
                return (q as any).data.result.length === 1;
            },
            "green's target scraped",
            20_000,
        );
    });

    it("the state dir on the HAProxy host is 0700, its files 0600, and both HAProxy sockets 0600", async () => {
        const dir = s.layout().stateDir;
        assert.equal(mode(dir).toString(8), "700", "the state dir was created by reset() as 0755: up makes it private");
        const entries = fs.readdirSync(dir, { withFileTypes: true });
        const files = entries.filter((e) => e.isFile()).map((e) => e.name);
        for (const f of ["audit.jsonl", "active-color", "history", "haproxy.cfg", "haproxy.log"]) assert.ok(files.includes(f), `${f} in ${files.join(" ")}`);
        // HAProxy writes its pid file itself (0644): a pid, in the private dir.
        for (const f of files.filter((x) => x !== "haproxy.pid")) assert.equal(mode(path.join(dir, f)).toString(8), "600", f);
        for (const sock of ["admin.sock", "master.sock"]) assert.equal(mode(path.join(dir, sock)).toString(8), "600", sock);
    });

    it("status exits 0 when all is well, 3 on drift, 5 while the lock is held, 6 while a canary is paused, 4 when a serving container is down", async () => {
        const ok = await status();
        assert.equal(ok.code, 0, `${ok.stderr}\n${JSON.stringify(ok.json?.exit)}`);
        assert.deepEqual(ok.json.exit, { code: 0, reasons: [] });
        const text = await run(["status"]);
        assert.equal(text.code, 0);
        assert.match(text.stdout, /\nexit 0: ok\n$/);

        const activeFile = path.join(s.layout().stateDir, "active-color");
        fs.writeFileSync(activeFile, "green\n");
        const drift = await status();
        assert.equal(drift.code, 3, JSON.stringify(drift.json?.exit));
        assert.match(drift.json.exit.reasons.join("\n"), /^drift: /m);
        fs.writeFileSync(activeFile, "blue\n");

        const held = await run(["lock", "acquire", "-m", "xf maintenance"]);
        assert.equal(held.code, 0, held.stderr);
        assert.equal(mode(path.join(s.layout().stateDir, "lock.json")).toString(8), "600", "lock.json");
        const locked = await status();
        assert.equal(locked.code, 5, JSON.stringify(locked.json?.exit));
        assert.match(locked.json.exit.reasons.join("\n"), /lock held: .*xf maintenance/);
        assert.equal((await run(["lock", "release"])).code, 0);

        const canary = path.join(s.layout().stateDir, "canary.json");
        fs.writeFileSync(canary, JSON.stringify({ release: A, from: A, color: "blue", phase: "paused", updatedAt: new Date().toISOString() }));
        const paused = await status();
        assert.equal(paused.code, 6, JSON.stringify(paused.json?.exit));
        fs.rmSync(canary);

        spawnSync("incus", ["stop", "--force", s.containerName("web", "blue")]);
        const down = await status();
        assert.equal(down.code, 4, JSON.stringify(down.json?.exit));
        assert.match(down.json.exit.reasons.join("\n"), new RegExp(`unhealthy: ${s.containerName("web", "blue")} serves traffic`));
        const healed = await run(["up"]);
        assert.equal(healed.code, 0, healed.stderr);
        assert.equal((await status()).code, 0);
    });
});

describe("e2e: private state inside the HAProxy instance (staging/prod placement)", function () {
    this.timeout(300_000);
    const s = new TestStack({ name: "hardi", basePort: 21550, placement: "incus" });
    const inst = `${s.prefix}haproxy`;

    /** `find -printf` inside the instance; exec output can be dropped by Incus, so ask again when empty. */
    const modes = (...paths: string[]): Map<string, string> => {
        for (let attempt = 0; attempt < 5; attempt++) {
            const r = spawnSync("incus", ["exec", inst, "--", "find", ...paths, "-maxdepth", "1", "-printf", "%m %y %p\\n"], { encoding: "utf8" });
            if (r.status === 0 && r.stdout.trim())
                return new Map(
                    r.stdout
                        .trim()
                        .split("\n")
                        .map((l) => [l.split(" ")[2], `${l.split(" ")[0]} ${l.split(" ")[1]}`]),
                );
        }
        assert.fail(`cannot list ${paths.join(" ")} in ${inst}`);
    };

    before(async () => {
        s.reset();
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/" } };
        await s.publishOne("web", C);
        s.setColors({ blue: C }, "blue");
        s.config.accessLog = {};
    });
    after(() => s.teardown());

    /** Whether a receiver runs in the instance; exec's exit code is reliable where its output is not. */
    const receiverRuns = (): boolean =>
        spawnSync("incus", ["exec", inst, "--", "sh", "-c", 'kill -0 "$(cat /opt/bluegreen/accesslog.pid)"'], { stdio: "ignore" }).status === 0;

    it("the state dir is 0700, its files 0600, the config 0600, and both HAProxy sockets 0600", async () => {
        await s.upOk();
        assert.equal(instance(inst)?.status, "Running");
        const stateDir = s.layout().stateDir;
        const seen = modes(stateDir);
        assert.equal(seen.get(stateDir), "700 d", stateDir);
        for (const f of ["audit.jsonl", "active-color", "history"]) assert.equal(seen.get(`${stateDir}/${f}`), "600 f", `${f} in ${[...seen].join(", ")}`);
        for (const [p, m] of seen) if (p !== stateDir && m.endsWith(" f")) assert.equal(m, "600 f", p);
        assert.equal(modes("/etc/haproxy/bluegreen.cfg").get("/etc/haproxy/bluegreen.cfg"), "600 f");
        const socks = modes("/run/haproxy/master.sock", "/run/haproxy/admin.sock");
        assert.deepEqual([socks.get("/run/haproxy/master.sock"), socks.get("/run/haproxy/admin.sock")], ["600 s", "600 s"]);
    });

    it("the access log: the receiver runs in the instance, is restarted if it dies, and `logs --proxy` reads it; unset, it stops", async () => {
        const file = `${s.layout().stateDir}/access.log`;
        const hit = async (p: string) => void (await (await fetch(`http://127.0.0.1:${s.frontendPort}${p}`)).text());
        await hit("/no-such-page-1");
        await eventually(() => (s.readHaproxyFile(file) ?? "").includes("/no-such-page-1"), "the first request in the instance's access.log");
        assert.equal(modes(file).get(file), "600 f");
        // Its supervisor starts it again.
        assert.equal(spawnSync("incus", ["exec", inst, "--", "sh", "-c", 'kill "$(cat /opt/bluegreen/accesslog.pid)"']).status, 0);
        await eventually(receiverRuns, "a receiver again after it was killed");
        await eventually(async () => {
            await hit("/no-such-page-2");
            return (s.readHaproxyFile(file) ?? "").includes("/no-such-page-2");
        }, "a request after the restart logged");
        const only = await s.run(["logs", "--proxy", "-n", "5"]);
        assert.equal(only.code, 0, only.stderr);
        assert.match(only.stdout, /^\[haproxy\] \d{4}-.*no-such-page-2/m);

        delete s.config.accessLog;
        const up = await s.up();
        assert.equal(up.code, 0, up.stderr);
        assert.match(up.stderr, /access log: bluegreen:accessLog is unset; its receiver is stopped/);
        assert.equal(receiverRuns(), false);
    });
});
