// The canary on real Incus, HAProxy and Prometheus, under real load (wrk): a release
// change of the serving color, rolled in place across its pool of 3, judged on SLIs in a
// short window. Seed 002's acceptance bar: 2 normal canary deploys, then one whose health
// endpoint returns 500 is rolled back and every request is then answered by the old
// release; then one whose 5xx ratio breaches the threshold is rolled back by the window.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { reloadAndWait } from "../../components/io/runtimeApi";
import { startLoad } from "../../harness/load";
import { TestStack, instance } from "../../harness/stack";
import { stopPrometheus } from "../../components/release/rollout/prometheus";

const A = "ca1a0001";
const B = "cb1b0002";
const C = "cc1c0003";
const HEALTH_BROKEN = "cd1d0004";
const ERRORS_BROKEN = "ce1e0005";
const D = "cf1f0006";
const E = "c01a0007";
const LATENCY_BROKEN = "c02b0008";
const DROPS = "c03c0009";
/** web good, api built --broken errors: a red on one component of a release. */
const API_BROKEN = "c04d000a";
/** Healthy on nodes 1 and 3, health 500 on node 2: a peer that fails its install. */
const PEER_BROKEN = "c2f2000b";
const NODES = [1, 2, 3];

/** The releases the app says answered `n` requests through the frontend. */
async function answeredBy(port: number, n: number): Promise<Map<string, number>> {
    const seen = new Map<string, number>();
    for (let i = 0; i < n; i++) {
        const release = await new Promise<string>((resolve) => {
            const req = http.get(`http://127.0.0.1:${port}/`, { agent: false, timeout: 3000, headers: { connection: "close" } }, (res) => {
                res.resume();
                res.on("end", () => resolve(res.statusCode === 200 ? String(res.headers["x-release"]) : `HTTP ${res.statusCode}`));
            });
            req.on("timeout", () => req.destroy(new Error("timeout")));
            req.on("error", (e) => resolve(`error ${e.message}`));
        });
        seen.set(release, (seen.get(release) ?? 0) + 1);
    }
    return seen;
}

describe("e2e: a canary of the serving color's pool, gated on Prometheus SLIs", function () {
    this.timeout(600_000);
    const s = new TestStack({ name: "canary", basePort: 19900 });
    const promDir = () => path.join(s.haproxyDir, "prometheus");
    const nodeReleases = () => NODES.map((n) => instance(`${s.prefix}web-blue-${n}`)?.config["user.bluegreen.release"]);

    before(async () => {
        await stopPrometheus(promDir()).catch(() => undefined);
        s.reset();
        s.config.components = { web: { hostPort: s.componentPort("backend", "blue"), route: "/", nodes: 3 } };
        s.config.haproxy = { ...s.config.haproxy, settleMs: 15000 };
        s.config.canary = { windowSeconds: 6, probeIntervalSeconds: 2, minRequests: 5, healthTimeoutSeconds: 15, p95Seconds: 0.5, errorRatio: 0.05 };
        s.config.prometheus = { port: s.frontendPort + 5, scrapeIntervalSeconds: 1 };
        for (const r of [A, B, C, D, E]) await s.publish(r);
        await s.publish(HEALTH_BROKEN, "health");
        await s.publish(ERRORS_BROKEN, "errors");
        await s.publish(LATENCY_BROKEN, "latency");
        await s.publish(PEER_BROKEN, "health-node-2");
        const drop = path.join(s.dir, "0001_drop.sql");
        fs.writeFileSync(drop, "-- the old code still reads email\nALTER TABLE users\n  DROP COLUMN email;\n");
        await s.publish(DROPS, undefined, [drop]);
        await s.publishOne("web", API_BROKEN);
        await s.publishOne("api", API_BROKEN, "errors");
        for (const r of [E]) await s.publishOne("api", r);
    });
    after(async () => {
        await s.teardown();
        await stopPrometheus(promDir()).catch(() => undefined);
    });

    /** Runs `up` under load and returns its result and what the load saw. */
    async function upUnderLoad() {
        const load = startLoad({ url: `http://127.0.0.1:${s.frontendPort}/`, connections: 2, threads: 1, keepAlive: true, pauseMs: 20 });
        const r = await s.up().finally(() => undefined);
        const res = await load.stop();
        return { r, res };
    }

    it("deploy: blue runs a pool of 3 on the first release", async () => {
        s.setColors({ blue: A }, "blue");
        await s.upOk();
        assert.deepEqual(nodeReleases(), [A, A, A]);
    });

    /** How long the last green canary's up took: an undo must take less, having no window. */
    let canaryMs = 0;
    for (const [release, previous] of [
        [B, A],
        [C, B],
    ] as const) {
        it(`canary ${release}: node 3 first, a green window, then the peers; nothing fails under load`, async () => {
            s.setColors({ blue: release }, "blue");
            const t0 = Date.now();
            const { r, res } = await upUnderLoad();
            canaryMs = Date.now() - t0;
            assert.equal(r.code, 0, r.stderr);
            assert.match(r.stderr, new RegExp(`canary: ${release} on ${s.prefix}web-blue-3 first \\(${previous} is the last-known-good\\)`));
            assert.match(r.stderr, /drain: be_web\/blue-3 take no new requests/);
            // The LB-side check: a request through the frontend, routed to the node, answered by it on the release.
            for (const n of NODES)
                assert.match(
                    r.stderr,
                    new RegExp(
                        `${s.prefix}web-blue-${n}: ${release} serves through HAProxy \\(be_web/blue-${n} UP, ready, and a request through the frontend answered by it\\)`,
                    ),
                );
            assert.doesNotMatch(r.stderr, /no per-node route yet/);
            assert.match(r.stderr, /analysis canary .*: probe 1\/3/);
            assert.match(r.stderr, /all 3 probes over 6s were green/);
            assert.match(r.stderr, new RegExp(`canary: ${release} runs on every node of blue`));
            assert.deepEqual(nodeReleases(), [release, release, release]);
            assert.ok(res.requests > 100, `the load ran: ${JSON.stringify(res)}`);
            assert.deepEqual(
                { status: res.status, connect: res.connect, read: res.read, write: res.write, timeout: res.timeout },
                { status: 0, connect: 0, read: 0, write: 0, timeout: 0 },
                `no failed request during the canary: ${JSON.stringify(res)}`,
            );
            const seen = await answeredBy(s.frontendPort, 15);
            assert.deepEqual([...seen.keys()], [release]);
        });
    }

    it("undo: setting the release back to the finished canary's last-known-good is a rollback with no window; nothing fails under load; audited as rollback", async () => {
        s.setColors({ blue: B }, "blue");
        const preview = await s.run(["preview"]);
        assert.equal(preview.code, 0, preview.stderr);
        assert.match(preview.stderr, new RegExp(`canary: pulumi up will roll blue back to ${B} \\(undo of ${C}\\): a rollback, no window`));
        const t0 = Date.now();
        const { r, res } = await upUnderLoad();
        const undoMs = Date.now() - t0;
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`canary: undo: ${B} was the last-known-good of the finished canary of ${C}; a rollback with no window`));
        assert.doesNotMatch(r.stderr, /window opens|analysis canary|probe 1\//);
        for (const n of NODES) {
            assert.match(r.stderr, new RegExp(`drain: be_web/blue-${n} take no new requests`));
            assert.match(r.stderr, new RegExp(`${s.prefix}web-blue-${n}: ${B} is kept unpacked beside ${C}; restarting on it \\(no download\\)`));
        }
        assert.doesNotMatch(r.stderr, /installing/);
        assert.ok(undoMs < canaryMs, `the undo (${undoMs} ms) takes less than the green canary before it (${canaryMs} ms, a 6 s window in it)`);
        assert.deepEqual(nodeReleases(), [B, B, B]);
        assert.ok(res.requests > 50, `the load ran: ${JSON.stringify(res)}`);
        assert.deepEqual(
            { status: res.status, connect: res.connect, read: res.read, write: res.write, timeout: res.timeout },
            { status: 0, connect: 0, read: 0, write: 0, timeout: 0 },
            `no failed request during the undo: ${JSON.stringify(res)}`,
        );
        assert.deepEqual([...(await answeredBy(s.frontendPort, 15)).keys()], [B]);
        const audit = fs
            .readFileSync(path.join(s.layout().stateDir, "audit.jsonl"), "utf8")
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l));
        // The Switch also audits its side (kind fast: the history's previous release serves again).
        const last = audit.filter((e) => e.operation === "rollback" && e.details.kind === "undo" && Date.parse(e.time) >= t0).at(-1);
        assert.deepEqual(
            { color: last?.color, release: last?.release, kind: last?.details.kind, from: last?.details.from },
            { color: "blue", release: B, kind: "undo", from: C },
            JSON.stringify(audit.slice(-3)),
        );
    });

    it("setting the undone release again is a canary with its window: an undo is never undone", async () => {
        s.setColors({ blue: C }, "blue");
        const { r, res } = await upUnderLoad();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`not an undo, so a canary with its full window: ${B} was put back by an undo of ${C}`));
        assert.match(r.stderr, /all 3 probes over 6s were green/);
        assert.deepEqual(nodeReleases(), [C, C, C]);
        assert.equal(res.status + res.connect + res.read + res.timeout, 0, `nothing failed: ${JSON.stringify(res)}`);
    });

    it("a peer that fails its health check stops the rollout: it stays drained, the rolled peers stay on the release, nothing fails under load", async () => {
        s.setColors({ blue: PEER_BROKEN }, "blue");
        const { r, res } = await upUnderLoad();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`all 3 probes over 6s were green`));
        assert.match(
            r.stderr,
            new RegExp(
                `the rollout of ${PEER_BROKEN} stopped at ${s.prefix}web-blue-2: ${s.prefix}web-blue-2 stayed unhealthy on ${PEER_BROKEN}.*Peers are not rolled back`,
            ),
        );
        assert.doesNotMatch(r.stderr, /rolling .* back to/);
        // Node 1 (a peer rolled before it) and node 3 (the canary) keep the release; node 2 holds it too, drained.
        assert.deepEqual(nodeReleases(), [PEER_BROKEN, PEER_BROKEN, PEER_BROKEN]);
        const web = s.serverStates().filter((x) => x.backend === "be_web" && x.server.startsWith("blue"));
        assert.deepEqual(
            web.map((x) => [x.server, x.adminState === 0]),
            [
                ["blue-1", true],
                ["blue-2", false],
                ["blue-3", true],
            ],
            "only the failed peer is out of rotation",
        );
        assert.ok(res.requests > 100, `the load ran: ${JSON.stringify(res)}`);
        assert.deepEqual(
            { status: res.status, connect: res.connect, read: res.read, write: res.write, timeout: res.timeout },
            { status: 0, connect: 0, read: 0, write: 0, timeout: 0 },
            `no failed request: ${JSON.stringify(res)}`,
        );
        assert.deepEqual([...(await answeredBy(s.frontendPort, 15)).keys()], [PEER_BROKEN], "the nodes in rotation serve the release");
        const st = await s.run(["status", "--json"]);
        const report = JSON.parse(st.stdout);
        assert.equal(report.canary.phase, "peers");
        assert.equal(report.canary.release, PEER_BROKEN);
        assert.match(report.canary.reasons.join("\n"), new RegExp(`stopped at ${s.prefix}web-blue-2`));
    });

    it("setting the release back after a failed peer rolls every node back to it, ready", async () => {
        s.setColors({ blue: C }, "blue");
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`canary: ${PEER_BROKEN} stopped in phase peers; the config names ${C} again`));
        assert.deepEqual(nodeReleases(), [C, C, C]);
        const web = s.serverStates().filter((x) => x.backend === "be_web" && x.server.startsWith("blue"));
        assert.deepEqual(
            web.map((x) => [x.server, x.adminState]),
            NODES.map((n) => [`blue-${n}`, 0]),
        );
    });

    it("a release whose health endpoint returns 500 is rolled back on the canary node; every request is then answered by the old release", async () => {
        s.setColors({ blue: HEALTH_BROKEN }, "blue");
        const { r, res } = await upUnderLoad();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`canary of ${HEALTH_BROKEN} failed its node health check: ${s.prefix}web-blue-3 stayed unhealthy`));
        assert.match(r.stderr, new RegExp(`Every canary node is back on ${C} and serving`));
        // The canary's own rollback is a restart on the release kept beside it, not a download.
        assert.match(r.stderr, new RegExp(`${s.prefix}web-blue-3: ${C} is kept unpacked beside ${HEALTH_BROKEN}; restarting on it \\(no download\\)`));
        assert.deepEqual(nodeReleases(), [C, C, C]);
        assert.equal(res.status + res.connect + res.read + res.timeout, 0, `nothing failed: ${JSON.stringify(res)}`);
        const seen = await answeredBy(s.frontendPort, 30);
        assert.deepEqual([...seen.keys()], [C], "every request is answered by the old release");
    });

    it("a release whose 5xx ratio breaches the threshold is rolled back by the window, naming the probe and its values", async () => {
        s.setColors({ blue: ERRORS_BROKEN }, "blue");
        const { r } = await upUnderLoad();
        assert.notEqual(r.code, 0);
        assert.match(
            r.stderr,
            new RegExp(
                `canary of ${ERRORS_BROKEN} rolled back: canary ${ERRORS_BROKEN} on blue: probe \\d/3 .* is red .*error ratio \\S+ is above the threshold of`,
            ),
        );
        assert.deepEqual(nodeReleases(), [C, C, C]);
        const seen = await answeredBy(s.frontendPort, 20);
        assert.deepEqual([...seen.keys()], [C]);
    });

    it("running up again with the rolled-back release is refused, naming the way back", async () => {
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`release ${ERRORS_BROKEN} already failed its canary on blue and was rolled back to ${C}`));
        assert.match(r.stderr, new RegExp(`Set bluegreen:colors\\.blue\\.release back to ${C}`));
        assert.deepEqual(nodeReleases(), [C, C, C]);
    });

    it("status --json shows the canary's phase, its last-known-good, the red probe, and each node's release", async () => {
        const r = await s.run(["status", "--json"]);
        assert.equal(r.code, 3, `drift: the config asks for the rolled-back release\n${r.stderr}`);
        const report = JSON.parse(r.stdout);
        assert.equal(report.canary.phase, "rolledBack");
        assert.equal(report.canary.release, ERRORS_BROKEN);
        assert.equal(report.canary.from, C);
        assert.match(report.canary.reasons.join("\n"), /error ratio/);
        assert.deepEqual(
            report.colors.blue.containers.map((c: any) => [c.node, c.release]),
            NODES.map((n) => [n, C]),
        );
    });

    it("setting the last-known-good release back converges with nothing to roll", async () => {
        s.setColors({ blue: C }, "blue");
        await s.upOk();
        assert.deepEqual(nodeReleases(), [C, C, C]);
    });

    it("no data is red: a window without traffic rolls the canary back", async () => {
        s.setColors({ blue: D }, "blue");
        const r = await s.up();
        assert.notEqual(r.code, 0);
        // The LB-side check's one request per node comes before the window: the release's series exist, with no request in the window.
        assert.match(r.stderr, new RegExp(`canary of ${D} rolled back: .*probe 1/3 .* is red .*(no data|0 requests in the window)`));
        assert.deepEqual(nodeReleases(), [C, C, C]);
    });

    it("a runner killed in the middle of the window, run again: the window resumes, the pool converges, no node stays drained", async () => {
        s.setColors({ blue: E }, "blue");
        const load = startLoad({ url: `http://127.0.0.1:${s.frontendPort}/`, connections: 2, threads: 1, keepAlive: true, pauseMs: 20 });
        try {
            let killed = false;
            const first = await s.start(["up"], (stderr, child) => {
                if (!killed && /analysis canary .*: probe 1\/3/.test(stderr)) {
                    killed = true;
                    child.kill("SIGKILL");
                }
            }).done;
            assert.ok(killed, `the runner reached the window:\n${first.stderr}`);
            const again = await s.up();
            assert.equal(again.code, 0, again.stderr);
            assert.match(again.stderr, /resuming at \+\d+s: the \d probe\(s\) already due are evaluated at their own times first/);
            assert.match(again.stderr, new RegExp(`canary: ${E} runs on every node of blue`));
        } finally {
            await load.stop();
        }
        assert.deepEqual(nodeReleases(), [E, E, E]);
        const web = s.serverStates().filter((x) => x.backend === "be_web" && x.server.startsWith("blue"));
        assert.deepEqual(
            web.map((x) => [x.server, x.adminState, x.opState]),
            NODES.map((n) => [`blue-${n}`, 0, 2]),
            "every node ready and UP",
        );
    });

    it("onRed: pause: a release over the p95 threshold stops for a human, its canary node drained, the peers on the old release", async () => {
        s.config.canary = { ...s.config.canary, onRed: "pause" };
        s.setColors({ blue: LATENCY_BROKEN }, "blue");
        const { r } = await upUnderLoad();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`canary of ${LATENCY_BROKEN} is red and paused .*p95 .+? is above the threshold of 0\\.5 s`));
        assert.deepEqual(nodeReleases(), [E, E, LATENCY_BROKEN]);
        const three = s.serverStates().find((x) => x.backend === "be_web" && x.server === "blue-3");
        assert.notEqual(three?.adminState, 0, "the canary node stays drained");
        const seen = await answeredBy(s.frontendPort, 20);
        assert.deepEqual([...seen.keys()], [E], "only the old release answers");
    });

    it("a reload of HAProxy while paused, even one nobody announced (straight to the master CLI), keeps the canary node drained", async () => {
        const before = s.proc()!.reloads;
        await reloadAndWait(s.layout().master);
        assert.ok(s.proc()!.reloads > before, "HAProxy reloaded");
        const three = s.serverStates().find((x) => x.backend === "be_web" && x.server === "blue-3");
        assert.notEqual(three?.adminState, 0, "the new worker loaded the drain from the server-state file");
        const seen = await answeredBy(s.frontendPort, 20);
        assert.deepEqual([...seen.keys()], [E], "the drained canary node gets no request after the reload");
    });

    it("setting the old release back rolls the paused canary back: every node on it and ready", async () => {
        s.setColors({ blue: E }, "blue");
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`canary: ${LATENCY_BROKEN} stopped in phase paused; the config names ${E} again`));
        assert.deepEqual(nodeReleases(), [E, E, E]);
        const web = s.serverStates().filter((x) => x.backend === "be_web" && x.server.startsWith("blue"));
        assert.deepEqual(
            web.map((x) => [x.server, x.adminState]),
            NODES.map((n) => [`blue-${n}`, 0]),
        );
    });

    it("a release whose migration drops a column is refused before any node is drained, naming the file and line", async () => {
        s.config.canary = { ...s.config.canary, onRed: "rollback" };
        s.setColors({ blue: DROPS }, "blue");
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /release c03c0009 of web carries a backward-incompatible migration: migrations\/0001_drop\.sql:2: DROP COLUMN users\.email/);
        assert.doesNotMatch(r.stderr, /drain: be_web/);
        assert.deepEqual(nodeReleases(), [E, E, E]);
        s.setColors({ blue: E }, "blue");
        await s.upOk();
    });

    it("two components roll together: a red on one of them rolls back every canary node of the release at once", async () => {
        const apiReleases = () => [1, 2].map((n) => instance(`${s.prefix}api-blue-${n}`)?.config["user.bluegreen.release"]);
        s.config.components = { ...s.config.components, api: { hostPort: s.componentPort("stream", "blue"), route: "/api", nodes: 2 } };
        await s.upOk();
        assert.deepEqual(apiReleases(), [E, E]);
        s.setColors({ blue: API_BROKEN }, "blue");
        const loads = [`http://127.0.0.1:${s.frontendPort}/`, `http://127.0.0.1:${s.frontendPort}/api/items`].map((url) =>
            startLoad({ url, connections: 2, threads: 1, keepAlive: true, pauseMs: 20 }),
        );
        const r = await s.up();
        await Promise.all(loads.map((l) => l.stop()));
        assert.notEqual(r.code, 0);
        assert.match(
            r.stderr,
            new RegExp(
                `canary: ${API_BROKEN} on ${s.prefix}api-blue-2, ${s.prefix}web-blue-3 first|canary: ${API_BROKEN} on ${s.prefix}web-blue-3, ${s.prefix}api-blue-2 first`,
            ),
        );
        assert.match(r.stderr, new RegExp(`canary of ${API_BROKEN} rolled back: .*error ratio`));
        assert.deepEqual(nodeReleases(), [E, E, E], "web's canary node is rolled back too, although web itself was fine");
        assert.deepEqual(apiReleases(), [E, E]);
    });
});
