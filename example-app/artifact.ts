// Builds the example app's release tarball. Deterministic: the same release, broken
// mode and migrations (names and contents) always give the same bytes, so
// republishing is a no-op.

import * as fs from "fs";
import * as path from "path";
import { packDirectory } from "../components/io/pack";
import { withTempDir } from "../components/io/tmp";

export const BROKEN_MODES = ["health", "health-node-2", "latency", "errors", "migrate"] as const;
export type BrokenMode = (typeof BROKEN_MODES)[number];

/** The release's entry point: the image's init runs `/opt/bluegreen/app/start`. */
export const START_SCRIPT = '#!/bin/sh\nexec node "$(dirname "$0")/server.js"\n';

/**
 * The release tarball. Each of `migrations` (SQL files) goes in as `migrations/<basename>`;
 * without any, there is no migrations/ directory and the bytes are what they always were.
 */
export async function buildExampleArtifact(release: string, broken?: BrokenMode, migrations: readonly string[] = []): Promise<Buffer> {
    return withTempDir(async (dir) => {
        const app = path.join(dir, "app");
        fs.mkdirSync(app);
        fs.copyFileSync(path.join(__dirname, "server.js"), path.join(app, "server.js"));
        fs.writeFileSync(path.join(app, "release.json"), JSON.stringify({ release, ...(broken ? { broken } : {}) }) + "\n");
        fs.writeFileSync(path.join(app, "start"), START_SCRIPT, { mode: 0o755 });
        fs.chmodSync(path.join(app, "start"), 0o755);
        fs.chmodSync(path.join(app, "server.js"), 0o644);
        fs.chmodSync(path.join(app, "release.json"), 0o644);
        fs.chmodSync(app, 0o755);
        if (migrations.length > 0) {
            const dest = path.join(app, "migrations");
            fs.mkdirSync(dest);
            fs.chmodSync(dest, 0o755);
            for (const file of migrations) {
                const target = path.join(dest, path.basename(file));
                if (fs.existsSync(target))
                    throw new Error(`two migrations are named ${path.basename(file)}; each goes into the release as migrations/<basename>`);
                // Content only: the source file's mode and mtime never reach the tarball.
                fs.writeFileSync(target, fs.readFileSync(file));
                fs.chmodSync(target, 0o644);
            }
        }
        return packDirectory(app);
    });
}
