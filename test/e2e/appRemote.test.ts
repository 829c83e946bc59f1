// The operator verbs over an Incus remote (scripts/cluster.sh MODE=single): the runner runs in the
// "runner" namespace, as a CI runner would, and reaches the remote only over HTTPS with the incus
// client. `app exec`, `app logs` and `lock` work there as on the local daemon. The containers are
// made by hand, named as the stack's config names them: these verbs read only the config, the
// active-color record and the containers, never the runner's state.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { ClusterStatus, TestCluster } from "../../harness/cluster";
import { ROOT, TestStack } from "../../harness/stack";

const CLI = path.join(ROOT, "scripts/local.js");

describe("e2e: app exec, app logs and lock over an Incus remote, from the runner namespace", function () {
    this.timeout(240_000);
    const c = new TestCluster({ name: "appremote", mode: "single" });
    const s = new TestStack({ name: "appremote", basePort: 22150, placement: "incus" });
    let st: ClusterStatus;
    const remote = (name = "") => `${st.remote}:${name}`;
    const node = (n: number) => `${s.prefix}web-blue-${n}`;
    const haproxy = () => `${s.prefix}haproxy`;
    const db = () => `${s.prefix}db`;
    /** The runner CLI inside the runner namespace: nothing but the remote's HTTPS API reaches the containers. */
    const cli = (args: readonly string[]) => c.runner([process.execPath, CLI, ...args], { timeoutMs: 90_000 });
    const stackArgs = () => ["--stack", s.stack, "--config-file", s.configFile, "--cwd", ROOT];

    before(async () => {
        s.reset();
        st = await c.up();
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/", nodes: 2 } };
        s.config.incus = { remote: st.remote };
        s.config.stateful = { db: { release: "a22152a", hostPort: s.componentPort("stream", "blue"), volumes: { data: "/var/lib/db" } } };
        s.setColors({ blue: "a22151a" }, "blue");
        s.writeConfig();
        await Promise.all([node(1), node(2), haproxy(), db()].map((n) => c.incus(["launch", remote(st.image), remote(n), "--quiet"], { timeoutMs: 90_000 })));
        // The live active-color record, where the program keeps it: in the HAProxy instance.
        const dir = `/var/lib/${s.config.app}`;
        await c.incus(["exec", remote(haproxy()), "--", "sh", "-c", 'mkdir -p "$1" && echo blue >"$1/active-color"', "sh", dir]);
    });

    after(async () => {
        await c.down();
        fs.rmSync(s.dir, { recursive: true, force: true });
    });

    it("app exec runs in each node of the active color that the remote's HAProxy instance records, or in a stateful service's container; app logs reads them back", async () => {
        const r = await cli(["app", "exec", ...stackArgs(), "--component", "web", "--", "sh", "-c", "uname -n | tee -a /var/log/bluegreen-app.log"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `[${node(1)}] ${node(1)}\n[${node(2)}] ${node(2)}\n`);
        const logs = await cli(["app", "logs", ...stackArgs(), "-n", "1"]);
        assert.equal(logs.code, 0, logs.stderr);
        assert.equal(logs.stdout, `[${node(1)}] ${node(1)}\n[${node(2)}] ${node(2)}\n`);
        const failed = await cli(["app", "exec", ...stackArgs(), "--component", "web", "--node", "2", "--", "false"]);
        assert.equal(failed.code, 1);
        const svc = await cli(["app", "exec", ...stackArgs(), "--service", "db", "--", "sh", "-c", "uname -n >>/var/log/bluegreen-app.log"]);
        assert.equal(svc.code, 0, svc.stderr);
        assert.equal((await cli(["app", "logs", ...stackArgs(), "--service", "db"])).stdout, `${db()}\n`);
    });

    it("lock acquire, status and release keep the lock in the remote's HAProxy instance", async () => {
        const held = await cli(["lock", "acquire", "-m", "remote maintenance", ...stackArgs()]);
        assert.equal(held.code, 0, held.stderr);
        const lockFile = `/var/lib/${s.config.app}/lock.json`;
        assert.match(await c.incus(["file", "pull", remote(`${haproxy()}${lockFile}`), "-"]), /remote maintenance/);
        const status = await cli(["lock", "status", "--json", ...stackArgs()]);
        assert.equal(status.code, 0, status.stderr);
        assert.equal(JSON.parse(status.stdout).state, "held");
        const released = await cli(["lock", "release", ...stackArgs()]);
        assert.equal(released.code, 0, released.stderr);
        assert.match(released.stdout, /released the deploy lock of/);
        assert.equal(JSON.parse((await cli(["lock", "status", "--json", ...stackArgs()])).stdout).state, "free");
    });
});
