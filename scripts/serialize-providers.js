// The build's child (scripts/build.js): serializes the build's dynamic providers as the
// program would, and writes them for that build. A script file, not `node -e`: under -e,
// Node exposes built-in modules as globals, and the serializer would capture `global.fs`.
//
//   node scripts/serialize-providers.js <out file> <key>

"use strict";
const path = require("path");
const { writeSerialized } = require(path.join(__dirname, "..", "bin", "components", "providers", "serialized.js"));

writeSerialized(process.argv[2], process.argv[3]).then(
    () => process.exit(0),
    (e) => {
        process.stderr.write(`${(e && e.stack) || e}\n`);
        process.exit(1);
    },
);
