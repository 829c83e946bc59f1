// Retention against real directories: the artifact store and this host's cache.
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { ArtifactStore, artifactFileName, dirStore, fetchCached, httpStore, sha256 } from "../../../../components/io/artifacts";
import { RetentionInputs, applyRetention } from "../../../../components/release/safety/retention";
import { Registry, startRegistry } from "../../../helpers/registry";
import { makeTmp, removeTmp, setEnv } from "../../../helpers/tmp";

const R1 = "e0e0001";
const R2 = "e0e0002";
const bytes = (store: string, release: string) => Buffer.from(`${store}'s build of ${release}`);

describe("release/safety/retention: the artifact cache is pruned per store", () => {
    let root: string;
    let cache: string;
    let restore: () => void;
    let registry: Registry | undefined;
    beforeEach(() => {
        root = makeTmp("bluegreen-retention-");
        cache = path.join(root, "cache");
        fs.mkdirSync(path.join(root, "state"));
        restore = setEnv({ BLUEGREEN_ARTIFACT_CACHE: cache, BLUEGREEN_QUIET: "1" });
    });
    afterEach(async () => {
        restore();
        await registry?.close();
        registry = undefined;
        removeTmp(root);
    });

    const inputs = (artifacts: RetentionInputs["artifacts"], over: Partial<RetentionInputs> = {}): RetentionInputs => ({
        mode: "up",
        keep: 1,
        artifacts,
        components: ["web"],
        inUse: [R2],
        services: [],
        host: { placement: "host" },
        stateDir: path.join(root, "state"),
        stack: "dev",
        ...over,
    });
    /** Publishes R1 then R2 (a minute apart, so R2 is the newest) and fetches both through the cache. */
    async function publishAndCache(store: ArtifactStore, name: string, dir?: string): Promise<void> {
        for (const [n, release] of [R1, R2].entries()) {
            await store.publish({ component: "web", release }, bytes(name, release));
            if (dir) fs.utimesSync(path.join(dir, "web", release), 1e9 + 60 * n, 1e9 + 60 * n);
            await fetchCached(store, { component: "web", release });
        }
    }
    /** The checksums of every cached copy of `release` of web, wherever the cache keeps it. */
    const cached = (release: string): string[] =>
        fs
            .readdirSync(cache, { recursive: true, encoding: "utf8" })
            .filter((f) => path.basename(f) === artifactFileName({ component: "web", release }))
            .map((f) => sha256(fs.readFileSync(path.join(cache, f))))
            .sort();

    it("retention of store X prunes X's cached copies and leaves store Y's copies of the same release alone", async () => {
        const x = path.join(root, "x");
        const y = path.join(root, "y");
        await publishAndCache(dirStore(y), "y", y);
        await publishAndCache(dirStore(x), "x", x);

        assert.deepEqual(await applyRetention(inputs({ type: "dir", path: x })), { web: [R1] });
        assert.deepEqual(fs.readdirSync(path.join(x, "web")), [R2]);
        assert.deepEqual(fs.readdirSync(path.join(y, "web")).sort(), [R1, R2]);
        assert.deepEqual(cached(R1), [sha256(bytes("y", R1))], "Y's cached copy of R1 must survive X's retention");
        assert.deepEqual(cached(R2), [sha256(bytes("x", R2)), sha256(bytes("y", R2))].sort());
    });

    it("never prunes the canary record's last-known-good: setting it back is an undo that needs its artifact", async () => {
        const x = path.join(root, "x");
        await publishAndCache(dirStore(x), "x", x);
        fs.writeFileSync(
            path.join(root, "state", "canary.json"),
            JSON.stringify({ release: R2, from: R1, color: "blue", phase: "done", updatedAt: "2026-12-07T00:00:00Z" }),
        );
        assert.deepEqual(await applyRetention(inputs({ type: "dir", path: x })), {});
        assert.deepEqual(fs.readdirSync(path.join(x, "web")).sort(), [R1, R2]);
    });

    it("an http store's report names only the releases cached from that store", async () => {
        const x = path.join(root, "x");
        await publishAndCache(dirStore(x), "x", x);
        registry = await startRegistry();
        const y = httpStore(registry.url);
        await y.publish({ component: "web", release: R2 }, bytes("y", R2));
        await fetchCached(y, { component: "web", release: R2 });
        // Y's cache holds R2 alone, which config runs: nothing to report. X's R1 is not Y's.
        assert.deepEqual(await applyRetention(inputs({ type: "http", url: registry.url })), {});
    });
});
