// Per-component environment and secrets, on real Incus through the runner. A secret's
// value reaches the app, and appears nowhere else: not in the state file, the stack
// file, the preview, the runner's output, an error message, or `incus config show`.
// A change rolls out as a release does: to the color that does not serve, then a switch.

import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import { TestStack, httpGet } from "../../harness/stack";

const A = "5ec0001";
const B = "5ec0002";
const BROKEN = "5ec0bad";
// Values no other text would contain by chance.
const S1 = `first-${crypto.randomBytes(8).toString("hex")}`;
const S2 = `second-${crypto.randomBytes(8).toString("hex")}`;
const sha = (v: string) => crypto.createHash("sha256").update(v).digest("hex");

describe("e2e: environment and secrets", function () {
    this.timeout(300_000);
    const s = new TestStack({ name: "sec", basePort: 19650 });
    const seen: string[] = [];
    const record = <T extends { stdout: string; stderr: string }>(r: T): T => {
        seen.push(r.stdout, r.stderr);
        return r;
    };

    before(async () => {
        s.reset();
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/", env: { GREETING: "hello" } } };
        s.setColors({ blue: A }, "blue");
        for (const [release, broken] of [[A], [B], [BROKEN, "health"]] as const) await s.publishOne("web", release, broken);
        await s.setSecret("secretEnv", JSON.stringify({ web: { DB_PASSWORD: S1 } }));
    });
    after(async () => s.teardown());

    async function envSha(color: "blue" | "green", name: string): Promise<string | null> {
        const r = await fetch(`http://127.0.0.1:${s.componentPort("web", color)}/env-sha256/${name}`);
        return ((await r.json()) as { sha256: string | null }).sha256;
    }

    function incusShow(color: string): string {
        const name = s.containerName("web", color);
        return spawnSync("incus", ["config", "show", "--expanded", name], { encoding: "utf8" }).stdout;
    }

    it("the stack file holds the secret encrypted", () => {
        const text = fs.readFileSync(s.configFile, "utf8");
        assert.match(text, /bluegreen:secretEnv:\n\s+secure: v1:/);
        assert.equal(text.includes(S1), false);
    });

    it("deploy: the app gets its plain and its secret environment; only the plain one is in Incus's config", async () => {
        record(await s.run(["preview"]));
        const r = record(await s.run(["up", "--json"]));
        assert.equal(r.code, 0, r.stderr);
        assert.equal(await envSha("blue", "DB_PASSWORD"), sha(S1));
        assert.equal(await envSha("blue", "GREETING"), sha("hello"));
        const show = incusShow("blue");
        assert.match(show, /environment\.GREETING: hello/);
        assert.equal(show.includes(S1), false);
        assert.equal(show.includes("DB_PASSWORD"), false);
    });

    it("a failed deploy's error names no secret", async () => {
        s.setColors({ blue: A, green: BROKEN }, "blue");
        const r = record(await s.up());
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /stayed unhealthy/);
    });

    it("a new secret rolls out to the color that does not serve; the serving one keeps what it runs", async () => {
        await s.setSecret("secretEnv", JSON.stringify({ web: { DB_PASSWORD: S2 } }));
        s.setColors({ blue: A, green: B }, "blue");
        record(await s.run(["preview"]));
        const r = record(await s.up());
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /web-blue: secretEnv changed; blue serves traffic, so it keeps what it runs/);
        assert.equal(await envSha("blue", "DB_PASSWORD"), sha(S1), "blue untouched under traffic");
        assert.equal(await envSha("green", "DB_PASSWORD"), sha(S2));
    });

    it("after the switch, the next up brings the old color to the new secret", async () => {
        s.config.active = "green";
        const sw = record(await s.up());
        assert.equal(sw.code, 0, sw.stderr);
        assert.equal((await s.get("/")).color, "green");
        const r = record(await s.up());
        assert.equal(r.code, 0, r.stderr);
        assert.equal(await envSha("blue", "DB_PASSWORD"), sha(S2));
        assert.equal((await httpGet(`http://127.0.0.1:${s.componentPort("web", "blue")}/health`)).status, 200);
    });

    it("no secret value appears in state, outputs, previews, logs or errors", async () => {
        const state = fs.readFileSync(s.statePath(), "utf8");
        for (const v of [S1, S2]) {
            assert.equal(state.includes(v), false, "state file");
            assert.equal(fs.readFileSync(s.configFile, "utf8").includes(v), false, "stack file");
            seen.forEach((text, i) => assert.equal(text.includes(v), false, `runner output #${i}`));
            for (const color of ["blue", "green"]) assert.equal(incusShow(color).includes(v), false, `incus config show ${color}`);
        }
        assert.ok(seen.length >= 10, "every run's output was searched");
    });
});
