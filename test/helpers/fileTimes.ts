// Root hooks for the e2e run (scripts/test.sh): each file's wall time, so the `slowest` order
// that keeps the parallel workers busy can be kept true. In parallel mode they run per file.

import * as path from "path";

let started = 0;

export const mochaHooks = {
    beforeAll(): void {
        started = Date.now();
    },
    afterAll(this: Mocha.Context): void {
        const file = this.test?.parent?.suites.find((s) => s.file)?.file;
        if (file) console.log(`[e2e-time] ${path.basename(file, ".test.ts")} ${Math.round((Date.now() - started) / 1000)} s`);
    },
};
