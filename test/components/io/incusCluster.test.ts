// Builders for a cluster: --target, routed NICs, members' states (issue 21 part 2).
import assert from "node:assert/strict";
import {
    clusterListCmd,
    clusterMemberCmd,
    createCmd,
    parseClusterMember,
    parseClusterMembers,
    readClusterMembers,
    routedNicDevice,
    volumeCreateCmd,
} from "../../../components/io/incus";
import { RunnerStub, fail, ok, stubRunner } from "../../helpers/runnerStub";

const REMOTE = { remote: "prod" };

/** As `incus cluster list --format json` prints it (Incus 6.0.4), trimmed. */
const LIST = JSON.stringify([
    { server_name: "m2", url: "https://10.99.0.12:8443", status: "Offline", message: "No heartbeat for 30s", roles: [] },
    { server_name: "m1", url: "https://10.99.0.11:8443", status: "Online", message: "Fully operational", roles: ["database-leader"] },
    { server_name: "m3", url: "https://10.99.0.13:8443", status: "Evacuated", message: "Unavailable due to maintenance", roles: [] },
]);

describe("incus: cluster builders", () => {
    let stub: RunnerStub | undefined;
    afterEach(() => stub?.restore());

    it("createCmd targets a member and gives the routed NIC, beside the usual config and devices", () => {
        const cmd = createCmd(REMOTE, "p-api-blue-2", {
            image: "bluegreen-base",
            profiles: ["default"],
            config: { "user.bluegreen.address": "10.99.0.102" },
            proxies: {},
            member: "m2",
            nics: { eth0: { parent: "eth0", address: "10.99.0.102" } },
        });
        assert.deepEqual(cmd.argv, ["incus", "create", "prod:bluegreen-base", "prod:p-api-blue-2", "--quiet", "--profile", "default", "--target", "m2"]);
        assert.deepEqual(JSON.parse(cmd.input as string), {
            config: { "user.bluegreen.address": "10.99.0.102" },
            devices: { eth0: { type: "nic", nictype: "routed", parent: "eth0", "ipv4.address": "10.99.0.102" } },
        });
        // Without a member or NIC: exactly as before.
        assert.deepEqual(createCmd(REMOTE, "x", { image: "i", profiles: ["default"], config: {}, proxies: {} }).argv, [
            "incus",
            "create",
            "prod:i",
            "prod:x",
            "--quiet",
            "--profile",
            "default",
        ]);
    });

    it("routedNicDevice is the device as Incus stores it", () => {
        assert.deepEqual(routedNicDevice({ parent: "enp5s0", address: "192.0.2.7" }), {
            type: "nic",
            nictype: "routed",
            parent: "enp5s0",
            "ipv4.address": "192.0.2.7",
        });
    });

    it("a stateful volume is created on its member's pool", () => {
        assert.deepEqual(volumeCreateCmd(REMOTE, "default", "p-db-data", "m3").argv, [
            "incus",
            "storage",
            "volume",
            "create",
            "prod:default",
            "p-db-data",
            "--quiet",
            "--target",
            "m3",
        ]);
        assert.deepEqual(volumeCreateCmd(REMOTE, "default", "p-db-data").argv, [
            "incus",
            "storage",
            "volume",
            "create",
            "prod:default",
            "p-db-data",
            "--quiet",
        ]);
    });

    it("clusterListCmd and the members' states, evacuated included, with each member's own address", () => {
        assert.deepEqual(clusterListCmd(REMOTE).argv, ["incus", "cluster", "list", "prod:", "--format", "json"]);
        assert.deepEqual(clusterListCmd({}).argv, ["incus", "cluster", "list", "--format", "json"]);
        assert.deepEqual(parseClusterMembers(LIST), [
            { name: "m1", state: "online", address: "10.99.0.11" },
            { name: "m2", state: "offline", address: "10.99.0.12" },
            { name: "m3", state: "evacuated", address: "10.99.0.13" },
        ]);
        assert.throws(() => parseClusterMembers("{}"), /expected a list of cluster members/);
    });

    it("one member's state (evacuation included) through the API", () => {
        assert.deepEqual(clusterMemberCmd(REMOTE, "m3").argv, ["incus", "query", "prod:/1.0/cluster/members/m3"]);
        assert.deepEqual(parseClusterMember(JSON.stringify({ server_name: "m3", url: "https://10.99.0.13:8443", status: "Evacuated" })), {
            name: "m3",
            state: "evacuated",
            address: "10.99.0.13",
        });
    });

    it("readClusterMembers: the members, none on a server that is not clustered, and fails closed otherwise", async () => {
        stub = stubRunner(() => ok(LIST));
        assert.deepEqual(
            (await readClusterMembers(REMOTE)).map((m) => m.name),
            ["m1", "m2", "m3"],
        );
        stub.restore();
        stub = stubRunner(() => fail(1, "Error: Server isn't part of a cluster\n"));
        assert.deepEqual(await readClusterMembers(REMOTE), []);
        stub.restore();
        stub = stubRunner(() => fail(1, 'Error: Get "https://10.99.0.11:8443/1.0": context deadline exceeded\n'));
        await assert.rejects(readClusterMembers(REMOTE), /cannot read the members of prod.*nothing was placed/s);
    });
});
