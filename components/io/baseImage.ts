// The base image's files, from the build scripts/setup-host.sh makes on this machine: its
// rootfs cache (<cache>/rootfs-<recipe>, complete when `.complete` is there), tarred into
// <cache>/cluster-image-<recipe>/{metadata.tar,rootfs.tar} as scripts/cluster.sh does, and kept
// for the next time. What `up` imports into a remote that lacks the image.

import * as fs from "fs";
import * as path from "path";
import { runOrThrow } from "./exec";
import { progress } from "./progress";

/** The image alias setup-host.sh builds; another alias is the operator's own image. */
export const BASE_IMAGE = "bluegreen-base";

export function cacheDir(): string {
    return process.env.BLUEGREEN_CACHE_DIR ?? "/var/cache/bluegreen";
}

/** Pure: the metadata.yaml of the image made from the recipe `recipe`. */
export function imageMetadata(recipe: string, arch: string, createdS: number): string {
    return (
        `architecture: ${arch}\ncreation_date: ${createdS}\nproperties:\n  description: bluegreen base (Debian bookworm minbase)\n` +
        `  os: debian\n  release: bookworm\n  bluegreen.recipe: "${recipe}"\n`
    );
}

/** Pure: the tar argv that packs `dir` (its entries, not the dir) into `out`, leaving `exclude` out. */
export function tarCmdArgv(dir: string, out: string, exclude?: string): string[] {
    return ["tar", "-C", dir, ...(exclude ? [`--exclude=./${exclude}`] : []), "-cf", out, "."];
}

/** The files of the base image, made once from the newest complete rootfs cache; undefined when there is none. */
export async function baseImageFiles(alias: string): Promise<string[] | undefined> {
    if (alias !== BASE_IMAGE) return undefined;
    const cache = cacheDir();
    let names: string[];
    try {
        names = fs.readdirSync(cache);
    } catch {
        return undefined;
    }
    const roots = names
        .filter((n) => /^rootfs-[0-9a-f]+$/.test(n) && fs.existsSync(path.join(cache, n, ".complete")))
        .map((n) => ({ recipe: n.slice("rootfs-".length), at: fs.statSync(path.join(cache, n, ".complete")).mtimeMs }))
        .sort((a, b) => b.at - a.at);
    const root = roots[0];
    if (!root) return undefined;
    const img = path.join(cache, `cluster-image-${root.recipe}`);
    const files = [path.join(img, "metadata.tar"), path.join(img, "rootfs.tar")];
    if (files.every((f) => fs.existsSync(f))) return files;
    progress(`incus: packing the base image from ${path.join(cache, `rootfs-${root.recipe}`)}`);
    const tmp = fs.mkdtempSync(path.join(cache, ".cluster-image."));
    try {
        fs.writeFileSync(
            path.join(tmp, "metadata.yaml"),
            imageMetadata(root.recipe, process.arch === "x64" ? "x86_64" : process.arch, Math.floor(Date.now() / 1000)),
        );
        await runOrThrow(
            { argv: ["tar", "-C", tmp, "-cf", path.join(tmp, "metadata.tar"), "metadata.yaml"], timeoutMs: 30_000 },
            "cannot pack the image metadata",
        );
        await runOrThrow(
            { argv: tarCmdArgv(path.join(cache, `rootfs-${root.recipe}`), path.join(tmp, "rootfs.tar"), ".complete"), timeoutMs: 120_000 },
            "cannot pack the base rootfs",
        );
        fs.rmSync(path.join(tmp, "metadata.yaml"));
        // Another run may have made it meanwhile: theirs is as good.
        try {
            fs.renameSync(tmp, img);
        } catch {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    } catch (e) {
        fs.rmSync(tmp, { recursive: true, force: true });
        throw e;
    }
    return files;
}
