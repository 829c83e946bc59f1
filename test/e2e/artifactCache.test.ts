// Stacks on one host, each with its own artifact store, sharing this host's artifact
// cache: a dev build of a SHA never ships to another stack, and one stack's retention
// never deletes another's cached copies.

import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { RunResult, TestStack } from "../../harness/stack";
import { artifactFileName, dirStore, sha256 } from "../../components/io/artifacts";
import { buildExampleArtifact } from "../../example-app/artifact";

/** One SHA, built differently by each store (release SHAs are unique to this file). */
const SHARED = "cace0001";
const NEWER = "cace0002";

describe("e2e: the artifact cache is kept per store", function () {
    this.timeout(300_000);
    const dev = new TestStack({ name: "cachedev", basePort: 21400 });
    const prod = new TestStack({ name: "cacheprod", basePort: 21450 });
    /** Publishes SHARED too, but only ever runs NEWER: its retention prunes SHARED from its store. */
    const stg = new TestStack({ name: "cachestg", basePort: 21410 });
    // Both stacks share one cache, as every stack on a host shares /var/cache/bluegreen/artifacts.
    const cache = `/tmp/bluegreen-e2e/artcache${process.env.BLUEGREEN_E2E_NS ?? ""}`;
    const up = (s: TestStack): Promise<RunResult> => s.start(["up"], undefined, { BLUEGREEN_ARTIFACT_CACHE: cache }).done;
    let devBuild: Buffer;
    let prodBuild: Buffer;

    /** The checksums of every cached copy of web's `release`, wherever the cache keeps it. */
    const cached = (release: string): string[] =>
        fs
            .readdirSync(cache, { recursive: true, encoding: "utf8" })
            .filter((f) => path.basename(f) === artifactFileName({ component: "web", release }))
            .map((f) => sha256(fs.readFileSync(path.join(cache, f))))
            .sort();
    /** The release tarball a container was given. */
    const deployed = (s: TestStack): string => {
        const r = spawnSync("incus", ["file", "pull", `${s.containerName("web", "blue")}/opt/bluegreen/release.tar.gz`, "-"], { maxBuffer: 64 << 20 });
        assert.equal(r.status, 0, r.stderr?.toString());
        return sha256(r.stdout);
    };

    before(async () => {
        fs.rmSync(cache, { recursive: true, force: true });
        // dev's build carries a migration prod's does not: same SHA, other bytes.
        const migration = path.join(fs.mkdtempSync("/tmp/bluegreen-cache-"), "0001_dev.sql");
        fs.writeFileSync(migration, "CREATE TABLE dev_only (id int);\n");
        devBuild = await buildExampleArtifact(SHARED, undefined, [migration]);
        prodBuild = await buildExampleArtifact(SHARED);
        fs.rmSync(path.dirname(migration), { recursive: true });
        assert.notEqual(sha256(devBuild), sha256(prodBuild));
        for (const s of [dev, prod, stg]) {
            s.reset();
            s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/" } };
            s.setColors({ blue: SHARED }, "blue");
        }
        await dirStore(dev.artifactsDir).publish({ component: "web", release: SHARED }, devBuild);
        await dirStore(prod.artifactsDir).publish({ component: "web", release: SHARED }, prodBuild);
        await dirStore(stg.artifactsDir).publish({ component: "web", release: SHARED }, devBuild);
    });
    after(async () => {
        await Promise.all([dev.teardown(), prod.teardown(), stg.teardown()]);
        fs.rmSync(cache, { recursive: true, force: true });
    });

    it("dev, then prod, deploy the same SHA: each container runs its own store's build", async () => {
        const d = await up(dev);
        assert.equal(d.code, 0, d.stderr);
        const p = await up(prod);
        assert.equal(p.code, 0, p.stderr);
        assert.equal(deployed(dev), sha256(devBuild));
        assert.equal(deployed(prod), sha256(prodBuild), "prod runs dev's build of the SHA");
        assert.deepEqual(cached(SHARED), [sha256(devBuild), sha256(prodBuild)].sort());
    });

    it("another stack's retention prunes a release from its own store and cache, and leaves the others' cached copies alone", async () => {
        await stg.publishOne("web", NEWER);
        // Published later than SHARED, so it is the newest: retain 1 keeps it alone.
        const later = new Date(Date.now() + 60_000);
        fs.utimesSync(path.join(stg.artifactsDir, "web", NEWER), later, later);
        stg.setColors({ blue: NEWER }, "blue");
        stg.config.retain = { releases: 1 };
        const r = await up(stg);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`retention: web: pruned ${SHARED}`));
        assert.deepEqual(fs.readdirSync(path.join(stg.artifactsDir, "web")), [NEWER]);
        assert.deepEqual(cached(SHARED), [sha256(devBuild), sha256(prodBuild)].sort(), "dev's and prod's cached copies must survive");
    });
});
