import assert from "node:assert/strict";
import {
    ADDRESS_KEY,
    addressKeys,
    addressesNeeded,
    allocateAddresses,
    backendServers,
    formatIPv4,
    haproxyConfigAddresses,
    memberAddress,
    overlapProblems,
    parseAddressRange,
    parseIPv4,
    recordedAddresses,
    rangeSize,
} from "../../../../components/model/cluster/network";

describe("network (routed addresses)", () => {
    it("parses dotted quads strictly", () => {
        assert.equal(parseIPv4("10.0.0.1"), 0x0a000001);
        assert.equal(formatIPv4(0x0a000001), "10.0.0.1");
        assert.equal(formatIPv4(parseIPv4("255.255.255.255")!), "255.255.255.255");
        for (const bad of ["10.0.0", "10.0.0.256", "010.0.0.1", "10.0.0.1 ", "a.b.c.d", "10..0.1", "-1.0.0.1"]) assert.equal(parseIPv4(bad), undefined, bad);
    });

    it("a range first-last, or a CIDR without its network and broadcast addresses", () => {
        assert.deepEqual(parseAddressRange("10.9.0.100-10.9.0.119"), { first: parseIPv4("10.9.0.100"), last: parseIPv4("10.9.0.119") });
        assert.equal(rangeSize(parseAddressRange("10.9.0.100-10.9.0.119") as never), 20);
        assert.deepEqual(parseAddressRange("10.9.1.0/24"), { first: parseIPv4("10.9.1.1"), last: parseIPv4("10.9.1.254") });
        assert.deepEqual(parseAddressRange("10.9.1.4/31"), { first: parseIPv4("10.9.1.4"), last: parseIPv4("10.9.1.5") });
        assert.deepEqual(parseAddressRange("10.9.1.4/32"), { first: parseIPv4("10.9.1.4"), last: parseIPv4("10.9.1.4") });
        assert.deepEqual(parseAddressRange("10.9.0.7-10.9.0.7"), { first: parseIPv4("10.9.0.7"), last: parseIPv4("10.9.0.7") });
    });

    it("refuses a malformed range or CIDR, saying what was expected", () => {
        for (const bad of [
            "10.9.0.119-10.9.0.100",
            "10.9.0.1-",
            "10.9.1.0/33",
            "10.9.1.1/24",
            "10.9.1.0/",
            "10.9.1.0/24/1",
            "10.9.0.300-10.9.0.301",
            "fd00::/64",
            "",
        ]) {
            const r = parseAddressRange(bad);
            assert.equal(typeof r, "string", bad);
            assert.match(r as string, /expected/, bad);
        }
        assert.match(parseAddressRange("10.9.1.1/24") as string, /10\.9\.1\.0\/24/, "names the network the host bits belong to");
    });

    it("counts an address per node of both colors, HAProxy and each stateful service", () => {
        assert.equal(addressesNeeded([{ nodes: 1 }, { nodes: 3 }], 0), 1 + 2 + 6);
        assert.equal(addressesNeeded([{ nodes: 2 }], 2), 1 + 4 + 2);
    });

    it("address keys are the instance names, HAProxy first, in a canonical order", () => {
        assert.deepEqual(
            addressKeys(
                "p-",
                [
                    { name: "api", nodes: 2 },
                    { name: "web", nodes: 1 },
                ],
                ["db"],
            ),
            ["p-haproxy", "p-api-blue-1", "p-api-blue-2", "p-api-green-1", "p-api-green-2", "p-web-blue", "p-web-green", "p-db"],
        );
    });

    it("allocates the lowest free addresses in key order, deterministic with nothing recorded", () => {
        const range = parseAddressRange("10.9.0.100-10.9.0.119") as never;
        const keys = ["p-haproxy", "p-api-blue-1", "p-api-blue-2"];
        const a = allocateAddresses(range, keys, {}, []);
        assert.deepEqual(a.problems, []);
        assert.deepEqual(a.addresses, { "p-haproxy": "10.9.0.100", "p-api-blue-1": "10.9.0.101", "p-api-blue-2": "10.9.0.102" });
        assert.deepEqual(allocateAddresses(range, keys, {}, []), a);
    });

    it("a node keeps its recorded address across replacements; records of instances on their way out stay reserved", () => {
        const range = parseAddressRange("10.9.0.100-10.9.0.119") as never;
        // api-blue-1 was replaced once and sits at .105; an old node 3 (being removed) holds .101.
        const recorded = { "p-haproxy": "10.9.0.100", "p-api-blue-1": "10.9.0.105", "p-api-blue-3": "10.9.0.101" };
        const a = allocateAddresses(range, ["p-haproxy", "p-api-blue-1", "p-api-blue-2"], recorded, []);
        assert.deepEqual(a.addresses, { "p-haproxy": "10.9.0.100", "p-api-blue-1": "10.9.0.105", "p-api-blue-2": "10.9.0.102" });
        // Growing a pool leaves every existing address where it is.
        const grown = allocateAddresses(range, ["p-haproxy", "p-api-blue-1", "p-api-blue-2", "p-api-blue-4"], { ...recorded, ...a.addresses }, []);
        for (const [k, v] of Object.entries(a.addresses)) assert.equal(grown.addresses[k], v, k);
        assert.equal(grown.addresses["p-api-blue-4"], "10.9.0.103");
    });

    it("a recorded address outside the range (the range changed) or held twice is reassigned, and says so", () => {
        const range = parseAddressRange("10.9.0.100-10.9.0.103") as never;
        const a = allocateAddresses(
            range,
            ["p-haproxy", "p-a-blue", "p-a-green"],
            { "p-haproxy": "10.9.0.50", "p-a-blue": "10.9.0.101", "p-a-green": "10.9.0.101" },
            [],
        );
        assert.deepEqual(a.addresses, { "p-haproxy": "10.9.0.100", "p-a-blue": "10.9.0.101", "p-a-green": "10.9.0.102" });
        assert.equal(a.reassigned.length, 2);
        assert.match(a.reassigned.join("\n"), /p-haproxy: recorded 10\.9\.0\.50 is outside/);
        assert.match(a.reassigned.join("\n"), /p-a-green: recorded 10\.9\.0\.101 is also p-a-blue's/);
    });

    it("skips reserved addresses (members' own) and refuses when the range runs out, naming the key", () => {
        const range = parseAddressRange("10.9.0.100-10.9.0.102") as never;
        const a = allocateAddresses(range, ["p-haproxy", "p-a-blue", "p-a-green"], {}, ["10.9.0.101"]);
        assert.equal(a.addresses["p-haproxy"], "10.9.0.100");
        assert.equal(a.addresses["p-a-blue"], "10.9.0.102");
        assert.equal(a.addresses["p-a-green"], undefined);
        assert.equal(a.problems.length, 1);
        assert.match(a.problems[0], /^bluegreen:network\.addresses: .*3 addresses.*no free address for p-a-green/);
    });

    it("refuses a range that overlaps a member's own address", () => {
        const range = parseAddressRange("10.9.0.10-10.9.0.20") as never;
        const members = [
            { name: "m1", address: "10.9.0.11" },
            { name: "m2", address: "10.9.0.12" },
            { name: "m3", address: "10.9.0.30" },
        ];
        const p = overlapProblems(range, members);
        assert.equal(p.length, 1);
        assert.match(p[0], /^bluegreen:network\.addresses: 10\.9\.0\.10-10\.9\.0\.20 overlaps the address of member m1 \(10\.9\.0\.11\), m2 \(10\.9\.0\.12\)/);
        assert.deepEqual(overlapProblems(parseAddressRange("10.9.0.100-10.9.0.119") as never, members), []);
    });

    it("a member's address is its URL's host", () => {
        assert.equal(memberAddress("https://10.99.0.11:8443"), "10.99.0.11");
        assert.equal(memberAddress("https://[fd00::1]:8443"), "fd00::1");
        assert.equal(memberAddress("not a url"), undefined);
    });

    it("what is recorded: user.bluegreen.address, read back from instances of the stack only", () => {
        const mine = { "user.bluegreen.managed": "true", "user.bluegreen.stack": "s" };
        assert.equal(ADDRESS_KEY, "user.bluegreen.address");
        assert.deepEqual(
            recordedAddresses("s", [
                { name: "p-a-blue", config: { ...mine, [ADDRESS_KEY]: "10.9.0.101" } },
                { name: "p-a-green", config: mine },
                { name: "p-a-red", config: { ...mine, "user.bluegreen.stack": "other", [ADDRESS_KEY]: "10.9.0.102" } },
                { name: "p-b-blue", config: { ...mine, [ADDRESS_KEY]: "not an address" } },
                { name: "x-b-blue", config: { [ADDRESS_KEY]: "10.9.0.103" } },
            ]),
            { "p-a-blue": "10.9.0.101" },
        );
    });

    it("HAProxy's servers are the nodes' addresses at the app's port", () => {
        const addresses = { "p-api-blue-1": "10.9.0.101", "p-api-blue-2": "10.9.0.102", "p-web-green": "10.9.0.103" };
        assert.deepEqual(backendServers("p-", "api", "blue", 2, 8080, addresses), [
            { server: "blue-1", address: "10.9.0.101:8080" },
            { server: "blue-2", address: "10.9.0.102:8080" },
        ]);
        assert.deepEqual(backendServers("p-", "web", "green", 1, 9000, addresses), [{ server: "green", address: "10.9.0.103:9000" }]);
        assert.throws(() => backendServers("p-", "web", "blue", 1, 9000, addresses), /no address for p-web-blue/);
    });

    it("reads the nodes' addresses back from HAProxy's config (the record of nodes whose member cannot be reached)", () => {
        const cfg = [
            "backend be_api",
            "    server blue-1 10.9.0.101:9000 check weight 256",
            "    server blue-2 10.9.0.102:9000 check weight 256",
            "    server green-2 127.0.0.1:18111 check weight 0",
            "backend be_web",
            "    server blue 10.9.0.105:9000 check weight 256",
            "backend be_other",
            "    server blue 10.9.0.109:9000 check",
            "frontend fe",
            "    server blue-3 10.9.0.103:9000",
        ].join("\n");
        assert.deepEqual(haproxyConfigAddresses("p-", [{ name: "api" }, { name: "web" }], cfg), {
            "p-api-blue-1": "10.9.0.101",
            "p-api-blue-2": "10.9.0.102",
            "p-api-green-2": "127.0.0.1",
            "p-web-blue": "10.9.0.105",
        });
        assert.deepEqual(haproxyConfigAddresses("p-", [{ name: "api" }], ""), {});
    });
});
