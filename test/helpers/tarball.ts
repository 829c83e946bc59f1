// Real release tarballs for tests, written by the system's GNU tar from a temp directory.

import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import { makeTmp, removeTmp } from "./tmp";

export type TarFormat = "gnu" | "posix" | "ustar" | "oldgnu";

/**
 * A tar archive of `files` (path -> content; a path ending in `/` is a directory),
 * built like a release (`tar -C dir .`, so entries are named `./...`), gzipped unless
 * `gzip: false`. `symlinks` (path -> target) are added as symbolic links; `transform`
 * is GNU tar's `--transform` sed expression, renaming members as they are stored.
 */
export function tarball(
    files: Record<string, string | Buffer>,
    opts: { format?: TarFormat; gzip?: boolean; symlinks?: Record<string, string>; transform?: string } = {},
): Buffer {
    const dir = makeTmp("bluegreen-tarball-");
    try {
        const root = path.join(dir, "root");
        fs.mkdirSync(root);
        for (const [name, content] of Object.entries(files)) {
            const p = path.join(root, name);
            if (name.endsWith("/")) {
                fs.mkdirSync(p, { recursive: true });
                continue;
            }
            fs.mkdirSync(path.dirname(p), { recursive: true });
            fs.writeFileSync(p, content);
        }
        for (const [name, target] of Object.entries(opts.symlinks ?? {})) {
            fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
            fs.symlinkSync(target, path.join(root, name));
        }
        const out = path.join(dir, "out.tar");
        const argv = [
            "--sort=name",
            `--format=${opts.format ?? "gnu"}`,
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            ...(opts.transform ? [`--transform=${opts.transform}`] : []),
            "-cf",
            out,
            "-C",
            root,
            ".",
        ];
        const r = spawnSync("tar", argv, { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`tar ${argv.join(" ")}: ${r.stderr}`);
        const tar = fs.readFileSync(out);
        return opts.gzip === false ? tar : zlib.gzipSync(tar);
    } finally {
        removeTmp(dir);
    }
}
