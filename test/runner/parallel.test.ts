// The runner runs independent steps at once, as the engine does with its default (unbounded)
// parallelism: 48 creates of the fixture program are all in flight together. Each create waits
// until 48 have started (the fixture's `barrier`), so a runner that ran them one by one, or a
// few at a time, fails the up.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";
import { newCrypter } from "../../runner/secrets";
import { REPO, runCli, shown } from "../helpers/cli";
import { makeTmp, removeTmp } from "../helpers/tmp";

const FIXTURE = path.join(REPO, "test", "fixtures", "engine-program");
const N = 48;

describe("runner: parallel steps", function () {
    this.timeout(180_000);
    let tmp: string;
    before(() => (tmp = makeTmp("bluegreen-parallel-")));
    after(() => removeTmp(tmp));

    it(`${N} independent creates are in flight at once`, () => {
        const markers = path.join(tmp, "markers");
        fs.mkdirSync(markers);
        const crypter = newCrypter("test");
        const configFile = path.join(tmp, "Pulumi.p1.yaml");
        const resources = Object.fromEntries(Array.from({ length: N }, (_, i) => [`r${i + 1}`, { value: "1" }]));
        const config = {
            "enginetest:dir": markers,
            "enginetest:password": { secure: crypter.encrypt("pw") },
            "enginetest:resources": resources,
            "enginetest:command": "false",
            "enginetest:barrier": N,
        };
        fs.writeFileSync(configFile, YAML.stringify({ encryptionsalt: crypter.saltState, config }));
        const r = runCli(
            ["up", "--stack", "p1", "--cwd", FIXTURE, "--config-file", configFile],
            {
                PULUMI_BACKEND_URL: `file://${path.join(tmp, "backend")}`,
                PULUMI_CONFIG_PASSPHRASE: "test",
                PULUMI_CONFIG_PASSPHRASE_FILE: undefined,
                BLUEGREEN_QUIET: "1",
            },
            170_000,
        );
        assert.equal(r.code, 0, shown(r));
        const entered = fs.readFileSync(path.join(markers, "barrier.log"), "utf8").split("\n").filter(Boolean);
        assert.equal(entered.length, N);
    });
});
