import assert from "node:assert/strict";
import { parsePublishArgs } from "../../example-app/publish";

describe("example-app/publish parsePublishArgs", () => {
    it("reads a release, lowercased, with the dev stack and every component by default", () => {
        assert.deepEqual(parsePublishArgs(["--release", "ABC1234"]), { stack: "dev", components: [], stackReleases: false, release: "abc1234" });
    });

    it("reads every option", () => {
        assert.deepEqual(
            parsePublishArgs([
                "--release",
                "0123456789abcdef0123456789abcdef01234567",
                "--broken",
                "latency",
                "--stack",
                "prod",
                "--component",
                "web",
                "--component",
                "backend",
            ]),
            { stack: "prod", components: ["web", "backend"], stackReleases: false, release: "0123456789abcdef0123456789abcdef01234567", broken: "latency" },
        );
        for (const mode of ["health", "latency", "errors"]) assert.equal(parsePublishArgs(["--release", "abc1234", "--broken", mode]).broken, mode);
    });

    it("refuses a release that is not 7-40 hex characters, or none at all", () => {
        const message = "--release: expected 7-40 hex characters (or --stack-releases)";
        for (const argv of [
            ["--release", "abc123"],
            ["--release", "xyz1234"],
            ["--release", "a".repeat(41)],
            ["--release", "abc 1234"],
            [],
            ["--stack", "dev"],
        ]) {
            assert.throws(
                () => parsePublishArgs(argv),
                (e: Error) => e.message === message,
                JSON.stringify(argv),
            );
        }
    });

    it("refuses an unknown broken mode", () => {
        assert.throws(
            () => parsePublishArgs(["--release", "abc1234", "--broken", "slow"]),
            (e: Error) => e.message === "--broken: expected one of health, latency, errors",
        );
    });

    it("--stack-releases takes the releases from the stack, and excludes --release and --broken", () => {
        assert.deepEqual(parsePublishArgs(["--stack-releases", "--stack", "staging"]), { stack: "staging", components: [], stackReleases: true });
        const message = "--stack-releases publishes the stack's own releases; drop --release and --broken";
        assert.throws(
            () => parsePublishArgs(["--stack-releases", "--release", "abc1234"]),
            (e: Error) => e.message === message,
        );
        assert.throws(
            () => parsePublishArgs(["--broken", "errors", "--stack-releases"]),
            (e: Error) => e.message === message,
        );
    });

    it("refuses unknown options and options without a value", () => {
        assert.throws(
            () => parsePublishArgs(["--release", "abc1234", "--colour", "blue"]),
            (e: Error) => e.message === "unknown option --colour",
        );
        assert.throws(
            () => parsePublishArgs(["--release"]),
            (e: Error) => e.message === "--release needs a value",
        );
        assert.throws(() => parsePublishArgs(["--release", "abc1234", "--component"]), /--component needs a value/);
    });
});
