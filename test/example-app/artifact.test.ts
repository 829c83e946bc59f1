import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { releaseMigrations } from "../../components/io/artifacts";
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
        assert.deepEqual([...BROKEN_MODES], ["health", "health-node-2", "latency", "errors", "migrate"]);
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

    describe("--migration files", () => {
        /** Writes SQL files into dir/<sub>/ and returns their paths. */
        const sqlFiles = (sub: string, files: Record<string, string>, mode = 0o644) => {
            fs.mkdirSync(path.join(dir, sub), { recursive: true });
            return Object.entries(files).map(([name, sql]) => {
                const p = path.join(dir, sub, name);
                fs.writeFileSync(p, sql);
                fs.chmodSync(p, mode);
                return p;
            });
        };
        const listing = (artifact: Buffer) => {
            const file = path.join(dir, "listed.tar.gz");
            fs.writeFileSync(file, artifact);
            return tar(["-tzvf", file, "--numeric-owner", "--utc"], dir)
                .split("\n")
                .filter(Boolean)
                .map((line) => line.split(/\s+/))
                .map((f) => `${f[0]} ${f[1]} ${f[3]} ${f[5]}`);
        };

        it("go into the release as migrations/<basename>, 0644 in a 0755 directory, owned by 0/0 at mtime 0", async () => {
            const files = sqlFiles("db", { "0001_init.sql": "CREATE TABLE users (id int);\n", "0002_email.sql": "ALTER TABLE users ADD email text;\n" }, 0o600);
            const artifact = await buildExampleArtifact("abc1234", undefined, files);
            assert.deepEqual(listing(artifact), [
                "drwxr-xr-x 0/0 1970-01-01 ./",
                "drwxr-xr-x 0/0 1970-01-01 ./migrations/",
                "-rw-r--r-- 0/0 1970-01-01 ./migrations/0001_init.sql",
                "-rw-r--r-- 0/0 1970-01-01 ./migrations/0002_email.sql",
                "-rw-r--r-- 0/0 1970-01-01 ./release.json",
                "-rw-r--r-- 0/0 1970-01-01 ./server.js",
                "-rwxr-xr-x 0/0 1970-01-01 ./start",
            ]);
            // What the migration guard reads out of it.
            assert.deepEqual(releaseMigrations(artifact), {
                "migrations/0001_init.sql": "CREATE TABLE users (id int);\n",
                "migrations/0002_email.sql": "ALTER TABLE users ADD email text;\n",
            });
        });

        it("are reproducible: the same names and contents give the same bytes, whatever their order, source directory, mode or mtime", async () => {
            const a = sqlFiles("a", { "0001.sql": "SELECT 1;\n", "0002.sql": "SELECT 2;\n" });
            const b = sqlFiles("b", { "0002.sql": "SELECT 2;\n", "0001.sql": "SELECT 1;\n" }, 0o755);
            for (const p of b) fs.utimesSync(p, new Date("2030-01-01T00:00:00Z"), new Date("2030-01-01T00:00:00Z"));
            const one = await buildExampleArtifact("abc1234", undefined, a);
            assert.ok(one.equals(await buildExampleArtifact("abc1234", undefined, a)), "same inputs gave different bytes");
            assert.ok(one.equals(await buildExampleArtifact("abc1234", undefined, [...b].reverse())), "order, directory, mode or mtime leaked into the bytes");
        });

        it("change the bytes when a content or a name changes, and leave a release without them as it was", async () => {
            const base = await buildExampleArtifact("abc1234", undefined, sqlFiles("a", { "0001.sql": "SELECT 1;\n" }));
            assert.ok(!base.equals(await buildExampleArtifact("abc1234", undefined, sqlFiles("b", { "0001.sql": "SELECT 2;\n" }))));
            assert.ok(!base.equals(await buildExampleArtifact("abc1234", undefined, sqlFiles("c", { "0009.sql": "SELECT 1;\n" }))));
            const none = await buildExampleArtifact("abc1234");
            assert.ok(!base.equals(none));
            assert.ok(none.equals(await buildExampleArtifact("abc1234", undefined, [])), "an empty list is no migrations");
            assert.ok(!listing(none).some((l) => l.includes("migrations")), "a release without migrations has no migrations/ directory");
        });

        it("refuses two files with one basename, and a file it cannot read", async () => {
            const [x] = sqlFiles("x", { "0001.sql": "SELECT 1;" });
            const [y] = sqlFiles("y", { "0001.sql": "SELECT 2;" });
            await assert.rejects(buildExampleArtifact("abc1234", undefined, [x, y]), /two migrations are named 0001\.sql/);
            await assert.rejects(buildExampleArtifact("abc1234", undefined, [path.join(dir, "missing.sql")]), /ENOENT.*missing\.sql/);
        });
    });
});
