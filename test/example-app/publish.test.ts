import assert from "node:assert/strict";
import { parsePublishArgs } from "../../example-app/publish";

describe("example-app/publish parsePublishArgs", () => {
    it("reads a release, lowercased, with the dev stack and every component by default", () => {
        assert.deepEqual(parsePublishArgs(["--release", "ABC1234"]), {
            stack: "dev",
            components: [],
            migrations: [],
            stackReleases: false,
            release: "abc1234",
        });
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
                "--migration",
                "db/0002_b.sql",
                "--migration",
                "/tmp/0001_a.sql",
            ]),
            {
                stack: "prod",
                components: ["web", "backend"],
                migrations: ["db/0002_b.sql", "/tmp/0001_a.sql"],
                stackReleases: false,
                release: "0123456789abcdef0123456789abcdef01234567",
                broken: "latency",
            },
        );
        for (const mode of ["health", "latency", "errors", "migrate"]) assert.equal(parsePublishArgs(["--release", "abc1234", "--broken", mode]).broken, mode);
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
            (e: Error) => e.message === "--broken: expected one of health, health-node-2, latency, errors, migrate",
        );
    });

    it("--stack-releases takes the releases from the stack, and excludes --release and --broken", () => {
        assert.deepEqual(parsePublishArgs(["--stack-releases", "--stack", "staging"]), {
            stack: "staging",
            components: [],
            migrations: [],
            stackReleases: true,
        });
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

    it("--migration takes .sql files only, one per basename, and goes with --release", () => {
        assert.throws(
            () => parsePublishArgs(["--release", "abc1234", "--migration", "db/0001_init.txt"]),
            (e: Error) => e.message === "--migration db/0001_init.txt: expected a .sql file (the release carries it as migrations/0001_init.txt)",
        );
        assert.throws(
            () => parsePublishArgs(["--release", "abc1234", "--migration", "a/0001.sql", "--migration", "b/0001.sql"]),
            (e: Error) => e.message === "--migration b/0001.sql: a/0001.sql already goes into the release as migrations/0001.sql",
        );
        assert.throws(
            () => parsePublishArgs(["--stack-releases", "--migration", "0001.sql"]),
            (e: Error) => e.message === "--migration goes with --release: --stack-releases republishes the stack's own releases as they are",
        );
        assert.throws(() => parsePublishArgs(["--release", "abc1234", "--migration"]), /--migration needs a value/);
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
