import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { initHooks, sampleHook } from "../../ops/initHooks";
import { HOOK_NAMES } from "../../components/model/safety/hooks";
import { makeTmp, removeTmp } from "../helpers/tmp";

describe("init-hooks", () => {
    let dir: string;
    beforeEach(() => (dir = makeTmp()));
    afterEach(() => removeTmp(dir));
    let write: typeof process.stdout.write;
    before(() => {
        write = process.stdout.write;
        process.stdout.write = (() => true) as typeof process.stdout.write;
    });
    after(() => (process.stdout.write = write));

    it("writes one executable sample per hook, and never overwrites one", () => {
        initHooks(dir);
        for (const h of HOOK_NAMES) {
            const file = path.join(dir, ".bluegreen/hooks", `${h}.sample`);
            assert.equal(fs.readFileSync(file, "utf8"), sampleHook(h));
            assert.equal(fs.statSync(file).mode & 0o111, 0o111);
        }
        fs.writeFileSync(path.join(dir, ".bluegreen/hooks/preDeploy.sample"), "mine");
        initHooks(dir);
        assert.equal(fs.readFileSync(path.join(dir, ".bluegreen/hooks/preDeploy.sample"), "utf8"), "mine");
        assert.match(sampleHook("postSwitch"), /BLUEGREEN_RUNTIME/);
        assert.match(sampleHook("postRollback"), /BLUEGREEN_FAILED_RELEASE/);
    });
});
