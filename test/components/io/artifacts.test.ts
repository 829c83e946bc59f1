import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import {
    ArtifactRef,
    artifactError,
    artifactFileName,
    checksumLine,
    dirStore,
    fetchCached,
    httpStore,
    openStore,
    parseChecksum,
    sha256,
} from "../../../components/io/artifacts";
import { Registry, startRegistry } from "../../helpers/registry";
import { captureStderr, makeTmp, removeTmp, setEnv } from "../../helpers/tmp";

const REF: ArtifactRef = { component: "web", release: "abc1234" };
const FILE = "web-abc1234.tar.gz";
const CONTENT = Buffer.from("release tarball bytes \x00\x01\x02", "binary");
const OTHER = Buffer.from("different bytes", "utf8");
const SUM = sha256(CONTENT);

async function rejectsWith(p: Promise<unknown>, ...patterns: (string | RegExp)[]): Promise<Error> {
    let error: Error | undefined;
    try {
        await p;
    } catch (e) {
        error = e as Error;
    }
    assert.ok(error, "expected a rejection");
    assert.equal(error.name, "ArtifactError", error.stack);
    for (const p of patterns) {
        if (typeof p === "string") assert.ok(error.message.includes(p), `${JSON.stringify(p)} not in: ${error.message}`);
        else assert.match(error.message, p);
    }
    return error;
}

describe("components/artifacts", () => {
    describe("helpers", () => {
        it("names files <component>-<release>.tar.gz and writes sha256sum lines", () => {
            assert.equal(artifactFileName(REF), FILE);
            assert.equal(sha256(Buffer.from("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
            assert.equal(checksumLine(Buffer.from("abc"), "f.tar.gz"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  f.tar.gz\n");
        });

        it("parses a checksum file, and refuses a malformed one", () => {
            assert.equal(parseChecksum(`${SUM}  ${FILE}\n`), SUM);
            assert.equal(parseChecksum(`  ${SUM}\n`), SUM);
            const e = (() => {
                try {
                    parseChecksum("not a checksum");
                } catch (x) {
                    return x as Error;
                }
                return undefined;
            })();
            assert.equal(e?.name, "ArtifactError");
            assert.equal(e?.message, 'malformed checksum file: "not a checksum"');
            assert.throws(() => parseChecksum(SUM.toUpperCase()), /malformed checksum file/);
        });

        it("artifactError is a plain Error named ArtifactError", () => {
            const e = artifactError("m");
            assert.equal(Object.getPrototypeOf(e), Error.prototype);
            assert.equal(e.name, "ArtifactError");
            assert.equal(e.message, "m");
        });
    });

    describe("dirStore", () => {
        let root: string;
        beforeEach(() => {
            root = makeTmp("bluegreen-artifacts-");
        });
        afterEach(() => removeTmp(root));

        const stored = (f = FILE) => path.join(root, "web", "abc1234", f);

        it("publishes the artifact with its checksum file, leaving no temp dir", async () => {
            const store = dirStore(root);
            assert.equal(store.where, `artifact directory ${root}`);
            assert.equal(await store.publish(REF, CONTENT), "published");
            assert.deepEqual(fs.readFileSync(stored()), CONTENT);
            assert.equal(fs.readFileSync(stored(`${FILE}.sha256`), "utf8"), `${SUM}  ${FILE}\n`);
            assert.deepEqual(fs.readdirSync(path.join(root, "web")), ["abc1234"]);
            assert.deepEqual(fs.readdirSync(path.join(root, "web", "abc1234")).sort(), [FILE, `${FILE}.sha256`]);
        });

        it("is unchanged for identical bytes and refuses different bytes as immutable", async () => {
            const store = dirStore(root);
            await store.publish(REF, CONTENT);
            assert.equal(await store.publish(REF, Buffer.from(CONTENT)), "unchanged");
            await rejectsWith(
                store.publish(REF, OTHER),
                `release abc1234 of web is already in artifact directory ${root} with different content`,
                "published artifacts are immutable, so publish the change under a new release SHA",
            );
            assert.deepEqual(fs.readFileSync(stored()), CONTENT);
            assert.deepEqual(fs.readdirSync(path.join(root, "web")), ["abc1234"]);
        });

        it("keeps releases and components apart", async () => {
            const store = dirStore(root);
            await store.publish(REF, CONTENT);
            assert.equal(await store.publish({ component: "web", release: "def5678" }, OTHER), "published");
            assert.equal(await store.publish({ component: "api", release: "abc1234" }, OTHER), "published");
            assert.deepEqual(await store.fetch(REF), CONTENT);
            assert.deepEqual(await store.fetch({ component: "api", release: "abc1234" }), OTHER);
        });

        it("fetch returns the verified bytes", async () => {
            const store = dirStore(root);
            await store.publish(REF, CONTENT);
            assert.deepEqual(await dirStore(root).fetch(REF), CONTENT);
        });

        it("fetch refuses a tampered artifact with a checksum mismatch", async () => {
            const store = dirStore(root);
            await store.publish(REF, CONTENT);
            fs.appendFileSync(stored(), "tampered");
            const tampered = fs.readFileSync(stored());
            await rejectsWith(
                store.fetch(REF),
                `checksum mismatch for ${FILE} in artifact directory ${root}: recorded ${SUM}, content is ${sha256(tampered)}`,
                "republish it under a new release SHA",
            );
        });

        it("fetch of a missing release says how to publish it", async () => {
            await rejectsWith(
                dirStore(root).fetch(REF),
                `release abc1234 of web is not in artifact directory ${root}; publish it first (npm run publish-example -- --release abc1234) or correct the release SHA in bluegreen:colors`,
            );
        });

        it("refuses a malformed checksum file on publish and fetch", async () => {
            fs.mkdirSync(path.dirname(stored()), { recursive: true });
            fs.writeFileSync(stored(), CONTENT);
            fs.writeFileSync(stored(`${FILE}.sha256`), "garbage\n");
            await rejectsWith(dirStore(root).fetch(REF), "malformed checksum file");
            await rejectsWith(dirStore(root).publish(REF, CONTENT), "malformed checksum file");
        });
    });

    describe("httpStore against a generic-package registry", () => {
        let registry: Registry;
        afterEach(async () => {
            await registry?.close();
        });

        it("publishes the artifact, then its checksum, and fetches them back", async () => {
            registry = await startRegistry();
            const store = httpStore(registry.url);
            assert.equal(store.where, `artifact registry ${registry.url}`);
            assert.equal(await store.publish(REF, CONTENT), "published");
            assert.deepEqual(registry.files.get(`web/abc1234/${FILE}`), CONTENT);
            assert.equal(registry.files.get(`web/abc1234/${FILE}.sha256`)?.toString("utf8"), `${SUM}  ${FILE}\n`);
            const base = new URL(registry.url).pathname;
            assert.deepEqual(
                registry.requests.map((r) => `${r.method} ${r.path} ${r.status}`),
                [`GET ${base}/web/abc1234/${FILE}.sha256 404`, `PUT ${base}/web/abc1234/${FILE} 201`, `PUT ${base}/web/abc1234/${FILE}.sha256 201`],
            );
            assert.deepEqual(await httpStore(registry.url + "/").fetch(REF), CONTENT);
        });

        it("republishing identical bytes is unchanged and uploads nothing", async () => {
            registry = await startRegistry();
            const store = httpStore(registry.url);
            await store.publish(REF, CONTENT);
            const before = registry.requests.length;
            assert.equal(await store.publish(REF, Buffer.from(CONTENT)), "unchanged");
            assert.deepEqual(
                registry.requests.slice(before).map((r) => r.method),
                ["GET"],
            );
        });

        it("refuses different bytes for a published release as immutable", async () => {
            registry = await startRegistry();
            const store = httpStore(registry.url);
            await store.publish(REF, CONTENT);
            await rejectsWith(
                store.publish(REF, OTHER),
                `release abc1234 of web is already in artifact registry ${registry.url} with different content`,
                "immutable",
            );
            assert.deepEqual(registry.files.get(`web/abc1234/${FILE}`), CONTENT);
        });

        it("completes an interrupted publish (artifact there, checksum missing) only for the same bytes", async () => {
            registry = await startRegistry();
            registry.files.set(`web/abc1234/${FILE}`, Buffer.from(CONTENT));
            await rejectsWith(httpStore(registry.url).publish(REF, OTHER), "immutable");
            assert.equal(registry.files.has(`web/abc1234/${FILE}.sha256`), false);
            assert.equal(await httpStore(registry.url).publish(REF, CONTENT), "published");
            assert.equal(registry.files.get(`web/abc1234/${FILE}.sha256`)?.toString("utf8"), `${SUM}  ${FILE}\n`);
        });

        it("fetch refuses bytes the registry altered, with a checksum mismatch", async () => {
            registry = await startRegistry();
            await httpStore(registry.url).publish(REF, CONTENT);
            const altered = Buffer.from("altered by the registry");
            registry.files.set(`web/abc1234/${FILE}`, altered);
            await rejectsWith(
                httpStore(registry.url).fetch(REF),
                `checksum mismatch for ${FILE} in artifact registry ${registry.url}: recorded ${SUM}, content is ${sha256(altered)}`,
            );
        });

        it("fetch of a missing release, or of a checksum without its artifact, says how to publish", async () => {
            registry = await startRegistry();
            const missing = `release abc1234 of web is not in artifact registry ${registry.url}; publish it first (npm run publish-example -- --release abc1234)`;
            await rejectsWith(httpStore(registry.url).fetch(REF), missing);
            registry.files.set(`web/abc1234/${FILE}.sha256`, Buffer.from(`${SUM}  ${FILE}\n`));
            await rejectsWith(httpStore(registry.url).fetch(REF), missing);
        });

        it("sends the token, and works with it", async () => {
            registry = await startRegistry({ token: "right-t0ken-123" });
            const store = httpStore(registry.url, "right-t0ken-123");
            assert.equal(await store.publish(REF, CONTENT), "published");
            assert.deepEqual(await store.fetch(REF), CONTENT);
            assert.ok(registry.requests.every((r) => r.authorization === "token right-t0ken-123"));
            assert.ok(!store.where.includes("right-t0ken-123"));
        });

        it("a 401 names bluegreen:artifactToken and never shows the token", async () => {
            registry = await startRegistry({ token: "right-t0ken-123" });
            const hint = "(set the registry token: bluegreen:artifactToken as a secret, or BLUEGREEN_ARTIFACT_TOKEN to publish)";
            const none = await rejectsWith(
                httpStore(registry.url).publish(REF, CONTENT),
                `GET ${registry.url}/web/abc1234/${FILE}.sha256 answered HTTP 401 ${hint}`,
            );
            assert.ok(!none.message.includes("right-t0ken-123"));
            const wrong = await rejectsWith(httpStore(registry.url, "wr0ng-t0ken-456").fetch(REF), "answered HTTP 401", "bluegreen:artifactToken");
            assert.ok(!wrong.message.includes("wr0ng-t0ken-456"), wrong.message);
            assert.equal(registry.files.size, 0);
        });

        it("reports other HTTP errors with their status, the auth hint only for 401/403", async () => {
            registry = await startRegistry();
            registry.forceStatus = 500;
            const e = await rejectsWith(httpStore(registry.url).fetch(REF), new RegExp(`^GET ${registry.url}/web/abc1234/${FILE}\\.sha256 answered HTTP 500$`));
            assert.ok(!e.message.includes("artifactToken"));
            registry.forceStatus = 403;
            await rejectsWith(httpStore(registry.url).fetch(REF), "answered HTTP 403 (set the registry token: bluegreen:artifactToken");
            registry.forceStatus = 500;
            await rejectsWith(httpStore(registry.url).publish(REF, CONTENT), "GET", "answered HTTP 500");
        });

        it("reports an unreachable registry, without the token", async () => {
            registry = await startRegistry();
            const url = registry.url;
            await registry.close();
            const e = await rejectsWith(httpStore(url, "some-t0ken").fetch(REF), `GET ${url}/web/abc1234/${FILE}.sha256 failed:`);
            assert.ok(!e.message.includes("some-t0ken"));
        });
    });

    describe("fetchCached: this host's cache, kept per store", () => {
        let root: string;
        let cache: string;
        let registry: Registry | undefined;
        beforeEach(() => {
            root = makeTmp("bluegreen-cache-");
            cache = path.join(root, "cache");
        });
        afterEach(async () => {
            await registry?.close();
            registry = undefined;
            removeTmp(root);
        });

        const text = (b: Buffer) => b.toString("latin1");
        /** Every cached copy of FILE, wherever the cache keeps it, with its `.sha256` beside it. */
        const copies = (dir = cache): string[] =>
            fs.existsSync(dir)
                ? fs
                      .readdirSync(dir, { recursive: true, encoding: "utf8" })
                      .filter((f) => path.basename(f) === FILE)
                      .map((f) => path.join(dir, f))
                : [];

        it("two stores publishing different bytes under one component and release: each gets its own store's bytes", async () => {
            const dev = dirStore(path.join(root, "dev"));
            const prod = dirStore(path.join(root, "prod"));
            await dev.publish(REF, OTHER);
            await prod.publish(REF, CONTENT);
            assert.equal(text(await fetchCached(dev, REF, cache)), text(OTHER));
            assert.equal(text(await fetchCached(prod, REF, cache)), text(CONTENT), "prod got dev's build of the same SHA");
            assert.equal(text(await fetchCached(dev, REF, cache)), text(OTHER));
            assert.deepEqual(
                copies()
                    .map((f) => sha256(fs.readFileSync(f)))
                    .sort(),
                [sha256(CONTENT), sha256(OTHER)].sort(),
            );
        });

        it("a cache hit whose bytes differ from the store's published checksum is refetched from the store, and the copy replaced", async () => {
            const store = dirStore(path.join(root, "store"));
            await store.publish(REF, CONTENT);
            await fetchCached(store, REF, cache);
            // Altered together with its own checksum file: the cache's checksum alone would accept it.
            for (const f of copies()) {
                fs.writeFileSync(f, OTHER);
                fs.writeFileSync(`${f}.sha256`, checksumLine(OTHER, FILE));
            }
            assert.equal(text(await fetchCached(store, REF, cache)), text(CONTENT));
            assert.deepEqual(
                copies().map((f) => text(fs.readFileSync(f))),
                [text(CONTENT)],
            );
        });

        it("a release its store no longer publishes is refused, though this host cached it", async () => {
            const store = dirStore(path.join(root, "store"));
            await store.publish(REF, CONTENT);
            await fetchCached(store, REF, cache);
            fs.rmSync(path.join(root, "store", "web", "abc1234"), { recursive: true });
            await rejectsWith(fetchCached(store, REF, cache), `release abc1234 of web is not in artifact directory ${path.join(root, "store")}`);
        });

        it("a store that cannot be reached: the copy cached from that same store is used, another store's never", async () => {
            registry = await startRegistry();
            const url = registry.url;
            await httpStore(url).publish(REF, CONTENT);
            await fetchCached(httpStore(url), REF, cache);
            await registry.close();
            const restore = setEnv({ BLUEGREEN_QUIET: undefined });
            try {
                const { result, stderr } = await captureStderr(() => fetchCached(httpStore(url), REF, cache));
                assert.equal(text(result), text(CONTENT));
                assert.match(
                    stderr,
                    /artifacts: artifact registry \S+ cannot be read \(GET .* failed: .*\); using the copy of web-abc1234\.tar\.gz this host cached from it/,
                );
            } finally {
                restore();
            }
            await rejectsWith(fetchCached(httpStore(`${url}/other`), REF, cache), "failed:");
        });
    });

    describe("openStore", () => {
        it("opens a directory store, resolving a relative path against the project", () => {
            assert.equal(openStore({ type: "dir", path: ".artifacts" }, "/srv/project").where, "artifact directory /srv/project/.artifacts");
            assert.equal(openStore({ type: "dir", path: "/var/artifacts" }, "/srv/project").where, "artifact directory /var/artifacts");
        });

        it("opens a registry store with the token, never showing it", async () => {
            const registry = await startRegistry({ token: "open-t0ken" });
            try {
                const store = openStore({ type: "http", url: registry.url + "/" }, "/srv/project", "open-t0ken");
                assert.equal(store.where, `artifact registry ${registry.url}`);
                assert.equal(await store.publish(REF, CONTENT), "published");
                assert.equal(registry.requests[0].authorization, "token open-t0ken");
            } finally {
                await registry.close();
            }
        });
    });
});
