import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { BROKEN_MODES, START_SCRIPT, buildExampleArtifact } from "../../example-app/artifact";
import { makeTmp, removeTmp } from "../helpers/tmp";

const SERVER_JS = path.resolve(__dirname, "..", "..", "example-app", "server.js");

function tar(args: string[], cwd: string): string {
    const r = spawnSync("tar", args, { cwd, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
}

describe("example-app/artifact", function () {
    this.timeout(30_000);
    let dir: string;
    beforeEach(() => {
        dir = makeTmp("bluegreen-artifact-");
    });
    afterEach(() => removeTmp(dir));

    it("the start script execs node on the server.js next to it", () => {
        assert.equal(START_SCRIPT, '#!/bin/sh\nexec node "$(dirname "$0")/server.js"\n');
        assert.deepEqual([...BROKEN_MODES], ["health", "latency", "errors"]);
    });

    it("builds identical bytes for the same release and broken mode, different ones otherwise", async () => {
        const one = await buildExampleArtifact("abc1234");
        const two = await buildExampleArtifact("abc1234");
        assert.ok(one.equals(two), "same inputs gave different bytes");
        assert.equal(one.readUInt16BE(0), 0x1f8b, "gzip magic");
        assert.equal(one.readUInt32LE(4), 0, "gzip header mtime is zero");

        const brokenA = await buildExampleArtifact("abc1234", "latency");
        const brokenB = await buildExampleArtifact("abc1234", "latency");
        assert.ok(brokenA.equals(brokenB));
        assert.ok(!brokenA.equals(one));
        assert.ok(!brokenA.equals(await buildExampleArtifact("abc1234", "errors")));
        assert.ok(!one.equals(await buildExampleArtifact("def5678")));
    });

    it("holds start (0755), server.js and release.json with the release and broken mode, owned by 0/0 at mtime 0", async () => {
        const file = path.join(dir, "release.tar.gz");
        fs.writeFileSync(file, await buildExampleArtifact("abc1234", "health"));
        const listing = tar(["-tzvf", file, "--numeric-owner", "--utc"], dir)
            .split("\n")
            .filter(Boolean)
            .map((line) => line.split(/\s+/));
        // perms owner/group size date time name
        const entries = Object.fromEntries(listing.map((f) => [f[5], { mode: f[0], owner: f[1], date: `${f[3]} ${f[4]}` }]));
        assert.deepEqual(Object.keys(entries), ["./", "./release.json", "./server.js", "./start"]);
        assert.equal(entries["./start"].mode, "-rwxr-xr-x");
        assert.equal(entries["./server.js"].mode, "-rw-r--r--");
        assert.equal(entries["./release.json"].mode, "-rw-r--r--");
        assert.equal(entries["./"].mode, "drwxr-xr-x");
        for (const e of Object.values(entries)) {
            assert.equal(e.owner, "0/0");
            assert.equal(e.date, "1970-01-01 00:00");
        }

        tar(["-xzf", file], dir);
        assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, "release.json"), "utf8")), { release: "abc1234", broken: "health" });
        assert.equal(fs.readFileSync(path.join(dir, "start"), "utf8"), START_SCRIPT);
        assert.equal(fs.readFileSync(path.join(dir, "server.js"), "utf8"), fs.readFileSync(SERVER_JS, "utf8"));
    });

    it("writes no broken key for a healthy release", async () => {
        const file = path.join(dir, "release.tar.gz");
        fs.writeFileSync(file, await buildExampleArtifact("def5678"));
        assert.equal(tar(["-xzOf", file, "./release.json"], dir), '{"release":"def5678"}\n');
    });
});
