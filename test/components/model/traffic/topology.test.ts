import assert from "node:assert/strict";
import { colorHostPort, haproxyHostOf, haproxyTarget, incusTarget, loopbackAddress, loopbackUrl } from "../../../../components/model/traffic/topology";

describe("topology", () => {
    it("colorHostPort gives blue hostPort and green hostPort + 1", () => {
        assert.equal(colorHostPort(18110, "blue"), 18110);
        assert.equal(colorHostPort(18110, "green"), 18111);
    });

    it("everything is on loopback", () => {
        assert.equal(loopbackAddress(18100), "127.0.0.1:18100");
        assert.equal(loopbackUrl(18100), "http://127.0.0.1:18100/");
        assert.equal(loopbackUrl(18110, "/health"), "http://127.0.0.1:18110/health");
    });

    it("incusTarget names a remote only when there is one", () => {
        assert.deepEqual(incusTarget(), {});
        assert.deepEqual(incusTarget("prod"), { remote: "prod" });
    });

    it("haproxyHostOf: this host, or the <prefix>haproxy instance on its remote", () => {
        assert.deepEqual(haproxyHostOf("host", "dev-", "prod"), { placement: "host" });
        assert.deepEqual(haproxyHostOf("incus", "staging-"), { placement: "incus", instance: "staging-haproxy" });
        assert.deepEqual(haproxyHostOf("incus", "prod-", "prod"), { placement: "incus", instance: "prod-haproxy", remote: "prod" });
    });

    it("haproxyTarget is the instance's remote, or the local daemon", () => {
        assert.deepEqual(haproxyTarget({ placement: "host" }), {});
        assert.deepEqual(haproxyTarget({ placement: "incus", instance: "prod-haproxy", remote: "prod" }), { remote: "prod" });
        assert.deepEqual(haproxyTarget({ placement: "incus", instance: "s-haproxy" }), {});
    });
});
