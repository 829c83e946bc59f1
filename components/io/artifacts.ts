// The artifact store: release tarballs addressed by (component, release SHA).
// Immutable once published, and verified against their SHA-256 on every fetch.
// Dev uses a directory; staging/prod a generic-package registry (Forgejo/Gitea API).

import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import type { ArtifactStoreSpec } from "../model/config";
import { migrationsOf } from "../model/stateful/migrations";
import { MAX_RELEASE_UNPACKED_BYTES, readTar } from "../model/stateful/tar";
import { progress } from "./progress";

export interface ArtifactRef {
    readonly component: string;
    readonly release: string;
}

export type PublishOutcome = "published" | "unchanged";

export interface ArtifactStore {
    /** Stores the artifact; identical content is a no-op, different content is refused. */
    publish(ref: ArtifactRef, content: Buffer): Promise<PublishOutcome>;
    /** Returns the artifact after checking it against its recorded checksum. */
    fetch(ref: ArtifactRef): Promise<Buffer>;
    /** The checksum the store publishes for the artifact; undefined when it has none. Throws when the store cannot be read. */
    checksum(ref: ArtifactRef): Promise<string | undefined>;
    /** Human-readable location, never containing credentials. */
    readonly where: string;
    /** The store's kind and resolved path or URL, never credentials: what this host's cache is keyed by. */
    readonly identity: string;
}

/** Artifact errors are plain Errors named ArtifactError (see errors.ts for why not a class). */
export function artifactError(message: string): Error {
    const e = new Error(message);
    e.name = "ArtifactError";
    return e;
}

export function artifactFileName(ref: ArtifactRef): string {
    return `${ref.component}-${ref.release}.tar.gz`;
}

export function sha256(content: Buffer): string {
    return crypto.createHash("sha256").update(content).digest("hex");
}

/** `sha256sum` format: `<hex>  <file>`. */
export function checksumLine(content: Buffer, fileName: string): string {
    return `${sha256(content)}  ${fileName}\n`;
}

export function parseChecksum(text: string): string {
    const m = /^([0-9a-f]{64})\b/.exec(text.trim());
    if (!m) throw artifactError(`malformed checksum file: ${JSON.stringify(text.slice(0, 80))}`);
    return m[1];
}

function immutable(ref: ArtifactRef, where: string): Error {
    return artifactError(
        `release ${ref.release} of ${ref.component} is already in ${where} with different content; ` +
            `published artifacts are immutable, so publish the change under a new release SHA`,
    );
}

function missing(ref: ArtifactRef, where: string): Error {
    return artifactError(
        `release ${ref.release} of ${ref.component} is not in ${where}; publish it first ` +
            `(npm run publish-example -- --release ${ref.release}) or correct the release SHA in bluegreen:colors`,
    );
}

function verify(ref: ArtifactRef, content: Buffer, expected: string, where: string): Buffer {
    const actual = sha256(content);
    if (actual !== expected) {
        throw artifactError(
            `checksum mismatch for ${artifactFileName(ref)} in ${where}: recorded ${expected}, content is ${actual}. ` +
                `The stored artifact was altered or truncated; republish it under a new release SHA`,
        );
    }
    return content;
}

/** A local directory: `<root>/<component>/<release>/<component>-<release>.tar.gz` plus `.sha256`. */
export function dirStore(root: string): ArtifactStore {
    const where = `artifact directory ${root}`;
    const dirOf = (ref: ArtifactRef) => path.join(root, ref.component, ref.release);
    const checksumOf = (ref: ArtifactRef) => readIfExists(path.join(dirOf(ref), `${artifactFileName(ref)}.sha256`));
    return {
        where,
        identity: `dir:${realOrResolved(root)}`,
        async checksum(ref) {
            const sum = checksumOf(ref);
            return sum === undefined ? undefined : parseChecksum(sum);
        },
        async publish(ref, content) {
            const file = artifactFileName(ref);
            const final = dirOf(ref);
            const existing = readIfExists(path.join(final, `${file}.sha256`));
            if (existing !== undefined) {
                if (parseChecksum(existing) === sha256(content)) return "unchanged";
                throw immutable(ref, where);
            }
            // Write into a sibling temp dir and rename it in, so a reader never sees half an artifact.
            const tmp = path.join(root, ref.component, `.tmp-${ref.release}-${process.pid}-${Date.now()}`);
            fs.mkdirSync(tmp, { recursive: true });
            fs.writeFileSync(path.join(tmp, file), content);
            fs.writeFileSync(path.join(tmp, `${file}.sha256`), checksumLine(content, file));
            try {
                fs.renameSync(tmp, final);
            } catch (e) {
                fs.rmSync(tmp, { recursive: true, force: true });
                const raced = readIfExists(path.join(final, `${file}.sha256`));
                if (raced !== undefined && parseChecksum(raced) === sha256(content)) return "unchanged";
                throw raced !== undefined ? immutable(ref, where) : e;
            }
            return "published";
        },
        async fetch(ref) {
            const file = artifactFileName(ref);
            const sum = checksumOf(ref);
            if (sum === undefined) throw missing(ref, where);
            return verify(ref, fs.readFileSync(path.join(dirOf(ref), file)), parseChecksum(sum), where);
        },
    };
}

/** The same directory, however it is named (a symlink, a relative path). */
function realOrResolved(p: string): string {
    try {
        return fs.realpathSync(p);
    } catch {
        return path.resolve(p);
    }
}

function readIfExists(p: string): string | undefined {
    try {
        return fs.readFileSync(p, "utf8");
    } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw e;
    }
}

/**
 * A generic-package registry, as Forgejo and Gitea expose it:
 * `PUT|GET <base>/<package>/<version>/<file>`, where an existing file answers 409 to PUT.
 */
export function httpStore(base: string, token?: string, timeoutMs = 60_000): ArtifactStore {
    const root = base.replace(/\/+$/, "");
    const where = `artifact registry ${root}`;
    const urlOf = (ref: ArtifactRef, file: string) => `${root}/${ref.component}/${ref.release}/${file}`;
    const headers = (): Record<string, string> => (token ? { authorization: `token ${token}` } : {});
    const request = async (method: string, url: string, body?: Buffer): Promise<{ status: number; body: Buffer }> => {
        try {
            const res = await fetch(url, { method, headers: headers(), body: body ? new Uint8Array(body) : undefined, signal: AbortSignal.timeout(timeoutMs) });
            return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
        } catch (e) {
            throw artifactError(`${method} ${url} failed: ${(e as Error).message}`);
        }
    };
    const get = async (ref: ArtifactRef, file: string): Promise<Buffer | undefined> => {
        const r = await request("GET", urlOf(ref, file));
        if (r.status === 404) return undefined;
        if (r.status !== 200) throw artifactError(`GET ${urlOf(ref, file)} answered HTTP ${r.status}${authHint(r.status)}`);
        return r.body;
    };
    const put = async (ref: ArtifactRef, file: string, body: Buffer): Promise<"created" | "exists"> => {
        const r = await request("PUT", urlOf(ref, file), body);
        if (r.status === 201 || r.status === 200) return "created";
        if (r.status === 409) return "exists";
        throw artifactError(`PUT ${urlOf(ref, file)} answered HTTP ${r.status}${authHint(r.status)}`);
    };
    return {
        where,
        identity: `http:${root}`,
        async checksum(ref) {
            const sum = await get(ref, `${artifactFileName(ref)}.sha256`);
            return sum === undefined ? undefined : parseChecksum(sum.toString("utf8"));
        },
        async publish(ref, content) {
            const file = artifactFileName(ref);
            const sum = sha256(content);
            const existingSum = await get(ref, `${file}.sha256`);
            if (existingSum !== undefined) {
                if (parseChecksum(existingSum.toString("utf8")) === sum) return "unchanged";
                throw immutable(ref, where);
            }
            // The artifact goes first: a checksum file only ever names content that is there.
            if ((await put(ref, file, content)) === "exists") {
                const stored = await get(ref, file);
                if (!stored || sha256(stored) !== sum) throw immutable(ref, where);
            }
            await put(ref, `${file}.sha256`, Buffer.from(checksumLine(content, file)));
            return "published";
        },
        async fetch(ref) {
            const file = artifactFileName(ref);
            const sum = await get(ref, `${file}.sha256`);
            if (sum === undefined) throw missing(ref, where);
            const content = await get(ref, file);
            if (content === undefined) throw missing(ref, where);
            return verify(ref, content, parseChecksum(sum.toString("utf8")), where);
        },
    };
}

function authHint(status: number): string {
    return status === 401 || status === 403 ? " (set the registry token: bluegreen:artifactToken as a secret, or BLUEGREEN_ARTIFACT_TOKEN to publish)" : "";
}

/**
 * The SQL migrations a release tarball (gzip + tar) carries under `migrations/`,
 * path -> text, read in memory, unpacking at most `maxUnpackedBytes`. Throws an
 * ArtifactError naming what cannot be read.
 */
export function releaseMigrations(tarball: Buffer, maxUnpackedBytes = MAX_RELEASE_UNPACKED_BYTES): Record<string, string> {
    try {
        return migrationsOf(readTar(zlib.gunzipSync(tarball, { maxOutputLength: maxUnpackedBytes })));
    } catch (e) {
        const why =
            (e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE"
                ? `the release tarball unpacks to more than ${mebibytes(maxUnpackedBytes)}, the cap on what bluegreen reads of a release`
                : (e as Error).message;
        throw artifactError(`cannot read the release tarball's migrations: ${why}`);
    }
}

function mebibytes(n: number): string {
    return n >= 1024 ** 3 ? `${+(n / 1024 ** 3).toFixed(2)} GiB` : `${+(n / 1024 ** 2).toFixed(2)} MiB`;
}

/** Opens the store a stack's config names. Relative dirs resolve against `projectDir`. */
export function openStore(spec: ArtifactStoreSpec, projectDir: string, token?: string): ArtifactStore {
    return spec.type === "dir" ? dirStore(path.resolve(projectDir, spec.path)) : httpStore(spec.url, token);
}

/**
 * Where verified artifacts are kept on this host, so a color replaced delete-first is
 * never left half gone by a registry that went away between the delete and the create.
 */
export function artifactCacheDir(): string {
    return process.env.BLUEGREEN_ARTIFACT_CACHE ?? "/var/cache/bluegreen/artifacts";
}

/**
 * One store's part of the cache: every stack on a host shares the cache, and two stores
 * may hold different bytes under the same component and release (a dev build of a SHA).
 */
export function storeCacheDir(identity: string, cacheDir = artifactCacheDir()): string {
    return path.join(cacheDir, `store-${sha256(Buffer.from(identity)).slice(0, 16)}`);
}

/**
 * Fetches through this store's part of the cache. A cached copy is used when its bytes
 * match the checksum the store publishes now; otherwise the store's, verified, replaces
 * it. A release the store does not publish is refused, cached or not. Only when the store
 * cannot be read at all does the copy cached from it stand in (it was verified against
 * the same store's checksum). Cache files are written atomically.
 */
export async function fetchCached(store: ArtifactStore, ref: ArtifactRef, cacheDir = artifactCacheDir()): Promise<Buffer> {
    const root = storeCacheDir(store.identity, cacheDir);
    const dir = path.join(root, ref.component, ref.release);
    const file = path.join(dir, artifactFileName(ref));
    const sum = readIfExists(`${file}.sha256`);
    const copy = sum !== undefined && fs.existsSync(file) ? fs.readFileSync(file) : undefined;
    let published: string | undefined;
    try {
        published = await store.checksum(ref);
    } catch (e) {
        if (copy === undefined || sha256(copy) !== parseChecksum(sum!)) throw e;
        progress(`artifacts: ${store.where} cannot be read (${(e as Error).message}); using the copy of ${artifactFileName(ref)} this host cached from it`);
        return copy;
    }
    if (published === undefined) throw missing(ref, store.where);
    if (copy !== undefined && sha256(copy) === published) return copy;
    const content = await store.fetch(ref);
    try {
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(root, "store"), `${store.identity}\n`);
        const tmp = `${file}.tmp-${process.pid}`;
        fs.writeFileSync(tmp, new Uint8Array(content));
        fs.renameSync(tmp, file);
        fs.writeFileSync(`${file}.sha256.tmp-${process.pid}`, checksumLine(content, artifactFileName(ref)));
        fs.renameSync(`${file}.sha256.tmp-${process.pid}`, `${file}.sha256`);
    } catch {
        // A cache that cannot be written (no permission, full disk) only costs a second fetch.
    }
    return content;
}
