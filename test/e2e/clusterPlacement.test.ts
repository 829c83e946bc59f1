// Cluster placement on a real 3-member Incus cluster (scripts/cluster.sh), through the
// project's own pure placement and addressing and its incus command builders (not the program
// yet): a pool of two nodes lands on two members with routed addresses from the allocator, and
// a container on member 1 (where HAProxy would run) reaches each node on its address.

import assert from "node:assert/strict";
import { ClusterStatus, TestCluster } from "../../harness/cluster";
import { eventually } from "../../harness/stack";
import { clusterListCmd, createCmd, deleteCmd, execCmd, parseClusterMembers, parseInstances, queryCmd, startCmd } from "../../components/io/incus";
import { Cmd } from "../../components/io/exec";
import { offlineRefusal, placePool } from "../../components/model/cluster/placement";
import {
    ADDRESS_KEY,
    addressKeys,
    allocateAddresses,
    backendServers,
    overlapProblems,
    parseAddressRange,
    recordedAddresses,
} from "../../components/model/cluster/network";
import { containerName, haproxyInstanceName } from "../../components/model/naming";

const NS = process.env.BLUEGREEN_E2E_NS ?? "";
const PREFIX = `tpl${NS}-`;
const STACK = `tpl${NS}`;
const PORT = 8080;

describe("e2e: placement and routed addresses on a real 3-member cluster, from the project's builders", function () {
    this.timeout(180_000);
    const c = new TestCluster({ name: "e2e-place" });
    let st: ClusterStatus;
    let target: { remote: string };
    const names: string[] = [];

    /** A builder's command, run in the runner namespace; throws with stderr unless it exits 0. */
    async function run(cmd: Cmd): Promise<string> {
        const r = await c.runner(cmd.argv, { input: cmd.input === undefined ? undefined : String(cmd.input), timeoutMs: cmd.timeoutMs });
        if (r.code !== 0) throw new Error(`${cmd.argv.join(" ")} failed (${r.code}):\n${r.stderr}`);
        return r.stdout;
    }

    before(async () => {
        st = await c.up();
        target = { remote: st.remote };
    });
    after(async () => {
        await c.down();
    });

    it("places node n of a pool on member n mod M with --target, each on its routed address, reached from member 1; cleans up", async () => {
        const t0 = Date.now();
        const members = parseClusterMembers(await run(clusterListCmd(target)));
        assert.deepEqual(
            members.map((m) => [m.name, m.state]),
            [
                ["m1", "online"],
                ["m2", "online"],
                ["m3", "online"],
            ],
        );
        const range = parseAddressRange(st.routedAddresses);
        assert.ok(typeof range !== "string", range as string);
        assert.deepEqual(overlapProblems(range, members), [], "the test range is free of the members' own addresses");

        const pool = placePool({ component: "api", color: "blue", nodes: 2 }, members);
        assert.deepEqual(pool.problems, []);
        const haproxy = haproxyInstanceName(PREFIX);
        const alloc = allocateAddresses(range, addressKeys(PREFIX, [{ name: "api", nodes: 2 }], []), {}, []);
        assert.deepEqual(alloc.problems, []);
        const place = [{ name: haproxy, member: "m1" }, ...pool.nodes.map((n) => ({ name: containerName(PREFIX, "api", "blue", n.node), member: n.member }))];
        assert.deepEqual(
            place.map((p) => p.member),
            ["m1", "m1", "m2"],
        );
        names.push(...place.map((p) => p.name));
        await Promise.all(
            place.map((p) =>
                run(
                    createCmd(target, p.name, {
                        image: st.image,
                        profiles: ["default"],
                        config: { "user.bluegreen.managed": "true", "user.bluegreen.stack": STACK, [ADDRESS_KEY]: alloc.addresses[p.name] },
                        proxies: {},
                        member: p.member,
                        nics: { eth0: { parent: "eth0", address: alloc.addresses[p.name] } },
                    }),
                ),
            ),
        );
        await Promise.all(place.map((p) => run(startCmd(target, p.name))));

        const live = parseInstances(await run(queryCmd(target, "/1.0/instances?recursion=1")));
        const located = JSON.parse(await run({ argv: ["incus", "list", `${st.remote}:`, "-f", "json"], timeoutMs: 30_000 })) as {
            name: string;
            location: string;
        }[];
        assert.deepEqual(located.map((i) => [i.name, i.location]).sort(), place.map((p) => [p.name, p.member]).sort(), "each instance is on its member");
        // What is recorded is what a next allocation reuses.
        const recorded = recordedAddresses(STACK, live);
        assert.deepEqual(recorded, Object.fromEntries(names.map((n) => [n, alloc.addresses[n]])));
        assert.deepEqual(allocateAddresses(range, addressKeys(PREFIX, [{ name: "api", nodes: 2 }], []), recorded, []).addresses, alloc.addresses);

        for (const n of pool.nodes) {
            const name = containerName(PREFIX, "api", "blue", n.node);
            await run(
                execCmd(target, name, [
                    "sh",
                    "-c",
                    `mkdir -p /srv/www && echo ${name} >/srv/www/index.html && busybox httpd -p ${PORT} -h /srv/www </dev/null >/dev/null 2>&1`,
                ]),
            );
        }
        // HAProxy's servers are these addresses at the app's port; fetch each from m1 as HAProxy would.
        const servers = backendServers(PREFIX, "api", "blue", 2, PORT, alloc.addresses);
        for (const [i, s] of servers.entries()) {
            const want = containerName(PREFIX, "api", "blue", i + 1);
            let got = "";
            // busybox 1.35's wget crashes with -T: timeout(1) bounds it. Exec output can be lost: poll.
            await eventually(
                async () => {
                    got = (
                        await c.runner(execCmd(target, haproxy, ["timeout", "3", "busybox", "wget", "-q", "-O", "-", `http://${s.address}/`]).argv)
                    ).stdout.trim();
                    return got === want;
                },
                `${haproxy} on m1 to fetch ${s.server} at ${s.address} (last: ${JSON.stringify(got)})`,
                20_000,
            );
        }

        for (const n of names) await run(deleteCmd(target, n));
        assert.deepEqual(parseInstances(await run(queryCmd(target, "/1.0/instances?recursion=1"))), []);
        console.log(`      placed, reached and deleted in ${Date.now() - t0} ms`);
    });

    it("a member in evacuation reads as evacuated: a node that belongs there moves to a live member (it is leaving); restored, it is live again", async () => {
        const cluster = (verb: string) => run({ argv: ["incus", "cluster", verb, `${st.remote}:m3`, "--force", "--quiet"], timeoutMs: 60_000 });
        await cluster("evacuate");
        try {
            const members = parseClusterMembers(await run(clusterListCmd(target)));
            assert.deepEqual(
                members.map((m) => [m.name, m.state]),
                [
                    ["m1", "online"],
                    ["m2", "online"],
                    ["m3", "evacuated"],
                ],
            );
            // Evacuated is leaving: its node moves, allowReschedule or not.
            assert.equal(offlineRefusal(placePool({ component: "api", color: "blue", nodes: 3 }, members)), undefined);
            const moved = placePool({ component: "api", color: "blue", nodes: 3 }, members);
            assert.equal(moved.nodes[2].leaving, true);
            assert.deepEqual(
                moved.nodes.map((n) => n.member),
                ["m1", "m2", "m2"],
                "node 3 to a live member; its next own node (4, on m1) comes first, so m2",
            );
        } finally {
            await cluster("restore");
        }
        assert.deepEqual(
            parseClusterMembers(await run(clusterListCmd(target))).map((m) => m.state),
            ["online", "online", "online"],
        );
    });
});
