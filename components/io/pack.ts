// Release tarballs: a directory with an executable `start` at its root, packed so the
// same files always give the same bytes (republishing is then a no-op).

import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import { Cmd, runOrThrow } from "./exec";
import { withTempDir } from "./tmp";

/** Pure: a tar command whose output depends only on the files' names, modes and contents. */
export function packCmd(dir: string, out: string): Cmd {
    return {
        argv: ["tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf", out, "-C", dir, "."],
    };
}

/** Pure: `tar -tvz` of a tarball on stdin. */
export function listCmd(tarball: Buffer): Cmd {
    return { argv: ["tar", "-tvzf", "-"], input: tarball, timeoutMs: 60_000 };
}

/** Pure: the problem with a tarball's listing, or undefined: `start` must be an executable file at its root. */
export function entryProblem(listing: string): string | undefined {
    const start = listing.split("\n").find((l) => /\s(\.\/)?start$/.test(l.trim()));
    if (!start) return "it has no `start` at its root (the image's init runs /opt/bluegreen/app/start)";
    if (!/^-..x/.test(start.trim())) return "its `start` is not an executable file (chmod +x start)";
    return undefined;
}

/** Packs a directory reproducibly, refusing one without an executable `start`. */
export async function packDirectory(dir: string): Promise<Buffer> {
    const start = path.join(dir, "start");
    if (!fs.existsSync(start) || !fs.statSync(start).isFile()) throw new Error(`${dir} has no \`start\` file at its root; the image's init runs it`);
    if (!(fs.statSync(start).mode & 0o111)) throw new Error(`${start} is not executable; chmod +x it`);
    return withTempDir(async (tmp) => {
        const tar = path.join(tmp, "release.tar");
        await runOrThrow(packCmd(dir, tar), `cannot pack ${dir}`);
        // gzip with a zero mtime in its header keeps the bytes reproducible.
        return zlib.gzipSync(new Uint8Array(fs.readFileSync(tar)), { level: 9 });
    });
}

/** Checks a tarball someone else built: it unpacks, and has an executable `start` at its root. */
export async function checkTarball(tarball: Buffer, what: string): Promise<void> {
    const listing = await runOrThrow(listCmd(tarball), `${what} is not a gzip'd tarball`);
    const problem = entryProblem(listing.stdout);
    if (problem) throw new Error(`${what}: ${problem}`);
}
