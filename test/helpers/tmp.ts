// Temp directories and environment overrides that tests undo afterwards.

import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** A fresh directory in os.tmpdir(); remove it with removeTmp. */
export function makeTmp(prefix = "bluegreen-test-"): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeTmp(dir: string | undefined): void {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * Sets (string) or unsets (undefined) environment variables; returns a function
 * that restores every one of them to what it was.
 */
export function setEnv(vars: Record<string, string | undefined>): () => void {
    const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
    for (const [k, v] of Object.entries(vars)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
    return () => {
        for (const [k, v] of Object.entries(saved)) {
            if (v === undefined) delete process.env[k];
            else process.env[k] = v;
        }
    };
}

/** Runs `f` with process.stderr.write captured; returns what was written. */
export async function captureStderr<T>(f: () => Promise<T>): Promise<{ result: T; stderr: string }> {
    const chunks: string[] = [];
    const original = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => {
        chunks.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
        return true;
    }) as typeof process.stderr.write;
    try {
        const result = await f();
        return { result, stderr: chunks.join("") };
    } finally {
        process.stderr.write = original;
    }
}
