import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "fs";
import * as path from "path";
import { makeTmp, removeTmp } from "../../../helpers/tmp";
import {
    CanaryRecord,
    canaryStart,
    keepPreviousCommand,
    planCanary,
    poolNodes,
    readyCommand,
    swapPreviousCommand,
    undoDecision,
} from "../../../../components/model/rollout/canary";
import { canaryInputs, colorContainerInputs, prometheusInputs } from "../../../../components/plan";
import { canaryRecordPath, scrapedQuery, unfinished } from "../../../../components/release/rollout/canary";
import { ServingGuard } from "../../../../components/release/cleanup";
import { replacedKeys } from "../../../../components/release/deploy";
import { stackConfig } from "../../../helpers/stackConfig";

const GUARD: ServingGuard = { host: { placement: "host" }, stateDir: "/var/lib/bluegreen/dev", adminSocket: "/var/lib/bluegreen/dev/admin.sock" };
const record = (over: Partial<CanaryRecord>): CanaryRecord => ({
    release: "bbb2222",
    from: "aaa1111",
    color: "blue",
    phase: "canary",
    updatedAt: "2026-12-02T00:00:00Z",
    ...over,
});

describe("canary (pure)", () => {
    describe("planCanary", () => {
        const pools = [
            { component: "api", nodes: 3, hostPort: 18200 },
            { component: "web", nodes: 2, hostPort: 18300 },
        ];

        it("takes the last node of every pool first (seed: backend-api-2); the rest are peers, in order", () => {
            const { plan, problems } = planCanary("dev-", "blue", pools);
            assert.deepEqual(problems, []);
            assert.deepEqual(
                plan!.canaries.map((n) => n.container),
                ["dev-api-blue-3", "dev-web-blue-2"],
            );
            assert.deepEqual(
                plan!.peers.map((n) => n.container),
                ["dev-api-blue-1", "dev-api-blue-2", "dev-web-blue-1"],
            );
        });

        it("takes bluegreen:canary.node when set, and refuses one a pool does not have", () => {
            assert.deepEqual(
                planCanary("dev-", "green", pools, 1).plan!.canaries.map((n) => [n.container, n.server, n.port]),
                [
                    ["dev-api-green-1", "green-1", 18203],
                    ["dev-web-green-1", "green-1", 18303],
                ],
            );
            const { plan, problems } = planCanary("dev-", "blue", pools, 3);
            assert.equal(plan, undefined);
            assert.deepEqual(problems, ["bluegreen:canary.node is 3, but web has 2 nodes; set it to at most 2, or leave it out for the last node"]);
        });

        it("refuses a pool of one: no canary without an outage; the advice is the other color, or more nodes", () => {
            const { plan, problems } = planCanary("dev-", "blue", [{ component: "db", nodes: 1, hostPort: 18400 }]);
            assert.equal(plan, undefined);
            assert.match(
                problems[0],
                /^db has a pool of one node on blue, which a canary cannot update without an outage\. Deploy the release to the other color and switch/,
            );
            assert.match(problems[0], /or raise bluegreen:components\.db\.nodes$/);
        });

        it("poolNodes names container, backend, server and port of each node", () => {
            assert.deepEqual(poolNodes("dev-", "blue", { component: "api", nodes: 2, hostPort: 18200 }), [
                { component: "api", node: 1, container: "dev-api-blue-1", backend: "be_api", server: "blue-1", port: 18202 },
                { component: "api", node: 2, container: "dev-api-blue-2", backend: "be_api", server: "blue-2", port: 18204 },
            ]);
        });
    });

    describe("canaryStart: where a run starts from the record the last one left", () => {
        it("starts fresh without a record, or for another release or color", () => {
            assert.deepEqual(canaryStart(undefined, "blue", "bbb2222"), { kind: "fresh" });
            assert.deepEqual(canaryStart(record({ release: "ccc3333" }), "blue", "bbb2222"), { kind: "fresh" });
            assert.deepEqual(canaryStart(record({ color: "green" }), "blue", "bbb2222"), { kind: "fresh" });
        });

        it("resumes a killed run: the window keeps its start, so it is never restarted", () => {
            assert.deepEqual(canaryStart(record({ phase: "canary" }), "blue", "bbb2222"), { kind: "resume" });
            assert.deepEqual(canaryStart(record({ phase: "analysis", startedAt: 1234 }), "blue", "bbb2222"), { kind: "resume", startedAt: 1234 });
        });

        it("a paused one is judged in a new window; a green one only finishes its peers", () => {
            assert.deepEqual(canaryStart(record({ phase: "paused", startedAt: 1234 }), "blue", "bbb2222"), { kind: "resume" });
            assert.deepEqual(canaryStart(record({ phase: "peers" }), "blue", "bbb2222"), { kind: "finishPeers" });
            assert.deepEqual(canaryStart(record({ phase: "done" }), "blue", "bbb2222"), { kind: "finishPeers" });
        });

        it("refuses a release that was rolled back, naming why and the way back", () => {
            const s = canaryStart(
                record({ phase: "rolledBack", reasons: ["probe 2/3 is red: error ratio 30% is above the threshold of 5%"] }),
                "blue",
                "bbb2222",
            );
            assert.equal(s.kind, "refuse");
            assert.match(
                (s as { why: string }).why,
                /^release bbb2222 already failed its canary on blue and was rolled back to aaa1111 \(probe 2\/3 is red: .*\)\. Set bluegreen:colors\.blue\.release back to aaa1111/,
            );
        });
    });

    it("a rollback names `rollout retry`, and a retried one rolls the same release again", () => {
        const back = record({ phase: "rolledBack", reasons: ["aborted by ann"] });
        const s = canaryStart(back, "blue", "bbb2222", "prod");
        assert.match((s as { why: string }).why, /run `npm run local -- rollout retry --stack prod` to roll bbb2222 again/);
        assert.deepEqual(canaryStart({ ...back, retried: { by: "bob", at: "2026-12-07T16:00:00Z" } }, "blue", "bbb2222"), { kind: "fresh" });
    });

    it("the window waits until Prometheus scrapes every node of the color", () => {
        assert.equal(scrapedQuery("blue", ["api", "web"]), 'count(up{color="blue",component=~"api|web"} == 1)');
    });

    it("a paused or interrupted rollout is unfinished; a rolled-back or done one is not", () => {
        for (const phase of ["paused", "canary", "analysis", "peers"] as const) assert.equal(unfinished(record({ phase })), true, phase);
        for (const phase of ["done", "rolledBack"] as const) assert.equal(unfinished(record({ phase })), false, phase);
        assert.equal(unfinished(undefined), false);
    });

    it("readyCommand puts a drained server back", () => {
        assert.equal(readyCommand("be_api", "blue-3"), "set server be_api/blue-3 state ready");
    });

    describe("plan", () => {
        const config = stackConfig({
            components: { api: { hostPort: 18200, route: "/", nodes: 2 } },
            canary: { windowSeconds: 60, probeIntervalSeconds: 10 },
        });

        it("has no canary without bluegreen:canary, and the serving color's containers then replace as before", () => {
            const plain = stackConfig({ components: { api: { hostPort: 18200, route: "/", nodes: 2 } } });
            assert.equal(canaryInputs(plain), undefined);
            assert.ok(colorContainerInputs(plain, "blue", "abc1234", GUARD).every((i) => !("inPlace" in i)));
        });

        it("with a canary, the serving color's containers take a release in place; the other color's still replace", () => {
            const blue = colorContainerInputs(config, "blue", "abc1234", GUARD);
            assert.ok(blue.every((i) => i.inPlace === true));
            assert.deepEqual(replacedKeys(blue[0], { ...blue[0], release: "def5678" }), []);
            const green = colorContainerInputs(config, "green", "abc1234", GUARD);
            assert.ok(green.every((i) => !("inPlace" in i)));
            assert.deepEqual(replacedKeys(green[0], { ...green[0], release: "def5678" }), ["release"]);
        });

        it("the canary's inputs: the serving color and its release, the pools, the program's own Prometheus beside the stack", () => {
            const i = canaryInputs(config)!;
            assert.equal(i.active, "blue");
            assert.equal(i.release, "abc1234");
            assert.deepEqual(i.components, [{ component: "api", nodes: 2, hostPort: 18200, healthPath: "/health", route: "/" }]);
            // The per-node check enters where clients do.
            assert.equal(i.frontendPort, config.haproxy.frontendPort);
            const hosted = canaryInputs({ ...config, components: config.components.map((c) => ({ ...c, hosts: ["shop.example"] })) })!;
            assert.deepEqual(hosted.components[0].hosts, ["shop.example"]);
            assert.deepEqual(i.prometheus, { dir: "/var/lib/bluegreen/dev/prometheus", port: 19090, scrapeIntervalSeconds: 15 });
            assert.equal(canaryRecordPath(i.layout), "/var/lib/bluegreen/dev/canary.json");
            assert.ok(!("artifactToken" in i));
        });

        it("Prometheus scrapes every node of the colors present: its targets follow the pools", () => {
            const targets = (c: typeof config) => prometheusInputs(c)!.targets.map((t) => `${t.component}/${t.color}/${t.node}:${t.port}`);
            assert.deepEqual(targets(config), ["api/blue/1:18202", "api/blue/2:18204"]);
            const both = { ...config, colors: { ...config.colors, green: { release: "def5678" } } };
            assert.deepEqual(targets(both), ["api/blue/1:18202", "api/blue/2:18204", "api/green/1:18203", "api/green/2:18205"]);
            const grown = { ...both, components: both.components.map((c) => ({ ...c, nodes: 3 })) };
            assert.equal(targets(grown).length, 6);
            const { dir, port, url, haproxyExporterPort } = prometheusInputs(config)!;
            assert.deepEqual(
                { dir, port, url, haproxyExporterPort },
                { dir: "/var/lib/bluegreen/dev/prometheus", port: 19090, url: undefined, haproxyExporterPort: config.haproxy.exporterPort },
            );
        });

        it("no Prometheus without bluegreen:prometheus or a canary; with a url, the operator's server is named", () => {
            const { canary: _c, prometheus: _p, ...plain } = config;
            assert.equal(prometheusInputs(plain), undefined);
            assert.equal(
                prometheusInputs({ ...plain, prometheus: { port: 19090, scrapeIntervalSeconds: 15, url: "http://prom:9090" } })!.url,
                "http://prom:9090",
            );
        });
    });

    describe("undoDecision: is setting the release back an undo of the finished canary?", () => {
        const done = record({ phase: "done" });

        it("is an undo when the release is the finished canary's last-known-good and is in the store", () => {
            assert.deepEqual(undoDecision(done, "blue", "bbb2222", "aaa1111", true), { kind: "undo" });
        });

        it("is a canary, saying why, when the artifact is gone from the store", () => {
            const d = undoDecision(done, "blue", "bbb2222", "aaa1111", false);
            assert.equal(d.kind, "canary");
            assert.match((d as { why: string }).why, /aaa1111's artifact is not in the store/);
        });

        it("is a canary, saying why, when the canary did not finish", () => {
            for (const phase of ["canary", "analysis", "peers", "paused", "rolledBack"] as const) {
                const d = undoDecision(record({ phase }), "blue", "bbb2222", "aaa1111", true);
                assert.equal(d.kind, "canary", phase);
                assert.match((d as { why: string }).why, new RegExp(`phase ${phase}`));
            }
        });

        it("is a canary when the record is of another release than the one the pool runs", () => {
            const d = undoDecision(done, "blue", "ccc3333", "aaa1111", true);
            assert.equal(d.kind, "canary");
            assert.match((d as { why: string }).why, /record is of bbb2222, but blue runs ccc3333/);
        });

        it("is a plain canary, with nothing to say, for a release the record does not name as last-known-good", () => {
            assert.deepEqual(undoDecision(done, "blue", "bbb2222", "ddd4444", true), { kind: "canary" });
            assert.deepEqual(undoDecision(undefined, "blue", "bbb2222", "aaa1111", true), { kind: "canary" });
            assert.deepEqual(undoDecision(done, "green", "bbb2222", "aaa1111", true), { kind: "canary" });
        });

        it("never undoes an undo: the release it replaced was put back by hand, not judged", () => {
            const undone = record({ release: "aaa1111", from: "bbb2222", phase: "done", undo: true });
            const d = undoDecision(undone, "blue", "aaa1111", "bbb2222", true);
            assert.equal(d.kind, "canary");
            assert.match((d as { why: string }).why, /aaa1111 was put back by an undo of bbb2222/);
        });
    });

    describe("keepPreviousCommand / swapPreviousCommand: one previous release kept unpacked on a node", () => {
        let root: string;
        beforeEach(() => (root = makeTmp("bluegreen-keep-")));
        afterEach(() => removeTmp(root));
        const sh = (argv: string[]) => spawnSync(argv[0]!, argv.slice(1)).status;
        const put = (release: string) => {
            fs.mkdirSync(path.join(root, "app"), { recursive: true });
            fs.writeFileSync(path.join(root, "app", "start"), release);
            fs.writeFileSync(path.join(root, "release.tar.gz"), release);
        };
        const read = (f: string) => (fs.existsSync(path.join(root, f)) ? fs.readFileSync(path.join(root, f), "utf8") : undefined);

        it("keeps exactly one previous tree and tarball; a swap restores it without a download, and swaps back", () => {
            assert.equal(sh(swapPreviousCommand(root)), 3, "nothing kept yet: exit 3, the caller downloads");
            put("A");
            assert.equal(sh(keepPreviousCommand(root)), 0);
            put("B");
            assert.equal(sh(keepPreviousCommand(root)), 0);
            put("C");
            assert.deepEqual([read("app/start"), read("previous/start"), read("previous.tar.gz")], ["C", "B", "B"]);
            assert.deepEqual(fs.readdirSync(root).sort(), ["app", "previous", "previous.tar.gz", "release.tar.gz"], "A is gone: one previous");
            assert.equal(sh(swapPreviousCommand(root)), 0);
            assert.deepEqual([read("app/start"), read("release.tar.gz"), read("previous/start"), read("previous.tar.gz")], ["B", "B", "C", "C"]);
            assert.equal(sh(swapPreviousCommand(root)), 0);
            assert.deepEqual([read("app/start"), read("release.tar.gz"), read("previous/start")], ["C", "C", "B"]);
        });

        it("a kept tarball never unpacked is swapped in as the tarball, with no tree: the init unpacks it on start", () => {
            fs.writeFileSync(path.join(root, "release.tar.gz"), "A");
            assert.equal(sh(keepPreviousCommand(root)), 0);
            put("B");
            assert.equal(sh(swapPreviousCommand(root)), 0);
            assert.deepEqual([read("app/start"), read("release.tar.gz"), read("previous/start")], [undefined, "A", "B"]);
        });

        it("the script is fixed: the root is its only argument", () => {
            assert.deepEqual(keepPreviousCommand().slice(0, 2), ["sh", "-ec"]);
            assert.deepEqual(keepPreviousCommand().slice(3), ["sh", "/opt/bluegreen"]);
            assert.deepEqual(swapPreviousCommand().slice(3), ["sh", "/opt/bluegreen"]);
        });
    });
});
