// The audit log on a host-placement state dir, and the broadcast as a real /bin/sh runs it.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { audit, auditTo } from "../../../../components/release/safety/audit";
import { quietProgress } from "../../../helpers/quiet";
import { makeTmp, removeTmp, setEnv } from "../../../helpers/tmp";

describe("release/safety/audit", () => {
    quietProgress();
    let dir: string | undefined;
    let restore: (() => void) | undefined;
    beforeEach(() => (dir = makeTmp()));
    afterEach(() => {
        restore?.();
        restore = undefined;
        removeTmp(dir);
    });

    it("runs the broadcast with a minimal environment: its event, PATH, HOME, LANG and the passEnv names, never the passphrase or a token", async () => {
        const out = path.join(dir!, "broadcast.env");
        restore = setEnv({
            PULUMI_CONFIG_PASSPHRASE: "the-passphrase",
            BLUEGREEN_ARTIFACT_TOKEN: "the-artifact-token",
            FORGE_TOKEN: "the-forge-token",
            DEPLOY_CHANNEL: "#ops",
            HOME: "/root",
        });
        const ctx = { ...auditTo({ placement: "host" }, dir!, "dev", `env > ${out}`), passEnv: ["DEPLOY_CHANNEL"] };
        await audit(ctx, { operation: "deploy", color: "green", release: "b4c5d6e", details: { container: "dev-web-green" } });
        const env = fs.readFileSync(out, "utf8");
        assert.doesNotMatch(env, /the-passphrase|the-artifact-token|the-forge-token/);
        assert.doesNotMatch(env, /^(PULUMI_CONFIG_PASSPHRASE|BLUEGREEN_ARTIFACT_TOKEN|FORGE_TOKEN)=/m);
        assert.match(env, /^DEPLOY_CHANNEL=#ops$/m, "a passEnv name reaches it");
        assert.match(env, /^BLUEGREEN_OPERATION=deploy$/m);
        assert.match(env, /^BLUEGREEN_CONTAINER=dev-web-green$/m);
        assert.match(env, /^HOME=\/root$/m);
        assert.match(env, /^PATH=/m);
    });

    it("creates the audit log private to its owner (0600) in a private directory (0700)", async () => {
        const stateDir = path.join(dir!, "state", "dev");
        await audit(auditTo({ placement: "host" }, stateDir, "dev", undefined), { operation: "lock", details: { action: "acquire" } });
        assert.equal(fs.statSync(path.join(stateDir, "audit.jsonl")).mode & 0o777, 0o600);
        assert.equal(fs.statSync(stateDir).mode & 0o777, 0o700);
    });
});
