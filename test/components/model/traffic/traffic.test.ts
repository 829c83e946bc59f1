import assert from "node:assert/strict";
import {
    LiveServer,
    Pool,
    allOn,
    colorOfServer,
    describeSplit,
    desiredWeights,
    servedColor,
    servedSplit,
    setWeightCommand,
    soleColor,
    splitsEqual,
    weightCommands,
} from "../../../../components/model/traffic/traffic";

const st = (backend: string, server: string, weight: number, draining = false): LiveServer => ({ backend, server, weight, draining });

const pool = (backend: string, servers: string[]): Pool => ({ backend, servers: servers.map((name) => ({ name, color: colorOfServer(name)! })) });

describe("traffic", () => {
    it("setWeightCommand", () => {
        assert.equal(setWeightCommand("be_web", "green", 100), "set server be_web/green weight 100");
        assert.equal(setWeightCommand("be_api", "blue", 0), "set server be_api/blue weight 0");
    });

    it("allOn puts every percent on one color, or none", () => {
        assert.deepEqual(allOn("green"), { green: 100 });
        assert.deepEqual(allOn(undefined), {});
    });

    it("splits compare without their zero entries", () => {
        assert.equal(splitsEqual({ blue: 100, green: 0 }, { blue: 100 }), true);
        assert.equal(splitsEqual({ blue: 90, green: 10 }, { blue: 10, green: 90 }), false);
        assert.equal(splitsEqual({}, { green: 0 }), true);
    });

    it("describeSplit: a color, none, or each share", () => {
        assert.equal(describeSplit({ green: 100 }), "green");
        assert.equal(describeSplit({ blue: 0 }), "none");
        assert.equal(describeSplit({ blue: 90, green: 10 }), "blue=90,green=10");
        assert.equal(soleColor({ blue: 90, green: 10 }), undefined);
        assert.equal(soleColor({ blue: 0, green: 100 }), "green");
    });

    it("colorOfServer reads the color from the server name", () => {
        assert.equal(colorOfServer("blue"), "blue");
        assert.equal(colorOfServer("green-2"), "green");
        assert.equal(colorOfServer("backup"), undefined);
        assert.equal(colorOfServer("bluebird"), undefined);
    });

    describe("desiredWeights and weightCommands", () => {
        it("gives each color's servers its percent, shared among them", () => {
            assert.deepEqual(desiredWeights([pool("be_web", ["blue", "green"])], { green: 100 }), [
                { backend: "be_web", server: "blue", weight: 0 },
                { backend: "be_web", server: "green", weight: 100 },
            ]);
            assert.deepEqual(
                desiredWeights([pool("be_api", ["blue-1", "blue-2", "green-1", "green-2"])], { blue: 90, green: 10 }).map((w) => w.weight),
                [45, 45, 5, 5],
            );
        });

        it("never rounds a color with traffic down to 0", () => {
            assert.deepEqual(
                desiredWeights([pool("be_api", ["blue-1", "blue-2", "blue-3", "green"])], { blue: 1, green: 99 }).map((w) => w.weight),
                [1, 1, 1, 99],
            );
        });

        it("raises weights before lowering them", () => {
            assert.deepEqual(weightCommands(desiredWeights([pool("be_web", ["blue", "green"])], { green: 100 })), [
                "set server be_web/green weight 100",
                "set server be_web/blue weight 0",
            ]);
        });
    });

    describe("servedSplit", () => {
        it("reads the live split back, the same in every backend", () => {
            const live = [st("be_a", "blue", 90), st("be_a", "green", 10), st("be_b", "blue-1", 45), st("be_b", "blue-2", 45), st("be_b", "green", 10)];
            assert.deepEqual(servedSplit(live, ["be_a", "be_b"]), { blue: 90, green: 10 });
        });

        it("counts a drained server as taking no traffic", () => {
            assert.deepEqual(servedSplit([st("be_a", "blue-1", 50, true), st("be_a", "blue-2", 50)], ["be_a"]), { blue: 100 });
            assert.deepEqual(servedSplit([st("be_a", "blue", 100, true)], ["be_a"]), {});
        });

        it("is mixed when backends disagree", () => {
            assert.equal(servedSplit([st("be_a", "blue", 100), st("be_b", "green", 100)], ["be_a", "be_b"]), "mixed");
        });
    });

    describe("servedColor", () => {
        const backends = ["be_backend", "be_web"];

        it("names the one color that has weight everywhere", () => {
            assert.equal(
                servedColor([st("be_backend", "blue", 100), st("be_backend", "green", 0), st("be_web", "blue", 100), st("be_web", "green", 0)], backends),
                "blue",
            );
            assert.equal(
                servedColor([st("be_backend", "blue", 0), st("be_backend", "green", 100), st("be_web", "blue", 0), st("be_web", "green", 1)], backends),
                "green",
            );
        });

        it("gives undefined when no server has weight", () => {
            assert.equal(servedColor([st("be_backend", "blue", 0), st("be_backend", "green", 0), st("be_web", "blue", 0)], backends), undefined);
            assert.equal(servedColor([], backends), undefined);
        });

        it("is mixed when backends disagree", () => {
            assert.equal(servedColor([st("be_backend", "blue", 100), st("be_web", "green", 100)], backends), "mixed");
            assert.equal(servedColor([st("be_backend", "blue", 100), st("be_web", "blue", 0)], backends), "mixed");
            // Whatever the order of the backends, a half-zeroed HAProxy is not "blue".
            assert.equal(servedColor([st("be_backend", "blue", 0), st("be_web", "blue", 100)], backends), "mixed");
            assert.equal(servedColor([st("be_backend", "blue", 100), st("be_web", "blue", 0)], [...backends].reverse()), "mixed");
        });

        it("is mixed when both colors have weight in one backend", () => {
            assert.equal(servedColor([st("be_backend", "blue", 100), st("be_backend", "green", 100), st("be_web", "blue", 100)], backends), "mixed");
        });

        it("ignores backends it was not asked about and servers that are not colors", () => {
            assert.equal(
                servedColor([st("be_backend", "blue", 100), st("be_web", "blue", 100), st("be_other", "green", 100), st("be_web", "backup", 100)], backends),
                "blue",
            );
        });
    });
});
