// `npm run local -- <command> ...`: brings the compiled build in bin/ up to date with the
// sources (scripts/build.js; nothing to do in a few milliseconds when it is), then runs
// the runner from it in this process. A stale build never runs.

"use strict";
const path = require("path");
const { build, OUT, COMPILE_CACHE } = require("./build");

try {
    build();
} catch (e) {
    process.stderr.write(`error: cannot build the runner: ${e.message}\nFix the file it names (npx tsc --noEmit shows all errors), then run again.\n`);
    process.exit(1);
}
// V8's code cache for what the run loads (runner/compileCache.ts); BLUEGREEN_COMPILE_CACHE=0 turns it off.
if (process.env.BLUEGREEN_COMPILE_CACHE !== "0") require(path.join(OUT, "runner", "compileCache.js")).installCompileCache(require, COMPILE_CACHE);
require(path.join(OUT, "runner", "cli.js")).start(process.argv.slice(2));
