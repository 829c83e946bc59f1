import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import * as zlib from "zlib";
import { releaseMigrations } from "../../../../components/io/artifacts";
import { isRefused } from "../../../../components/model/errors";
import { MIGRATION_RULES, MigrationFinding, WARNING_RULES } from "../../../../components/model/stateful/migrations";
import {
    MigrationCheck,
    checkMigrations,
    decideMigrations,
    migrationRefusal,
    rolloutMigrationProblem,
} from "../../../../components/release/stateful/migrationGuard";
import * as path from "path";
import { dirStore } from "../../../../components/io/artifacts";
import type { ColorContainerInputs } from "../../../../components/release/deploy";
import { containerInputs } from "../../../helpers/containerInputs";
import { captureStderr, makeTmp, removeTmp, setEnv } from "../../../helpers/tmp";
import { tarball } from "../../../helpers/tarball";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const requireFromString: (code: string) => { handler: () => any } = require("require-from-string");

const START = { start: "#!/bin/sh\nexec node server.js\n", "server.js": "// app\n" };
/** A release tarball with the app and these migrations (names relative to migrations/). */
const release = (migrations: Record<string, string | Buffer> = {}) =>
    tarball({ ...START, ...Object.fromEntries(Object.entries(migrations).map(([k, v]) => [`migrations/${k}`, v])) });

const INIT = "CREATE TABLE users (id bigint PRIMARY KEY, name text, email text);\n";
const RUNNING = release({ "0001_init.sql": INIT, "0002_nick.sql": "ALTER TABLE users ADD COLUMN nick text;\n" });
const RUNNING_FILES = { "0001_init.sql": INIT, "0002_nick.sql": "ALTER TABLE users ADD COLUMN nick text;\n" };

/** Runs the guard with its progress lines captured. */
async function guard(next: Buffer, over: Partial<MigrationCheck> = {}) {
    const log: string[] = [];
    const verdict = await checkMigrations(
        { component: "backend", release: "b4c5d6e", running: RUNNING, runningRelease: "a1b2c3d", next, force: false, ...over },
        { log: (l) => log.push(l) },
    );
    return { verdict, log };
}

/** The refusal the guard throws (fails the test when it does not refuse). */
async function refusalOf(next: Buffer, over: Partial<MigrationCheck> = {}): Promise<string> {
    try {
        await guard(next, over);
    } catch (e) {
        assert.equal(isRefused(e), true, `expected a refusal, got ${String(e)}`);
        return (e as Error).message;
    }
    assert.fail("the guard let the rollout through");
}

describe("release/stateful/migrationGuard", function () {
    this.timeout(30_000);

    describe("checkMigrations on real release tarballs", () => {
        it("refuses a DROP COLUMN, naming release, component, file, line, rule and reason, and saying nothing was touched", async () => {
            const next = release({ ...RUNNING_FILES, "0004_drop.sql": "-- contract\nBEGIN;\nALTER TABLE users DROP COLUMN email;\nCOMMIT;\n" });
            assert.equal(
                await refusalOf(next),
                "release b4c5d6e of backend carries a backward-incompatible migration: " +
                    "migrations/0004_drop.sql:3: DROP COLUMN users.email (ban-drop-column: old code still reads it). " +
                    "Split it into an expand/contract pair of releases (see the README's Migration guard), " +
                    "or set bluegreen:migrations.force: true to override (the override is logged). Nothing was touched.",
            );
        });

        const blocked: [string, string][] = [
            ["ALTER TABLE users ALTER COLUMN id TYPE text;", "migrations/0003_x.sql:2: ALTER COLUMN users.id TYPE (ban-alter-column-type:"],
            [
                "ALTER TABLE users ADD COLUMN age int NOT NULL;",
                "migrations/0003_x.sql:2: ADD COLUMN users.age NOT NULL without DEFAULT (ban-add-column-not-null-without-default:",
            ],
            ["ALTER TABLE users RENAME COLUMN name TO full_name;", "migrations/0003_x.sql:2: RENAME COLUMN users.name TO full_name (ban-rename-column:"],
            ["ALTER TABLE users RENAME TO accounts;", "migrations/0003_x.sql:2: RENAME TABLE users TO accounts (ban-rename-table:"],
            ["DROP TABLE users;", "migrations/0003_x.sql:2: DROP TABLE users (ban-drop-table:"],
            ["ALTER TABLE users ALTER COLUMN name SET NOT NULL;", "migrations/0003_x.sql:2: ALTER COLUMN users.name SET NOT NULL (ban-set-not-null:"],
            ["DROP SCHEMA public CASCADE;", "migrations/0003_x.sql:2: DROP SCHEMA public (ban-drop-schema:"],
            ["TRUNCATE users;", "migrations/0003_x.sql:2: TRUNCATE users (ban-truncate:"],
        ];
        for (const [sql, expected] of blocked) {
            it(`refuses ${sql}`, async () => {
                const message = await refusalOf(release({ ...RUNNING_FILES, "0003_x.sql": `SELECT 1;\n${sql}\n` }));
                assert.ok(message.includes(expected), message);
                assert.ok(message.endsWith("Nothing was touched."), message);
            });
        }

        it("lets ADD COLUMN … NOT NULL DEFAULT through, and logs what it checked", async () => {
            const next = release({ ...RUNNING_FILES, "0003_status.sql": "ALTER TABLE users ADD COLUMN status text NOT NULL DEFAULT 'active';\n" });
            const { verdict, log } = await guard(next);
            assert.deepEqual(verdict, {
                ok: true,
                findings: [],
                warnings: [],
                overridden: [],
                checked: ["migrations/0003_status.sql"],
                changed: [],
                log: ["migration guard: release b4c5d6e of backend: 1 new migration checked, no finding"],
            });
            assert.deepEqual(log, verdict.log);
        });

        it("is not fooled by a commented-out DROP COLUMN (-- and /* */) or one inside a string literal", async () => {
            const next = release({
                ...RUNNING_FILES,
                "0003_a.sql": "-- ALTER TABLE users DROP COLUMN email;\n/* ALTER TABLE users\n   DROP COLUMN email; */\nSELECT 1;\n",
                "0004_b.sql": "INSERT INTO audit (note) VALUES ('ALTER TABLE users DROP COLUMN email');\n",
            });
            const { verdict } = await guard(next);
            assert.deepEqual(verdict.checked, ["migrations/0003_a.sql", "migrations/0004_b.sql"]);
            assert.deepEqual(verdict.findings, []);
        });

        it("catches mixed case and line breaks", async () => {
            const message = await refusalOf(release({ ...RUNNING_FILES, "0003_x.sql": "\n\naLtEr\n  TABLE users\n\tdRoP\n COLUMN\n  email;\n" }));
            assert.ok(message.includes("migrations/0003_x.sql:3: DROP COLUMN users.email (ban-drop-column:"), message);
        });

        it("checks only migrations new relative to the running release: an old DROP COLUMN that already ran is not refused again", async () => {
            const running = release({ ...RUNNING_FILES, "0003_drop.sql": "ALTER TABLE users DROP COLUMN email;\n" });
            const next = release({ ...RUNNING_FILES, "0003_drop.sql": "ALTER TABLE users DROP COLUMN email;\n", "0004_ok.sql": "CREATE TABLE t (id int);\n" });
            const { verdict } = await guard(next, { running });
            assert.deepEqual(verdict.checked, ["migrations/0004_ok.sql"]);
            assert.equal(verdict.ok, true);
        });

        it("with no running release (a first deploy), every migration is new and checked", async () => {
            const next = release({ ...RUNNING_FILES, "0003_drop.sql": "ALTER TABLE users DROP COLUMN email;\n" });
            const message = await refusalOf(next, { running: undefined, runningRelease: undefined });
            assert.ok(message.includes("migrations/0003_drop.sql:1: DROP COLUMN users.email"), message);
            const { verdict } = await guard(release(RUNNING_FILES), { running: undefined });
            assert.deepEqual(verdict.checked, ["migrations/0001_init.sql", "migrations/0002_nick.sql"]);
        });

        it("reports a released migration that changed: its findings say so, and a clean change is logged", async () => {
            const edited = release({ ...RUNNING_FILES, "0002_nick.sql": "ALTER TABLE users ADD COLUMN nick text;\nALTER TABLE users DROP COLUMN name;\n" });
            const message = await refusalOf(edited);
            assert.ok(
                message.includes(
                    "migrations/0002_nick.sql:2: DROP COLUMN users.name (ban-drop-column: old code still reads it; " +
                        "this file differs from the running release's: a released migration must never change)",
                ),
                message,
            );

            const reworded = release({ ...RUNNING_FILES, "0002_nick.sql": "-- add a nickname\nALTER TABLE users ADD COLUMN nick text;\n" });
            const { verdict, log } = await guard(reworded);
            assert.equal(verdict.ok, true);
            assert.deepEqual(verdict.changed, ["migrations/0002_nick.sql"]);
            assert.deepEqual(log, [
                "release b4c5d6e of backend changes migrations/0002_nick.sql, which release a1b2c3d already has with other content: " +
                    "a released migration must never change (checked as new: no finding)",
                "migration guard: release b4c5d6e of backend: 1 new migration checked, no finding",
            ]);
        });

        it("refuses a migration that does not parse (fail closed), naming the file and the parser's line", async () => {
            const message = await refusalOf(
                release({ ...RUNNING_FILES, "0003_typo.sql": "CREATE TABLE t (id int);\nALTER TABLE users DROPP COLUMN email;\n" }),
            );
            assert.equal(
                message,
                "release b4c5d6e of backend carries a migration that does not parse: " +
                    'migrations/0003_typo.sql:2: syntax error at or near "DROPP" (parse-error: the guard cannot check SQL that does not parse). ' +
                    "Fix the SQL that does not parse and publish it under a new release SHA, " +
                    "or set bluegreen:migrations.force: true to override (the override is logged). Nothing was touched.",
            );
        });

        it("force lets every finding through and logs each one it overrode", async () => {
            const next = release({
                ...RUNNING_FILES,
                "0003_drop.sql": "ALTER TABLE users DROP COLUMN email;\n",
                "0004_rename.sql": "-- ☃ snow\nALTER TABLE users RENAME TO accounts;\n",
            });
            const { verdict, log } = await guard(next, { force: true });
            assert.equal(verdict.ok, true);
            assert.deepEqual(
                verdict.overridden.map((f) => `${f.file}:${f.line} ${f.rule}`),
                ["migrations/0003_drop.sql:1 ban-drop-column", "migrations/0004_rename.sql:2 ban-rename-table"],
            );
            assert.deepEqual(verdict.findings, verdict.overridden);
            assert.deepEqual(log, [
                "migration guard overridden by bluegreen:migrations.force for release b4c5d6e of backend: " +
                    "migrations/0003_drop.sql:1: DROP COLUMN users.email (ban-drop-column: old code still reads it); " +
                    "migrations/0004_rename.sql:2: RENAME TABLE users TO accounts (ban-rename-table: old code still uses the old name)",
            ]);
        });

        it("force also overrides a file that does not parse, and says so", async () => {
            const { verdict, log } = await guard(release({ "0001.sql": "DROPP TABLE x;" }), { force: true, running: undefined });
            assert.deepEqual(
                verdict.overridden.map((f) => f.rule),
                ["parse-error"],
            );
            assert.match(log[0], /^migration guard overridden by bluegreen:migrations\.force .*migrations\/0001\.sql:1: syntax error/);
        });

        it("keeps line numbers right after non-ASCII text before the statement", async () => {
            const sql = "-- Ångström, naïve café, 日本語, 😀😀😀 ".padEnd(60, "é") + "\nSELECT 'ü';\nALTER TABLE users DROP COLUMN email;\nSELECT 2;\n";
            const message = await refusalOf(release({ ...RUNNING_FILES, "0003_i18n.sql": sql }));
            assert.ok(message.includes("migrations/0003_i18n.sql:3: DROP COLUMN users.email"), message);
        });

        it("lists every finding, across files, in application order", async () => {
            const next = release({
                ...RUNNING_FILES,
                "0010_late.sql": "DROP TABLE sessions;\n",
                "0003_early.sql": "ALTER TABLE users DROP COLUMN email, DROP COLUMN name;\n",
            });
            const message = await refusalOf(next);
            assert.ok(message.startsWith("release b4c5d6e of backend carries 3 backward-incompatible migration statements: "), message);
            assert.deepEqual(
                [...message.matchAll(/migrations\/\S+:\d+/g)].map((m) => m[0]),
                ["migrations/0003_early.sql:1", "migrations/0003_early.sql:1", "migrations/0010_late.sql:1"],
            );
            assert.ok(message.includes("Split them into an expand/contract pair"), message);
        });

        it("a release without migrations has nothing to check", async () => {
            const { verdict, log } = await guard(release(), { running: release() });
            assert.deepEqual([verdict.ok, verdict.checked, log], [true, [], ["migration guard: release b4c5d6e of backend: no new migration"]]);
        });

        it("refuses a tarball it cannot read, naming the release, even with force", async () => {
            const message = await refusalOf(Buffer.from("not gzip"), { force: true });
            assert.match(message, /^cannot check the migrations of release b4c5d6e of backend: cannot read the release tarball's migrations: /);
            assert.ok(message.endsWith("Republish the release under a new release SHA (published artifacts are immutable). Nothing was touched."), message);
            const running = await refusalOf(release(), { running: zlib.gzipSync(Buffer.alloc(700, 1)) });
            assert.match(running, /^cannot check the migrations of the running release a1b2c3d of backend: .*bad header checksum/);
        });

        it("refuses a migration that is not UTF-8 text, naming it", async () => {
            const message = await refusalOf(release({ "0003_latin1.sql": Buffer.from([0x2d, 0x2d, 0x20, 0xe9, 0x0a]) }));
            assert.match(message, /migrations\/0003_latin1\.sql is not UTF-8 text/);
        });

        it("refuses a release whose migrations/ is a symlink to a directory, which would hide every migration", async () => {
            const DROP = "ALTER TABLE users DROP COLUMN email;\n";
            const hidden = tarball({ ...START, "db/sql/0003_drop.sql": DROP }, { symlinks: { migrations: "db/sql" } });
            assert.match(await refusalOf(hidden), /^cannot check the migrations of release b4c5d6e of backend: .*migrations is a link/);
            // A link deeper down hides what it points to just the same.
            const nested = tarball({ ...START, "migrations/0001_init.sql": INIT, "db/0003_drop.sql": DROP }, { symlinks: { "migrations/more": "../db" } });
            assert.match(await refusalOf(nested), /migrations\/more is a link/);
        });

        it("refuses a member path with `..` (tar strips it on extraction, so the guard would miss a migration)", async () => {
            const DROP = "ALTER TABLE users DROP COLUMN email;\n";
            const sneaky = tarball({ ...START, "db/sql/0003_drop.sql": DROP }, { transform: "s,^\\./db/sql/,./x/../migrations/," });
            assert.match(await refusalOf(sneaky), /x\/\.\.\/migrations\/0003_drop\.sql: a member path with "\.\."/);
        });

        it("logs through progress() by default", async () => {
            const restore = setEnv({ BLUEGREEN_QUIET: undefined });
            try {
                const { stderr } = await captureStderr(() =>
                    checkMigrations({ component: "web", release: "b4c5d6e", next: release({ "0001.sql": "DROP TABLE t;" }), force: true }),
                );
                assert.match(
                    stderr,
                    /\[bluegreen\] .* migration guard overridden by bluegreen:migrations\.force for release b4c5d6e of web: migrations\/0001\.sql:1: DROP TABLE t/,
                );
            } finally {
                restore();
            }
        });
    });

    it("survives Pulumi's closure serialization, as a provider that calls it will (no captured TextDecoder, the parser required by name)", async () => {
        const sf = await pulumi.runtime.serializeFunction(() => checkMigrations, { allowSecrets: true });
        assert.doesNotMatch(sf.text, /require\("\.\.?\//, "no relative requires: the host loads the text from a string");
        const loaded = requireFromString(sf.text).handler() as typeof checkMigrations;
        const next = release({ "0001_x.sql": "-- ü😀\nSELECT 'é';\nALTER TABLE users DROP COLUMN email;\n" });
        await assert.rejects(
            loaded({ component: "backend", release: "b4c5d6e", next, force: false }, { log: () => undefined }),
            (e: Error) => e.name === "RefusedError" && e.message.includes("migrations/0001_x.sql:3: DROP COLUMN users.email"),
        );
    });

    describe("releaseMigrations (io/artifacts)", () => {
        it("reads migrations/*.sql out of a gzipped release tarball, whatever tar format wrote it", () => {
            const files = {
                ...START,
                "migrations/0001_a.sql": "SELECT 1;\n",
                [`migrations/${"long".repeat(30)}.sql`]: "SELECT 2;\n",
                "migrations/notes.txt": "x",
            };
            for (const format of ["gnu", "posix", "oldgnu"] as const) {
                assert.deepEqual(releaseMigrations(tarball(files, { format })), {
                    "migrations/0001_a.sql": "SELECT 1;\n",
                    [`migrations/${"long".repeat(30)}.sql`]: "SELECT 2;\n",
                });
            }
        });

        it("refuses a gzip bomb: what a release unpacks to is capped", () => {
            // 8 MiB of zeros gzip to a few KiB.
            const bomb = tarball({ ...START, "big.bin": Buffer.alloc(8 << 20) });
            assert.ok(bomb.length < 64 << 10, `${bomb.length}`);
            assert.throws(
                () => releaseMigrations(bomb, 1 << 20),
                (e: Error) => e.name === "ArtifactError" && /the release tarball unpacks to more than 1 MiB/.test(e.message),
            );
            assert.deepEqual(releaseMigrations(bomb, 16 << 20), {});
        });

        it("refuses or reads a gzipped release with random byte flips, and only throws ArtifactErrors (seeded)", () => {
            let seed = 5;
            const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
            const good = release({ "0001_init.sql": INIT });
            for (let n = 0; n < 150; n++) {
                const bad = Buffer.from(good);
                for (let f = 0; f <= rand(4); f++) bad[rand(bad.length)] = rand(256);
                try {
                    releaseMigrations(bad, 1 << 20);
                } catch (e) {
                    assert.ok(e instanceof Error && e.name === "ArtifactError", `flips #${n}: ${String(e)}`);
                }
            }
        });

        it("throws an ArtifactError on a tarball that is not gzip", () => {
            assert.throws(
                () => releaseMigrations(Buffer.from("plain")),
                (e: Error) => e.name === "ArtifactError" && /^cannot read the release tarball's migrations: /.test(e.message),
            );
        });
    });

    describe("rolloutMigrationProblem (a blue/green rollout, against the other color's release)", () => {
        let root: string;
        let restore: () => void;
        before(async () => {
            root = makeTmp();
            restore = setEnv({ BLUEGREEN_ARTIFACT_CACHE: path.join(root, "cache") });
            const store = dirStore(path.join(root, "store"));
            await store.publish({ component: "web", release: "a1b2c3d" }, RUNNING);
            await store.publish(
                { component: "web", release: "b4c5d6e" },
                release({ ...RUNNING_FILES, "0003_drop.sql": "\n\nALTER TABLE users DROP COLUMN email;\n" }),
            );
            await store.publish(
                { component: "web", release: "c7d8e9f" },
                release({ ...RUNNING_FILES, "0003_idx.sql": "CREATE INDEX users_name ON users (name);\n" }),
            );
        });
        after(() => {
            restore();
            removeTmp(root);
        });
        const news = (rel: string, migrations?: ColorContainerInputs["migrations"]) =>
            containerInputs({
                component: "web",
                release: rel,
                artifacts: { type: "dir", path: path.join(root, "store") },
                ...(migrations ? { migrations } : {}),
            });
        const against = (running: string, over: Partial<NonNullable<ColorContainerInputs["migrations"]>> = {}) => ({
            running,
            force: false,
            block: [],
            ...over,
        });

        it("refuses a backward-incompatible migration new to the serving color's release, naming file and line", async () => {
            const problem = await captureStderr(() => rolloutMigrationProblem(undefined, news("b4c5d6e", against("a1b2c3d"))));
            assert.match(
                problem.result ?? "",
                /^release b4c5d6e of web carries a backward-incompatible migration: migrations\/0003_drop\.sql:3: DROP COLUMN users\.email/,
            );
            assert.match(problem.result ?? "", /Nothing was touched\.$/);
        });

        it("lets a warning through with a log line, refuses it when block names it, and force overrides", async () => {
            const warned = await captureStderr(() => rolloutMigrationProblem(undefined, news("c7d8e9f", against("a1b2c3d"))));
            assert.equal(warned.result, undefined);
            assert.match(warned.stderr, /migration guard warning for release c7d8e9f of web: migrations\/0003_idx\.sql:1: CREATE INDEX users_name ON users/);
            const blocked = await captureStderr(() =>
                rolloutMigrationProblem(undefined, news("c7d8e9f", against("a1b2c3d", { block: ["require-concurrent-index-creation"] }))),
            );
            assert.match(blocked.result ?? "", /require-concurrent-index-creation/);
            const forced = await captureStderr(() => rolloutMigrationProblem(undefined, news("b4c5d6e", against("a1b2c3d", { force: true }))));
            assert.equal(forced.result, undefined);
            assert.match(forced.stderr, /migration guard overridden by bluegreen:migrations\.force for release b4c5d6e of web/);
        });

        it("checks nothing without another color, for the same release, for an unchanged release, or in place (the canary checks those)", async () => {
            assert.equal(await rolloutMigrationProblem(undefined, news("b4c5d6e")), undefined);
            assert.equal(await rolloutMigrationProblem(undefined, news("b4c5d6e", against("b4c5d6e"))), undefined);
            const n = news("b4c5d6e", against("a1b2c3d"));
            assert.equal(await rolloutMigrationProblem(n, n), undefined);
            assert.equal(await rolloutMigrationProblem(undefined, { ...n, inPlace: true }), undefined);
        });

        it("fails closed when the serving release's artifact is gone, unless force", async () => {
            const gone = await rolloutMigrationProblem(undefined, news("b4c5d6e", against("0000000")));
            assert.match(gone ?? "", /^the migration guard cannot check release b4c5d6e of web: the running release 0000000 is not in the artifact store/);
            assert.match(gone ?? "", /Publish 0000000 again, or set bluegreen:migrations\.force: true to override/);
            const forced = await captureStderr(() => rolloutMigrationProblem(undefined, news("b4c5d6e", against("0000000", { force: true }))));
            assert.equal(forced.result, undefined);
        });
    });

    describe("decideMigrations (pure)", () => {
        const finding: MigrationFinding = {
            file: "migrations/0004_drop.sql",
            line: 3,
            rule: "ban-drop-column",
            what: "DROP COLUMN users.email",
            statement: "ALTER TABLE users DROP COLUMN email",
            reason: MIGRATION_RULES["ban-drop-column"],
        };
        const base = { component: "backend", release: "b4c5d6e", checked: ["migrations/0004_drop.sql"], changed: [] };

        it("refuses without force, with the refusal's parts", () => {
            const d = decideMigrations({ ...base, force: false, findings: [finding] });
            assert.equal(d.ok, false);
            assert.deepEqual(d.overridden, []);
            assert.deepEqual(d.refusal, migrationRefusal("backend", "b4c5d6e", [finding]));
            assert.deepEqual(d.refusal, {
                what: "release b4c5d6e of backend carries a backward-incompatible migration: migrations/0004_drop.sql:3: DROP COLUMN users.email (ban-drop-column: old code still reads it)",
                untouched: "Nothing was touched",
                next: [
                    "Split it into an expand/contract pair of releases (see the README's Migration guard)",
                    "set bluegreen:migrations.force: true to override (the override is logged)",
                ],
            });
        });

        it("with force: ok, every finding overridden and named in the log", () => {
            const d = decideMigrations({ ...base, force: true, findings: [finding] });
            assert.deepEqual([d.ok, d.overridden, d.refusal], [true, [finding], undefined]);
            assert.deepEqual(d.log, [
                "migration guard overridden by bluegreen:migrations.force for release b4c5d6e of backend: " +
                    "migrations/0004_drop.sql:3: DROP COLUMN users.email (ban-drop-column: old code still reads it)",
            ]);
        });

        const warning: MigrationFinding = {
            file: "migrations/0005_index.sql",
            line: 1,
            rule: "require-concurrent-index-creation",
            what: "CREATE INDEX users_email ON users",
            statement: "CREATE INDEX users_email ON users (email)",
            reason: WARNING_RULES["require-concurrent-index-creation"],
        };

        it("a warning rule is logged and lets the rollout go; bluegreen:migrations.block makes it refuse", () => {
            const checked = { ...base, checked: ["migrations/0005_index.sql"] };
            const d = decideMigrations({ ...checked, force: false, findings: [warning] });
            assert.deepEqual([d.ok, d.warnings, d.overridden], [true, [warning], []]);
            assert.deepEqual(d.log, [
                "migration guard warning for release b4c5d6e of backend: migrations/0005_index.sql:1: CREATE INDEX users_email ON users " +
                    `(require-concurrent-index-creation: ${WARNING_RULES["require-concurrent-index-creation"]}); ` +
                    "set bluegreen:migrations.block: [require-concurrent-index-creation] to refuse such rollouts",
                "migration guard: release b4c5d6e of backend: 1 new migration checked, no blocking finding, 1 warning",
            ]);
            const blocked = decideMigrations({ ...checked, force: false, block: ["require-concurrent-index-creation"], findings: [warning, finding] });
            assert.deepEqual([blocked.ok, blocked.warnings], [false, []]);
            assert.deepEqual(blocked.refusal, migrationRefusal("backend", "b4c5d6e", [warning, finding]));
            const other = decideMigrations({ ...checked, force: false, block: ["constraint-missing-not-valid"], findings: [warning, finding] });
            assert.deepEqual(other.refusal, migrationRefusal("backend", "b4c5d6e", [finding]), "a warning block does not name stays a warning");
        });

        it("force without findings overrides nothing", () => {
            const d = decideMigrations({ ...base, force: true, findings: [] });
            assert.deepEqual([d.ok, d.overridden, d.log], [true, [], ["migration guard: release b4c5d6e of backend: 1 new migration checked, no finding"]]);
        });

        it("a changed file with findings is not logged twice; parse errors and rule findings together ask for both fixes", () => {
            const changed = { ...finding, changed: true as const };
            const parse: MigrationFinding = {
                ...finding,
                file: "migrations/0005.sql",
                rule: "parse-error",
                what: "syntax error",
                reason: MIGRATION_RULES["parse-error"],
            };
            const d = decideMigrations({ ...base, changed: ["migrations/0004_drop.sql"], force: false, findings: [changed, parse] });
            assert.deepEqual(d.log, []);
            assert.match(d.refusal!.what, /^release b4c5d6e of backend carries migrations the guard refuses: /);
            assert.deepEqual(d.refusal!.next, [
                "Fix the SQL that does not parse and publish it under a new release SHA, and split the rest into an expand/contract pair of releases (see the README's Migration guard)",
                "set bluegreen:migrations.force: true to override (the override is logged)",
            ]);
        });
    });
});
