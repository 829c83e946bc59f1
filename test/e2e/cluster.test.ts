// A real 3-member Incus cluster on this machine (scripts/cluster.sh), formed from nothing, driven
// over HTTPS from the runner namespace as a CI runner would; a routed NIC on member 3 reached
// from a container on member 1; and `down` leaves nothing behind, even after a member's daemon
// died with a container still running.

import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import { ClusterStatus, TestCluster, routedAddress } from "../../harness/cluster";
import { eventually } from "../../harness/stack";

const NS = process.env.BLUEGREEN_E2E_NS ?? "";
const SRV = `tcl${NS}-srv`;
const CLI = `tcl${NS}-cli`;
const LEFT = `tcl${NS}-left`;

/** pid and start time of a live process, so a reused pid is never taken for a survivor; a zombie is dead. */
function procId(pid: number): string | undefined {
    try {
        const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
        return fields[0] === "Z" || fields[0] === "X" ? undefined : `${pid}:${fields[19]}`;
    } catch {
        return undefined;
    }
}

function netnsPids(ns: string): number[] {
    const r = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8", timeout: 10_000 });
    return r.stdout.split(/\s+/).filter(Boolean).map(Number);
}

function allPids(): number[] {
    return fs
        .readdirSync("/proc")
        .filter((d) => /^\d+$/.test(d))
        .map(Number);
}

function readOr(file: string): string {
    try {
        return fs.readFileSync(file, "utf8");
    } catch {
        return "";
    }
}

describe("e2e: a real Incus cluster (scripts/cluster.sh), driven over HTTPS from the runner namespace", function () {
    this.timeout(180_000);
    const c = new TestCluster({ name: "e2e-cluster" });
    let st: ClusterStatus;
    const remote = (name = "") => `${st.remote}:${name}`;

    before(async () => {
        st = await c.up();
    });
    after(async () => {
        await c.down();
    });

    it("forms 3 members, all ONLINE as the runner sees them over HTTPS, the runner trusted by its certificate", async () => {
        assert.equal(st.up, true);
        assert.deepEqual(
            st.members.map((m) => [m.name, m.running, m.state]),
            [1, 2, 3].map((i) => [`m${i}`, true, "ONLINE"]),
        );
        assert.match(st.remoteUrl, new RegExp(`^https://${st.lanPrefix.replace(/\./g, "\\.")}\\.11:8443$`));
        const members = JSON.parse(await c.incus(["cluster", "list", remote(), "-f", "json"]));
        assert.deepEqual(
            members.map((m: any) => [m.server_name, m.status.toUpperCase(), m.url]).sort(),
            st.members.map((m) => [m.name, "ONLINE", m.url]),
        );
        const server = JSON.parse(await c.incus(["query", `${st.remote}:/1.0`]));
        assert.equal(server.auth, "trusted");
        assert.equal(server.auth_user_method, "tls");
        // The runner's client has no way to the host's default daemon.
        assert.notEqual((await c.runner(["incus", "list", "local:"])).code, 0);
        // Nothing in the root namespace is on the LAN.
        const root = spawnSync("ip", ["-4", "-o", "addr"], { encoding: "utf8" }).stdout + spawnSync("ip", ["-4", "route"], { encoding: "utf8" }).stdout;
        assert.doesNotMatch(root, new RegExp(`\\b${st.lanPrefix.replace(/\./g, "\\.")}\\.`));
    });

    it("up again is a no-op: the same daemons, still ONLINE", async () => {
        const r = await c.script(["up"], { timeoutMs: 60_000 });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /up already/);
        assert.deepEqual(
            (await c.status()).members.map((m) => [m.pid, m.state]),
            st.members.map((m) => [m.pid, "ONLINE"]),
        );
    });

    it("a routed NIC on member 3 is reached from a container on member 1 (and from the runner), then both are deleted", async () => {
        const srvAddr = routedAddress(st, 0);
        const cliAddr = routedAddress(st, 1);
        const nic = (addr: string) => `devices:\n  eth0: {type: nic, nictype: routed, parent: eth0, ipv4.address: ${addr}}\n`;
        await Promise.all([
            c.incus(["create", remote(st.image), remote(SRV), "--target", "m3", "--quiet"], { input: nic(srvAddr), timeoutMs: 60_000 }),
            c.incus(["create", remote(st.image), remote(CLI), "--target", "m1", "--quiet"], { input: nic(cliAddr), timeoutMs: 60_000 }),
        ]);
        await Promise.all([c.incus(["start", remote(SRV)], { timeoutMs: 60_000 }), c.incus(["start", remote(CLI)], { timeoutMs: 60_000 })]);
        const where = JSON.parse(await c.incus(["list", remote(), "-f", "json"])).map((i: any) => [i.name, i.location, i.status]);
        assert.deepEqual(where.sort(), [
            [CLI, "m1", "Running"],
            [SRV, "m3", "Running"],
        ]);
        const token = `served-on-m3-${process.pid}`;
        await c.incus([
            "exec",
            remote(SRV),
            "--",
            "sh",
            "-c",
            `mkdir -p /srv/www && echo ${token} >/srv/www/index.html && busybox httpd -p 8080 -h /srv/www </dev/null >/dev/null 2>&1`,
        ]);
        // busybox 1.35's wget crashes with -T (exit 139): timeout(1) bounds it instead.
        let got = "";
        await eventually(
            async () => {
                got = (
                    await c.runner(["incus", "exec", remote(CLI), "--", "timeout", "3", "busybox", "wget", "-q", "-O", "-", `http://${srvAddr}:8080/`])
                ).stdout.trim();
                return got === token;
            },
            `m1's container to fetch ${srvAddr}:8080 on m3 (last: ${JSON.stringify(got)})`,
            20_000,
        );
        const fromRunner = await c.runner(["curl", "-fsS", "--max-time", "3", `http://${srvAddr}:8080/`]);
        assert.equal(fromRunner.stdout.trim(), token, fromRunner.stderr);
        await c.incus(["delete", "--force", remote(SRV), remote(CLI)], { timeoutMs: 60_000 });
        assert.deepEqual(JSON.parse(await c.incus(["list", remote(), "-f", "json"])), []);
    });

    it("down leaves no namespace, mount, loop device, process, cgroup or directory behind, after m2's daemon was killed under a running container", async () => {
        await c.incus(["launch", remote(st.image), remote(LEFT), "--target", "m2", "--quiet"], { timeoutMs: 60_000 });
        const left = JSON.parse(await c.incus(["query", `${st.remote}:/1.0/instances/${LEFT}/state`]));
        assert.ok(left.pid > 0, "the container on m2 runs");
        const before = await c.status();
        const loops = () => spawnSync("losetup", ["-l", "-n", "--raw", "-O", "BACK-FILE"], { encoding: "utf8" }).stdout;
        assert.equal(
            loops()
                .split("\n")
                .filter((f) => f.startsWith(`${before.dir}/`)).length,
            3,
            "a btrfs loop file per member",
        );
        const pids = [...before.members.map((m) => m.pid!), left.pid, ...before.members.flatMap((m) => netnsPids(m.netns))];
        const tracked = pids.map(procId).filter((p): p is string => p !== undefined);
        assert.ok(tracked.length >= 5, `daemons, their children and the container: ${tracked}`);
        // A killed run: m2's daemon dies, its container lives on (its lxc monitor is not incusd's child).
        process.kill(before.members[1].pid!, "SIGKILL");
        await eventually(() => procId(before.members[1].pid!) === undefined, "m2's incusd to die");
        assert.ok(procId(left.pid), "the container outlives its daemon");

        const t0 = Date.now();
        const r = await c.down();
        assert.equal(r.code, 0, r.stderr);
        console.log(`      down: ${Date.now() - t0} ms`);

        const netns = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
        assert.doesNotMatch(netns, new RegExp(`^${c.name}-`, "m"), "no network namespace of the cluster");
        const mounts = readOr("/proc/self/mountinfo");
        assert.ok(!mounts.includes(before.dir) && !mounts.includes(`/run/netns/${c.name}-`), "no mount of the cluster");
        assert.equal(
            loops()
                .split("\n")
                .filter((f) => f.startsWith(`${before.dir}/`)).length,
            0,
            "no loop device of the cluster",
        );
        assert.deepEqual(
            tracked.filter((id) => procId(Number(id.split(":")[0])) === id),
            [],
            "no process of the cluster survives",
        );
        // Killed processes may linger a moment as zombies, until pid 1 reaps them: those are dead.
        const naming = allPids()
            .filter((p) => readOr(`/proc/${p}/cmdline`).includes(before.dir) || readOr(`/proc/${p}/cgroup`).includes(`lxc.payload.tcl${NS}-`))
            .filter((p) => procId(p) !== undefined)
            .map((p) => `${p}: ${readOr(`/proc/${p}/cmdline`).replace(/\0/g, " ")}`);
        assert.deepEqual(naming, [], "no process names the cluster's directory or runs in one of its containers");
        const cgroups = fs.readdirSync("/sys/fs/cgroup").flatMap((h) => {
            try {
                return fs.readdirSync(`/sys/fs/cgroup/${h}`).filter((d) => d.includes(`.tcl${NS}-`));
            } catch {
                return [];
            }
        });
        assert.deepEqual(cgroups, [], "no LXC cgroup of the cluster's containers");
        assert.equal(fs.existsSync(before.dir), false, "the cluster's directory is gone");

        const again = await c.down();
        assert.equal(again.code, 0, again.stderr);
        assert.match(again.stderr, /nothing to take down/);
        const after = await c.status();
        assert.equal(after.up, false);
        assert.deepEqual(after.members, []);
    });
});
