import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { checkTarball, entryProblem, listCmd, packCmd, packDirectory } from "../../../components/io/pack";
import { makeTmp, removeTmp } from "../../helpers/tmp";

describe("pack", function () {
    this.timeout(30_000);
    let dir: string | undefined;
    afterEach(() => {
        removeTmp(dir);
        dir = undefined;
    });

    function app(files: Record<string, [string, number]>): string {
        dir = makeTmp("bluegreen-pack-");
        for (const [name, [content, mode]] of Object.entries(files)) {
            fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
            fs.writeFileSync(path.join(dir, name), content, { mode });
            fs.chmodSync(path.join(dir, name), mode);
        }
        return dir;
    }

    it("packCmd is a reproducible GNU tar invocation of the directory's contents", () => {
        assert.deepEqual(packCmd("/src/app", "/out/release.tar"), {
            argv: ["tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf", "/out/release.tar", "-C", "/src/app", "."],
        });
        assert.deepEqual(listCmd(Buffer.from("x")).argv, ["tar", "-tvzf", "-"]);
    });

    it("entryProblem wants an executable start at the root", () => {
        assert.equal(entryProblem("drwxr-xr-x 0/0 0 1970-01-01 00:00 ./\n-rwxr-xr-x 0/0 30 1970-01-01 00:00 ./start\n"), undefined);
        assert.match(entryProblem("-rw-r--r-- 0/0 30 1970-01-01 00:00 ./start\n")!, /not an executable file/);
        assert.match(entryProblem("-rwxr-xr-x 0/0 30 1970-01-01 00:00 ./bin/start\n")!, /no `start` at its root/);
    });

    it("packs the same files into the same bytes, and the result checks out", async () => {
        const d = app({ start: ["#!/bin/sh\nexec true\n", 0o755], "www/index.html": ["hi\n", 0o644] });
        const one = await packDirectory(d);
        const two = await packDirectory(d);
        assert.ok(one.equals(two));
        await checkTarball(one, "the app");
    });

    it("refuses a directory without an executable start", async () => {
        await assert.rejects(packDirectory(app({ "index.html": ["x", 0o644] })), /has no `start` file at its root/);
        await assert.rejects(packDirectory(app({ start: ["x", 0o644] })), /start is not executable; chmod \+x it/);
    });

    it("refuses a tarball that is not one, or lacks start", async () => {
        await assert.rejects(checkTarball(Buffer.from("not gzip"), "x.tgz"), /x\.tgz is not a gzip'd tarball/);
        const d = app({ start: ["x", 0o644] });
        fs.chmodSync(path.join(d, "start"), 0o755);
        const packed = await packDirectory(d);
        fs.chmodSync(path.join(d, "start"), 0o644);
        // Built by hand: same dir, start not executable.
        const { spawnSync } = await import("child_process");
        const r = spawnSync("tar", ["-czf", "-", "-C", d, "."]);
        await assert.rejects(checkTarball(r.stdout, "y.tgz"), /y\.tgz: its `start` is not an executable file/);
        await checkTarball(packed, "ok");
    });
});
