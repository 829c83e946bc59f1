import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { artifactOf, parsePublishArgs } from "../../ops/publish";
import { makeTmp, removeTmp } from "../helpers/tmp";

describe("ops/publish", () => {
    let dir: string | undefined;
    afterEach(() => {
        removeTmp(dir);
        dir = undefined;
    });

    it("reads component, release (lowercased), stack and the source", () => {
        assert.deepEqual(parsePublishArgs(["--component", "web", "--release", "ABC1234", "dist"]), {
            component: "web",
            release: "abc1234",
            stack: "dev",
            source: "dist",
        });
        assert.deepEqual(parsePublishArgs(["build.tgz", "--stack", "prod", "--release", "abc1234", "--component", "api"]), {
            component: "api",
            release: "abc1234",
            stack: "prod",
            source: "build.tgz",
        });
    });

    it("refuses what it cannot publish, with the usage", () => {
        assert.throws(() => parsePublishArgs(["--release", "abc1234", "dist"]), /--component is required; usage: npm run publish/);
        assert.throws(() => parsePublishArgs(["--component", "web", "--release", "xyz", "dist"]), /--release: expected 7-40 hex characters/);
        assert.throws(() => parsePublishArgs(["--component", "web", "--release", "abc1234"]), /a directory or tarball to publish is required/);
        assert.throws(() => parsePublishArgs(["--component", "web", "--release", "abc1234", "a", "b"]), /one directory or tarball at a time/);
        assert.throws(() => parsePublishArgs(["--component", "web", "--bogus", "x"]), /unknown option --bogus/);
    });

    it("packs a directory, and passes a checked tarball through byte for byte", async function () {
        this.timeout(20_000);
        dir = makeTmp("bluegreen-publish-");
        const app = path.join(dir, "app");
        fs.mkdirSync(app);
        fs.writeFileSync(path.join(app, "start"), "#!/bin/sh\nexec true\n", { mode: 0o755 });
        const packed = await artifactOf(app);
        fs.writeFileSync(path.join(dir, "app.tgz"), packed);
        assert.ok((await artifactOf(path.join(dir, "app.tgz"))).equals(packed));
        await assert.rejects(artifactOf(path.join(dir, "absent")), /does not exist/);
    });
});
