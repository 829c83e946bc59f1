// Scratch files: one helper, always removed afterwards.

import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** Runs `fn` with a fresh private temp directory, removed afterwards whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bluegreen-"));
    try {
        return await fn(dir);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** Replaces a file atomically on this host: write a temp file beside it, fsync, rename over it. Private (0600) unless `mode` says otherwise. */
export function writeFileAtomic(file: string, content: string | Buffer, mode = 0o600): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    const fd = fs.openSync(tmp, "w", mode);
    try {
        fs.fchmodSync(fd, mode); // exactly `mode`, whatever the umask or a leftover temp file

        if (typeof content === "string") fs.writeSync(fd, content);
        else fs.writeSync(fd, new Uint8Array(content));
        fs.fsyncSync(fd);
    } finally {
        fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
}
