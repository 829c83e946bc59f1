// State loss (issue 20, item 1) on real Incus and HAProxy through the runner. An `up` that
// starts from an empty state over a live stack is refused before any step, naming what is
// live; adopting it (bluegreen:adopt, or BLUEGREEN_ADOPT=1 for one run) keeps a live
// container only when its release, env and secrets match the config, keeps one that
// failed its health check for forensics, and resumes a canary left half done.

import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { stopPrometheus } from "../../components/release/rollout/prometheus";
import { buildExampleArtifact } from "../../example-app/artifact";
import { APP_HEADERS, TestStack, httpGet, instance, volumeSnapshotNames } from "../../harness/stack";

const A = "ad0b0001";
const BROKEN = "ad0b0bad";
const DB_A = "ad0bd001";
const DB_B = "ad0bd002";
const S1 = `first-${crypto.randomBytes(8).toString("hex")}`;
const S2 = `second-${crypto.randomBytes(8).toString("hex")}`;
const sha = (v: string) => crypto.createHash("sha256").update(v).digest("hex");

/** Moves the stack's state away, as a CI checkout that cleaned `.state` does. */
function loseState(s: TestStack, as: string): void {
    fs.renameSync(path.join(s.dir, "state"), path.join(s.dir, as));
}

describe("e2e: an up from an empty state over a live stack", function () {
    this.timeout(600_000);
    const s = new TestStack({ name: "adopt", basePort: 21100 });
    const dbPort = s.frontendPort + 50;
    const names = () => [s.containerName("web", "blue"), s.containerName("web", "green"), `${s.prefix}db`];
    const volume = `${s.prefix}db-data`;
    const configureDb = (release: string) => {
        s.config.stateful = { db: { release, hostPort: dbPort, pool: "default", volumes: { data: "/var/lib/bluegreen-data" } } };
    };
    const file = (rel: string) => s.readHaproxyFile(`${s.layout().stateDir}/${rel}`);

    async function envSha(color: "blue" | "green", name: string): Promise<string | null> {
        const r = await fetch(`http://127.0.0.1:${s.componentPort("web", color)}/env-sha256/${name}`, { signal: AbortSignal.timeout(5000) });
        return ((await r.json()) as { sha256: string | null }).sha256;
    }

    async function data(key: string): Promise<string | undefined> {
        const r = await fetch(`http://127.0.0.1:${dbPort}/data/${key}`, { signal: AbortSignal.timeout(5000) });
        const body = await r.text();
        return r.status === 200 ? body : undefined;
    }

    /** Everything an up could touch: the instances, the volume's snapshots, HAProxy, and the host's records. */
    function live() {
        return {
            instances: names().map((n) => {
                const i = instance(n);
                return i && { name: n, status: i.status, createdAt: i.createdAt, config: i.config };
            }),
            volumeSnapshots: volumeSnapshotNames("default", volume),
            haproxyConfig: fs.readFileSync(s.layout().config, "utf8"),
            proc: s.proc() && { masterPid: s.proc()!.masterPid, reloads: s.proc()!.reloads },
            servers: s.serverStates().map((x) => `${x.backend}/${x.server} ${x.weight} ${x.adminState}`),
            files: ["active-color", "history", "audit.jsonl", "lock.json", "stateful/db/last_good", "stateful/db/snapshot.json"].map((f) => [f, file(f)]),
        };
    }

    before(async () => {
        s.reset();
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/" } };
        await s.publishOne("web", A);
        await s.publishOne("web", BROKEN, "health");
        for (const r of [DB_A, DB_B]) await s.publishOne("db", r);
        s.setColors({ blue: A, green: A }, "blue");
        configureDb(DB_A);
        await s.setSecret("secretEnv", JSON.stringify({ web: { DB_PASSWORD: S1 } }));
        await s.upOk();
        const put = await fetch(`http://127.0.0.1:${dbPort}/data/marker`, { method: "PUT", body: "realm-v1", signal: AbortSignal.timeout(5000) });
        assert.equal(put.status, 200);
    });
    after(async () => s.teardown());

    it("delete .state and run `up` over a live stack with a stateful service: it is refused, nothing is touched", async () => {
        const before = live();
        assert.equal(before.instances.filter(Boolean).length, 3);
        loseState(s, "state.lost-1");
        // The reproduction of 2026-12-06: the db's release changes in the same run.
        configureDb(DB_B);
        const preview = await s.run(["preview"]);
        assert.notEqual(preview.code, 0, `preview went ahead:\n${preview.stdout}${preview.stderr}`);
        const r = await s.run(["up"]);
        assert.notEqual(r.code, 0, `up went ahead:\n${r.stdout}${r.stderr}`);
        for (const out of [preview.stderr, r.stderr]) {
            assert.match(out, new RegExp(`stack ${s.stack} has no state`));
            for (const n of names()) assert.match(out, new RegExp(`${n} \\(Running`), n);
            assert.match(out, new RegExp(`default/${volume}`));
            assert.match(out, /PULUMI_BACKEND_URL/);
            assert.match(out, /bluegreen:adopt: true/);
            assert.match(out, /BLUEGREEN_ADOPT=1/);
            assert.match(out, /Nothing was touched/);
        }
        assert.match(r.stderr, /error: up failed/);
        assert.deepEqual(live(), before, "Incus, HAProxy and the host's records are as they were");
        assert.equal(await data("marker"), "realm-v1");
        assert.equal(instance(`${s.prefix}db`)?.config["user.bluegreen.release"], DB_A);
    });

    it("adopt: a preview with bluegreen:adopt: true says what the up will adopt, and touches nothing", async () => {
        configureDb(DB_A);
        await s.setSecret("secretEnv", JSON.stringify({ web: { DB_PASSWORD: S2 } }));
        s.config.adopt = true;
        const before = live();
        const r = await s.run(["preview"]).finally(() => delete s.config.adopt);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /adopting/);
        for (const n of names()) assert.match(r.stderr, new RegExp(n));
        assert.match(r.stderr, /release, env and secrets/);
        assert.deepEqual(live(), before);
    });

    it("rotate secretEnv from empty state (BLUEGREEN_ADOPT=1): it reaches the containers", async () => {
        const before = live();
        const r = await s.start(["up"], undefined, { BLUEGREEN_ADOPT: "1" }).done;
        assert.equal(r.code, 0, r.stderr);
        // green does not serve: replaced with the new secret. blue serves: kept until traffic moves off it.
        assert.equal(await envSha("green", "DB_PASSWORD"), sha(S2));
        assert.equal(await envSha("blue", "DB_PASSWORD"), sha(S1), "blue untouched under traffic");
        assert.match(r.stderr, /web-blue: secretEnv differs from the config; blue serves traffic, so it keeps what it runs/);
        const blue = before.instances[0]!;
        assert.equal(instance(blue.name)?.createdAt, blue.createdAt, "blue was adopted, not recreated");
        assert.equal(instance(`${s.prefix}db`)?.createdAt, before.instances[2]!.createdAt, "the db was adopted, not recreated");
        assert.equal(await data("marker"), "realm-v1");
        assert.equal(JSON.stringify(s.state()).includes(S1) || JSON.stringify(s.state()).includes(S2), false, "no secret in state");
        assert.equal(JSON.stringify(instance(s.containerName("web", "green"))!.config).includes(S2), false, "no secret in Incus's config");

        // The state is the stack's again: the next ups need no adopt, and the rotation finishes.
        s.config.active = "green";
        const sw = await s.up();
        assert.equal(sw.code, 0, sw.stderr);
        assert.equal((await s.get("/")).color, "green");
        const r2 = await s.up();
        assert.equal(r2.code, 0, r2.stderr);
        assert.equal(await envSha("blue", "DB_PASSWORD"), sha(S2));
    });

    it("a container on its configured release that failed its health check is kept for forensics, not recreated, by an adopting up", async () => {
        // Green serves (as the test before leaves it).
        s.setColors({ blue: A, green: A }, "green");
        await s.upOk();
        s.setColors({ blue: BROKEN, green: A }, "green");
        const failed = await s.up();
        assert.notEqual(failed.code, 0);
        assert.match(failed.stderr, /stayed unhealthy/);
        const kept = instance(s.containerName("web", "blue"))!;
        loseState(s, "state.lost-2");
        const r = await s.start(["up"], undefined, { BLUEGREEN_ADOPT: "1" }).done;
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`${s.containerName("web", "blue")} stayed unhealthy.*kept for forensics`));
        assert.equal(instance(s.containerName("web", "blue"))?.createdAt, kept.createdAt, "the same container, not a new one");
        assert.equal((await s.get("/")).color, "green", "green still serves");
    });
});

describe("e2e: a canary left half done, then an up from an empty state", function () {
    this.timeout(300_000);
    const C_A = "ad0c0001";
    const C_B = "ad0c0002";
    const s = new TestStack({ name: "adoptc", basePort: 21160 });
    const promDir = () => path.join(s.haproxyDir, "prometheus");
    const node = (n: number) => `${s.prefix}web-blue-${n}`;
    const nodePort = (n: number) => s.componentPort("backend", "blue") + 2 * n;

    before(async () => {
        await stopPrometheus(promDir()).catch(() => undefined);
        s.reset();
        s.config.components = { web: { hostPort: s.componentPort("backend", "blue"), route: "/", nodes: 2 } };
        s.config.canary = { windowSeconds: 6, probeIntervalSeconds: 2, minRequests: 5, healthTimeoutSeconds: 15 };
        s.config.prometheus = { port: s.frontendPort + 5, scrapeIntervalSeconds: 1 };
        for (const r of [C_A, C_B]) await s.publishOne("web", r);
        s.setColors({ blue: C_A }, "blue");
        await s.upOk();
    });
    after(async () => {
        await s.teardown();
        await stopPrometheus(promDir()).catch(() => undefined);
    });

    it("create resumes the unfinished rollout (nodes on mixed releases) instead of reporting it done", async () => {
        // What a run killed while rolling the peers leaves: the canary node on the new release
        // (installed as the canary installs it), its peer on the old one, the record in phase peers.
        const tarball = path.join(s.dir, "release.tar.gz");
        fs.writeFileSync(tarball, new Uint8Array(await buildExampleArtifact(C_B)));
        for (const argv of [
            ["file", "push", "--quiet", tarball, `${node(2)}/opt/bluegreen/release.tar.gz`],
            ["exec", node(2), "--", "rm", "-rf", "/opt/bluegreen/app"],
            ["config", "set", node(2), `user.bluegreen.release=${C_B}`, `environment.BLUEGREEN_RELEASE=${C_B}`],
            ["restart", "--force", node(2)],
        ]) {
            const r = spawnSync("incus", argv, { encoding: "utf8", timeout: 60_000 });
            assert.equal(r.status, 0, `incus ${argv.join(" ")}: ${r.stderr}`);
        }
        fs.writeFileSync(
            path.join(s.layout().stateDir, "canary.json"),
            JSON.stringify({ release: C_B, from: C_A, color: "blue", phase: "peers", updatedAt: new Date().toISOString() }),
        );
        loseState(s, "state.lost");
        s.setColors({ blue: C_B }, "blue");
        const r = await s.start(["up"], undefined, { BLUEGREEN_ADOPT: "1" }).done;
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`canary: ${C_B} runs on every node of blue`));
        assert.deepEqual(
            [1, 2].map((n) => instance(node(n))?.config["user.bluegreen.release"]),
            [C_B, C_B],
        );
        assert.equal((await httpGet(`http://127.0.0.1:${nodePort(1)}/`, 3000, APP_HEADERS)).release, C_B, "node 1 runs the new release");
        assert.equal(JSON.parse(fs.readFileSync(path.join(s.layout().stateDir, "canary.json"), "utf8")).phase, "done");
    });
});
