import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../../../components/model/config";
import { stickyBackCommand, stickyCookie, stickyLines, stickyOutCommand } from "../../../../components/model/edge/sticky";
import { modelOf } from "../../../../components/release/traffic/switch";
import { switchInputs } from "../../../../components/plan";
import { minimalRaw, stackConfig } from "../../../helpers/stackConfig";

function problems(over: Record<string, unknown>): string[] {
    try {
        parseConfig({ ...minimalRaw(), ...over }, "dev");
    } catch (e) {
        assert.ok(e instanceof ConfigError, String(e));
        return [...e.problems];
    }
    assert.fail("parseConfig accepted the config");
}

describe("model/edge/sticky", () => {
    it("refuses a sticky cookie beside a uri or hdr() hash balance, which it would silently override, naming both keys and the way out; source and roundrobin pass", () => {
        for (const balance of ["uri", "hdr(x-user)"]) {
            assert.throws(
                () => stackConfig({ canary: { sticky: "cookie" }, components: { stream: { hostPort: 18120, route: "/stream", nodes: 2, balance } } }),
                (x: Error) => {
                    assert.match(
                        x.message,
                        new RegExp(
                            `bluegreen:components\\.stream\\.balance: ${balance.replace(/[()]/g, "\\$&")} keeps a request key on one node, and bluegreen:canary\\.sticky: cookie .*; remove bluegreen:canary\\.sticky, or set components\\.stream\\.balance to roundrobin, leastconn or source`,
                        ),
                    );
                    return true;
                },
            );
        }
        assert.throws(
            () =>
                stackConfig({
                    progressive: { steps: [20, 100], sticky: "cookie" },
                    prometheus: { port: 19090 },
                    components: { web: { hostPort: 18130, route: "/", balance: "uri" } },
                }),
            /bluegreen:components\.web\.balance: uri .* bluegreen:progressive\.sticky: cookie/,
        );
        for (const balance of ["source", "roundrobin", "leastconn"])
            assert.equal(
                stackConfig({ canary: { sticky: "cookie" }, components: { web: { hostPort: 18130, route: "/", balance } } }).components[0].balance,
                balance,
            );
        assert.equal(
            stackConfig({ components: { web: { hostPort: 18130, route: "/", balance: "uri" } } }).components[0].balance,
            "uri",
            "without a sticky cookie the hash stays",
        );
    });

    it("bluegreen:progressive.sticky and bluegreen:canary.sticky take `cookie`, and turn it on in the switch's config", () => {
        assert.equal(stackConfig({ progressive: { steps: [20, 100], sticky: "cookie" } }).progressive!.sticky, "cookie");
        assert.equal(stackConfig({ canary: { sticky: "cookie" } }).canary!.sticky, "cookie");
        for (const over of [{ progressive: { steps: [20, 100], sticky: "cookie" } }, { canary: { sticky: "cookie" } }]) {
            const sw = switchInputs(stackConfig(over));
            assert.equal(sw.sticky, true);
            assert.equal(modelOf(sw).sticky, true);
        }
        assert.equal(switchInputs(stackConfig({ progressive: { steps: [20, 100] }, canary: {} })).sticky, undefined);
        assert.equal(stackConfig({ progressive: { steps: [20, 100] } }).progressive!.sticky, undefined);
    });

    it("refuses another mode, naming the key", () => {
        assert.match(problems({ progressive: { steps: [100], sticky: "source" } }).join("\n"), /bluegreen:progressive\.sticky: expected cookie/);
        assert.match(problems({ canary: { sticky: true } }).join("\n"), /bluegreen:canary\.sticky: expected cookie/);
    });

    it("renders one cookie per component and a weight-0 escape per server", () => {
        assert.equal(stickyCookie("api"), "bluegreen_api");
        assert.deepEqual(stickyLines("be_api", "api", ["blue", "green"]), [
            "cookie bluegreen_api insert indirect nocache httponly",
            "ignore-persist if { req.cook(bluegreen_api) -m str blue } { srv_weight(be_api/blue) eq 0 }",
            "ignore-persist if { req.cook(bluegreen_api) -m str green } { srv_weight(be_api/green) eq 0 }",
        ]);
    });

    it("takes a canary node's sticky clients off it by weight, and gives it back its pool's share", () => {
        assert.equal(stickyOutCommand("be_api", "blue-3"), "set server be_api/blue-3 weight 0");
        assert.equal(stickyBackCommand("be_api", "blue-3", 3), "set server be_api/blue-3 weight 33");
        assert.equal(stickyBackCommand("be_api", "blue", 1), "set server be_api/blue weight 100");
    });
});
