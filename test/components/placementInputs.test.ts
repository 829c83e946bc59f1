// Placement is part of the inputs (issue 21 part 2): each container's `member` and routed
// `address`, so the preview shows them; a new member or address is a replacement; a stateful
// service's member never changes by replacement.
import assert from "node:assert/strict";
import { colorContainerInputs, statefulInputs } from "../../components/plan";
import { placeStack } from "../../components/model/cluster/placement";
import { colorContainerProvider } from "../../components/providers/colorContainer";
import { statefulProvider } from "../../components/providers/stateful";
import { ColorContainerInputs, ColorContainerOutputs } from "../../components/release/deploy";
import { ServingGuard } from "../../components/release/cleanup";
import { stackConfig } from "../helpers/stackConfig";
import { containerInputs as inputs, containerOutputs as outputs } from "../helpers/containerInputs";
import { statefulInputs as svcInputs } from "../helpers/statefulInputs";
import { TestServer, reply, startServer } from "../helpers/httpServer";
import { quietProgress } from "../helpers/quiet";

const GUARD: ServingGuard = { host: { placement: "host" }, stateDir: "/var/lib/bluegreen/dev", adminSocket: "/var/lib/bluegreen/dev/admin.sock" };
const CLUSTER = {
    incus: { remote: "prod" },
    haproxy: { placement: "incus", frontendPort: 18100, exporterPort: 18101 },
    components: { api: { hostPort: 18110, route: "/", nodes: 2 } },
    network: { mode: "routed", parent: "eth0", addresses: "10.9.0.100-10.9.0.119" },
    stateful: { db: { release: "bbbbbbb", hostPort: 18150, volumes: { data: "/var/lib/db" }, member: "m3" } },
};
const MEMBERS = ["m1", "m2", "m3"].map((name) => ({ name, state: "online" as const }));

describe("placement in the plan's inputs", () => {
    quietProgress();

    it("each container carries its member and address; without a placement, inputs are as before", () => {
        const config = stackConfig(CLUSTER, "prod");
        const placement = placeStack(config, { members: MEMBERS, recorded: {} });
        const placed = colorContainerInputs(config, "blue", "abc1234", GUARD, placement);
        assert.deepEqual(
            placed.map((i) => [i.name, i.member, i.address, i.parent]),
            [
                ["prod-api-blue-1", "m1", "10.9.0.101", "eth0"],
                ["prod-api-blue-2", "m2", "10.9.0.102", "eth0"],
            ],
        );
        const plain = colorContainerInputs(config, "blue", "abc1234", GUARD);
        assert.ok(plain.every((i) => !("member" in i) && !("address" in i) && !("parent" in i)));
        assert.deepEqual(
            placed.map(({ member: _m, address: _a, parent: _p, ...rest }) => rest),
            plain,
        );
    });

    it("the stateful service carries its pinned member and its address", () => {
        const config = stackConfig(CLUSTER, "prod");
        const [db] = statefulInputs(config, placeStack(config, { members: MEMBERS, recorded: {} }));
        assert.equal(db.member, "m3");
        assert.equal(db.address, "10.9.0.105");
        assert.ok(!("member" in statefulInputs(config)[0]));
    });

    describe("a container's diff", () => {
        let server: TestServer;
        before(async () => {
            server = await startServer(reply(200, { "x-release": "def5678" }, "ok"));
        });
        after(async () => server.close());
        const live = (over: Partial<ColorContainerInputs> = {}) => inputs({ hostPort: server.port, ...over });
        const diff = (olds: ColorContainerOutputs, news: ColorContainerInputs) => colorContainerProvider.diff!("dev-web-green", olds, news);

        it("a new member, or a new address, is a replacement (deleting first: the address moves with the node)", async () => {
            assert.deepEqual(await diff(outputs(live({ member: "m1" })), live({ member: "m2" })), {
                changes: true,
                replaces: ["member"],
                deleteBeforeReplace: true,
            });
            assert.deepEqual(await diff(outputs(live({ address: "10.9.0.101" })), live({ address: "10.9.0.102" })), {
                changes: true,
                replaces: ["address"],
                deleteBeforeReplace: true,
            });
            assert.deepEqual(await diff(outputs(live({ member: "m1" })), live({ member: "m1" })), { changes: false, replaces: [], deleteBeforeReplace: true });
        });
    });

    describe("a stateful service's check", () => {
        it("refuses a new member, naming incus move and storage volume copy, before anything is touched", async () => {
            const r = await statefulProvider.check!(svcInputs({ member: "m3" }), svcInputs({ member: "m1" }));
            assert.deepEqual(
                r.failures?.map((f) => f.property),
                ["member"],
            );
            assert.match(r.failures![0].reason, /pinned to member m3/);
            assert.match(r.failures![0].reason, /incus move dev-db --target m1/);
            assert.match(r.failures![0].reason, /storage volume copy/);
            assert.match(r.failures![0].reason, /Nothing was touched/);
        });

        it("accepts pinning a service that had no member, and the same member", async () => {
            for (const [o, n] of [
                [undefined, "m3"],
                ["m3", "m3"],
            ]) {
                const r = await statefulProvider.check!(svcInputs(o ? { member: o } : {}), svcInputs({ member: n }));
                assert.deepEqual(
                    r.failures?.filter((f) => f.property !== "release"),
                    [],
                );
            }
        });
    });
});
