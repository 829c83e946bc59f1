import assert from "node:assert/strict";
import { diskDevice, proxyDevice } from "../../../../components/io/incus";
import { statefulInstanceConfig, statefulMismatch } from "../../../../components/release/stateful/stateful";
import { statefulInputs } from "../../../helpers/statefulInputs";

// Issue 20, item 1: an `up` from an empty state adopts a running container only when it is
// what config asks for, release and all; anything else takes the guarded path.
describe("release/stateful/stateful statefulMismatch", () => {
    const i = statefulInputs({ env: { GREETING: "hello" } });
    const live = (over: { config?: Record<string, string>; devices?: Record<string, Record<string, string>> } = {}) => ({
        name: i.name,
        status: "Running",
        config: { ...statefulInstanceConfig(i, i.release), "volatile.uuid": "x", "image.os": "Debian", ...over.config },
        devices: {
            http: proxyDevice({ listenPort: i.hostPort, connectPort: i.port }),
            "vol-data": diskDevice({ pool: i.pool, volume: "dev-db-data", path: "/var/lib/data" }),
            ...over.devices,
        },
    });

    it("a container made from these inputs matches, whatever Incus adds (volatile, image keys)", () => {
        assert.equal(statefulMismatch(live(), i), undefined);
    });

    it("names the env that differs, was added or was removed", () => {
        assert.match(statefulMismatch(live({ config: { "environment.GREETING": "old" } }), i)!, /environment\.GREETING/);
        assert.match(statefulMismatch(live({ config: { "environment.LEFTOVER": "1" } }), i)!, /environment\.LEFTOVER/);
        assert.match(statefulMismatch(live(), statefulInputs())!, /environment\.GREETING/);
    });

    it("names a port, volume, image or profiles that differ", () => {
        assert.match(statefulMismatch(live(), statefulInputs({ env: { GREETING: "hello" }, hostPort: 18151 }))!, /device http/);
        assert.match(
            statefulMismatch(live(), statefulInputs({ env: { GREETING: "hello" }, volumes: [{ name: "data", volume: "dev-db-data", path: "/data" }] }))!,
            /device vol-data|environment\.BLUEGREEN_DATA_DIR/,
        );
        assert.match(statefulMismatch(live(), statefulInputs({ env: { GREETING: "hello" }, image: "other" }))!, /user\.bluegreen\.image/);
        assert.match(statefulMismatch(live(), statefulInputs({ env: { GREETING: "hello" }, profiles: ["default", "big"] }))!, /user\.bluegreen\.profiles/);
        assert.match(statefulMismatch(live({ config: { "user.bluegreen.image": "" } }), i)!, /user\.bluegreen\.image/);
    });
});
