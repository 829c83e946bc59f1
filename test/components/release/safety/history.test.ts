import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import {
    activeColorPath,
    clearActiveColor,
    historyLine,
    historyPath,
    parseActiveColor,
    readActiveColor,
    recordActiveColor,
} from "../../../../components/release/safety/history";
import { HaproxyHost } from "../../../../components/io/haproxyHost";
import { makeTmp, removeTmp } from "../../../helpers/tmp";

const HOST: HaproxyHost = { placement: "host" };

describe("activeColor", () => {
    it("keeps active-color and history in the state dir", () => {
        assert.equal(activeColorPath("/var/lib/veza"), "/var/lib/veza/active-color");
        assert.equal(historyPath("/var/lib/veza"), "/var/lib/veza/history");
    });

    describe("parseActiveColor", () => {
        it("reads one color word, ignoring surrounding whitespace", () => {
            assert.equal(parseActiveColor("green\n"), "green");
            assert.equal(parseActiveColor("  blue \n"), "blue");
        });

        it("gives undefined for nothing, an empty file or an unknown word", () => {
            assert.equal(parseActiveColor(undefined), undefined);
            assert.equal(parseActiveColor(""), undefined);
            assert.equal(parseActiveColor("\n"), undefined);
            assert.equal(parseActiveColor("purple"), undefined);
            assert.equal(parseActiveColor("Blue"), undefined);
            assert.equal(parseActiveColor("blue green"), undefined);
        });
    });

    describe("historyLine", () => {
        it("is `<UTC ISO 8601 without milliseconds> <color> <release>` and a newline", () => {
            assert.equal(historyLine(new Date("2026-11-21T10:00:00.789Z"), "green", "abc1234"), "2026-11-21T10:00:00Z green abc1234\n");
        });

        it("is in UTC whatever the input's offset", () => {
            assert.equal(historyLine(new Date("2026-11-21T12:30:05+02:00"), "blue", "def5678"), "2026-11-21T10:30:05Z blue def5678\n");
        });

        it("records `none -` when no color serves", () => {
            assert.equal(historyLine(new Date(Date.UTC(2026, 0, 2, 3, 4, 5)), "none", "-"), "2026-01-02T03:04:05Z none -\n");
        });
    });

    describe("on a host placement", () => {
        let dir: string;
        let stateDir: string;
        beforeEach(() => {
            dir = makeTmp();
            stateDir = path.join(dir, "state", "nested"); // created on first write
        });
        afterEach(() => removeTmp(dir));

        it("reads undefined before anything was recorded", async () => {
            assert.equal(await readActiveColor(HOST, stateDir), undefined);
        });

        it("records switches: the file is replaced, history grows by one line each time", async () => {
            await recordActiveColor(HOST, stateDir, "green", "abc1234", new Date("2026-11-21T10:00:00Z"));
            assert.equal(fs.readFileSync(path.join(stateDir, "active-color"), "utf8"), "green\n");
            assert.equal(await readActiveColor(HOST, stateDir), "green");

            await recordActiveColor(HOST, stateDir, "blue", "def5678", new Date("2026-11-21T11:00:00Z"));
            assert.equal(fs.readFileSync(path.join(stateDir, "active-color"), "utf8"), "blue\n");
            assert.equal(await readActiveColor(HOST, stateDir), "blue");
            assert.equal(fs.readFileSync(path.join(stateDir, "history"), "utf8"), "2026-11-21T10:00:00Z green abc1234\n2026-11-21T11:00:00Z blue def5678\n");
            assert.deepEqual(fs.readdirSync(stateDir).sort(), ["active-color", "history"], "no temp file left behind");
        });

        it("clears the record: empty file, `none -` in history", async () => {
            await recordActiveColor(HOST, stateDir, "green", "abc1234", new Date("2026-11-21T10:00:00Z"));
            await clearActiveColor(HOST, stateDir, new Date("2026-11-21T12:00:00Z"));
            assert.equal(fs.readFileSync(path.join(stateDir, "active-color"), "utf8"), "");
            assert.equal(await readActiveColor(HOST, stateDir), undefined);
            assert.equal(fs.readFileSync(path.join(stateDir, "history"), "utf8"), "2026-11-21T10:00:00Z green abc1234\n2026-11-21T12:00:00Z none -\n");
        });

        it("replaces the file rather than rewriting it in place", async () => {
            await recordActiveColor(HOST, stateDir, "green", "abc1234");
            const before = fs.statSync(path.join(stateDir, "active-color")).ino;
            await recordActiveColor(HOST, stateDir, "blue", "def5678");
            assert.notEqual(fs.statSync(path.join(stateDir, "active-color")).ino, before);
        });
    });
});
