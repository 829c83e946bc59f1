// Temporary directories removed after each test.

import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export function makeTempDir(prefix = "bluegreen-test-"): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string | undefined): void {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
}
