import assert from "node:assert/strict";
import { loadSqlParser } from "../../../../components/io/sqlParser";
import {
    MIGRATION_RULES,
    WARNING_RULES,
    blocks,
    MigrationFinding,
    SqlParser,
    describeFinding,
    lineAtByte,
    lineAtCodePoint,
    lintMigration,
    migrationsOf,
    newMigrations,
} from "../../../../components/model/stateful/migrations";
import type { TarEntry } from "../../../../components/model/stateful/tar";

const FILE = "migrations/0004_x.sql";
/** The findings as `line rule what`, the shape most tests compare. */
const brief = (fs: readonly MigrationFinding[]) => fs.map((f) => `${f.line} ${f.rule} ${f.what}`);

describe("model/stateful/migrations", () => {
    let parse: SqlParser;
    before(async () => {
        parse = await loadSqlParser();
    });
    const lint = (sql: string) => lintMigration(FILE, sql, parse);

    describe("lintMigration: the blocking rules", () => {
        // Each case: SQL after a comment line, so the statement is on line 2 (or later).
        const cases: [string, string, string][] = [
            ["ALTER TABLE users DROP COLUMN email;", "ban-drop-column", "DROP COLUMN users.email"],
            ["ALTER TABLE public.users DROP email;", "ban-drop-column", "DROP COLUMN public.users.email"],
            ["ALTER TABLE users ALTER COLUMN age TYPE bigint;", "ban-alter-column-type", "ALTER COLUMN users.age TYPE"],
            ["ALTER TABLE users ALTER age SET DATA TYPE text USING age::text;", "ban-alter-column-type", "ALTER COLUMN users.age TYPE"],
            [
                "ALTER TABLE users ADD COLUMN nickname text NOT NULL;",
                "ban-add-column-not-null-without-default",
                "ADD COLUMN users.nickname NOT NULL without DEFAULT",
            ],
            [
                "ALTER TABLE users ADD nickname text NOT NULL DEFAULT NULL;",
                "ban-add-column-not-null-without-default",
                "ADD COLUMN users.nickname NOT NULL without DEFAULT",
            ],
            ["ALTER TABLE users ADD COLUMN code int PRIMARY KEY;", "ban-add-column-not-null-without-default", "ADD COLUMN users.code NOT NULL without DEFAULT"],
            ["ALTER TABLE users ALTER COLUMN email SET NOT NULL;", "ban-set-not-null", "ALTER COLUMN users.email SET NOT NULL"],
            ["ALTER TABLE users ADD CONSTRAINT email_nn NOT NULL email;", "ban-set-not-null", "ADD CONSTRAINT email_nn NOT NULL users.email"],
            ["ALTER TABLE users RENAME COLUMN name TO full_name;", "ban-rename-column", "RENAME COLUMN users.name TO full_name"],
            ["ALTER TABLE users RENAME name TO full_name;", "ban-rename-column", "RENAME COLUMN users.name TO full_name"],
            ["ALTER VIEW active_users RENAME COLUMN name TO full_name;", "ban-rename-column", "RENAME COLUMN active_users.name TO full_name"],
            ["ALTER TABLE users RENAME TO accounts;", "ban-rename-table", "RENAME TABLE users TO accounts"],
            ["ALTER VIEW active_users RENAME TO live_users;", "ban-rename-table", "RENAME VIEW active_users TO live_users"],
            ["ALTER TABLE users SET SCHEMA archive;", "ban-rename-table", "ALTER TABLE users SET SCHEMA archive"],
            ["DROP TABLE sessions;", "ban-drop-table", "DROP TABLE sessions"],
            ["DROP TABLE IF EXISTS sessions, audit.log CASCADE;", "ban-drop-table", "DROP TABLE sessions, audit.log"],
            ["DROP SCHEMA audit CASCADE;", "ban-drop-schema", "DROP SCHEMA audit"],
            ["TRUNCATE sessions, tokens;", "ban-truncate", "TRUNCATE sessions, tokens"],
            ["TRUNCATE TABLE ONLY sessions RESTART IDENTITY;", "ban-truncate", "TRUNCATE sessions"],
            ["DROP DATABASE app;", "ban-drop-database", "DROP DATABASE app"],
        ];
        for (const [sql, rule, what] of cases) {
            it(`refuses ${sql}`, () => {
                const found = lint(`-- the migration\n${sql}\n`);
                assert.deepEqual(found, [
                    { file: FILE, line: 2, rule, what, statement: sql.replace(/;$/, ""), reason: MIGRATION_RULES[rule as keyof typeof MIGRATION_RULES] },
                ]);
            });
        }

        it("every rule has a one-line reason", () => {
            for (const [rule, reason] of Object.entries(MIGRATION_RULES)) {
                assert.match(reason, /^[a-z][^\n]{10,100}$/, rule);
            }
        });

        it("names the line of each statement, and every command of a multi-command ALTER TABLE", () => {
            const sql = [
                "CREATE TABLE audit (id bigint);", // 1
                "", // 2
                "ALTER TABLE users", // 3
                "    DROP COLUMN email,", // 4
                "    ALTER COLUMN age TYPE bigint,", // 5
                "    ADD COLUMN nick text;", // 6
                "DROP TABLE sessions; TRUNCATE tokens;", // 7
            ].join("\n");
            assert.deepEqual(brief(lint(sql)), [
                "3 ban-drop-column DROP COLUMN users.email",
                "3 ban-alter-column-type ALTER COLUMN users.age TYPE",
                "7 ban-drop-table DROP TABLE sessions",
                "7 ban-truncate TRUNCATE tokens",
            ]);
        });
    });

    describe("lintMigration: what it allows", () => {
        it("ADD COLUMN … NOT NULL with a DEFAULT, an identity, a generated value or a serial type", () => {
            const sql = `
ALTER TABLE users ADD COLUMN status text NOT NULL DEFAULT 'active';
ALTER TABLE users ADD COLUMN n int DEFAULT 0 NOT NULL;
ALTER TABLE users ADD COLUMN seq bigint NOT NULL GENERATED ALWAYS AS IDENTITY;
ALTER TABLE users ADD COLUMN total int NOT NULL GENERATED ALWAYS AS (1 + 1) STORED;
ALTER TABLE users ADD COLUMN ticket bigserial NOT NULL;
ALTER TABLE users ADD COLUMN nickname text;`;
            assert.deepEqual(lint(sql), []);
        });

        it("additive statements: CREATE TABLE, CREATE INDEX, nullable columns, DROP VIEW (how a view changes), DROP INDEX", () => {
            const sql = `
CREATE TABLE tokens (id bigint PRIMARY KEY, value text NOT NULL);
CREATE INDEX CONCURRENTLY tokens_value ON tokens (value);
ALTER TABLE users ADD COLUMN email_verified boolean, ALTER COLUMN email DROP NOT NULL;
DROP VIEW active_users; CREATE VIEW active_users AS SELECT id FROM users;
DROP INDEX CONCURRENTLY users_old_idx;
INSERT INTO settings (k, v) VALUES ('a', 'b');
UPDATE users SET nickname = name WHERE nickname IS NULL;`;
            assert.deepEqual(lint(sql), []);
        });

        it("an empty file and a file of only comments", () => {
            assert.deepEqual(lint(""), []);
            assert.deepEqual(lint("  \n\n"), []);
            assert.deepEqual(lint("-- nothing yet\n/* still nothing */\n"), []);
        });
    });

    describe("lintMigration: the warning rules (locks on a busy table)", () => {
        const cases: [string, string, string][] = [
            ["CREATE INDEX users_email ON users (email);", "require-concurrent-index-creation", "CREATE INDEX users_email ON users"],
            ["CREATE UNIQUE INDEX ON users (email);", "require-concurrent-index-creation", "CREATE UNIQUE INDEX ON users"],
            ["DROP INDEX users_email;", "require-concurrent-index-deletion", "DROP INDEX users_email"],
            [
                "ALTER TABLE orders ADD CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES users (id);",
                "constraint-missing-not-valid",
                "ADD CONSTRAINT fk_user FOREIGN KEY on orders without NOT VALID",
            ],
            [
                "ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0);",
                "constraint-missing-not-valid",
                "ADD CONSTRAINT positive CHECK on orders without NOT VALID",
            ],
            [
                "ALTER TABLE users ADD CONSTRAINT email_uq UNIQUE (email);",
                "disallowed-unique-constraint",
                "ADD CONSTRAINT email_uq UNIQUE on users without USING INDEX",
            ],
            ["ALTER TABLE users ADD PRIMARY KEY (id);", "disallowed-unique-constraint", "ADD CONSTRAINT PRIMARY KEY on users without USING INDEX"],
            ["ALTER TABLE orders ADD COLUMN user_id bigint REFERENCES users (id);", "adding-foreign-key-constraint", "ADD COLUMN orders.user_id REFERENCES"],
        ];
        for (const [sql, rule, what] of cases) {
            it(`warns on ${sql}`, () => {
                assert.deepEqual(lint(`-- the migration\n${sql}\n`), [
                    { file: FILE, line: 2, rule, what, statement: sql.replace(/;$/, ""), reason: WARNING_RULES[rule as keyof typeof WARNING_RULES] },
                ]);
                assert.equal(blocks(rule as keyof typeof WARNING_RULES), false);
                assert.equal(blocks(rule as keyof typeof WARNING_RULES, [rule]), true);
            });
        }

        it("the safe forms are quiet: CONCURRENTLY, NOT VALID, USING INDEX, and anything on a table the same file creates", () => {
            const sql = `
CREATE INDEX CONCURRENTLY users_email ON users (email);
DROP INDEX CONCURRENTLY users_old;
ALTER TABLE orders ADD CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT fk_user;
ALTER TABLE users ADD CONSTRAINT email_uq UNIQUE USING INDEX users_email;
CREATE TABLE tokens (id bigint, user_id bigint);
CREATE INDEX tokens_user ON tokens (user_id);
ALTER TABLE tokens ADD CONSTRAINT tokens_pk PRIMARY KEY (id), ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE tokens ADD COLUMN owner bigint REFERENCES users (id);`;
            assert.deepEqual(lint(sql), []);
        });

        it("a table created in another file is not exempt", () => {
            assert.deepEqual(brief(lintMigration("migrations/0002.sql", "CREATE INDEX t_a ON t (a);", parse)), [
                "1 require-concurrent-index-creation CREATE INDEX t_a ON t",
            ]);
        });

        it("every warning rule has a one-line reason, and no name is both a warning and a blocking rule", () => {
            for (const [rule, reason] of Object.entries(WARNING_RULES)) {
                assert.match(reason, /^[a-z][^\n]{10,140}$/, rule);
                assert.equal(rule in MIGRATION_RULES, false, rule);
            }
        });
    });

    describe("lintMigration: what cannot fool it", () => {
        it("a DROP COLUMN commented out with -- or /* */ (also nested, as Postgres allows) is not refused", () => {
            const sql = `
-- ALTER TABLE users DROP COLUMN email;
/* ALTER TABLE users DROP COLUMN email; */
/*
ALTER TABLE users DROP COLUMN email;
*/
/* outer /* inner */ ALTER TABLE users DROP COLUMN email; still the outer comment */
ALTER TABLE users ADD COLUMN nickname text; -- DROP COLUMN email
SELECT 1 /* , DROP TABLE users */;`;
            assert.deepEqual(lint(sql), []);
        });

        it("DROP COLUMN inside a string literal, an escape string, a dollar-quoted string or a comment on an object is not refused", () => {
            const sql = `
INSERT INTO notes (body) VALUES ('ALTER TABLE users DROP COLUMN email;');
INSERT INTO notes (body) VALUES (E'it''s\\n ALTER TABLE users DROP COLUMN email');
INSERT INTO notes (body) VALUES ($q$ DROP TABLE users; $q$);
COMMENT ON TABLE users IS 'do not DROP TABLE users or TRUNCATE it';
SELECT 'RENAME COLUMN a TO b' AS "DROP COLUMN";`;
            assert.deepEqual(lint(sql), []);
        });

        it("mixed case, line breaks, extra spaces and quoted identifiers are still caught, at the statement's first line", () => {
            const sql = [
                "select 1;", // 1
                "alTer", // 2
                "  TABLE", // 3
                "     users", // 4
                "  Drop", // 5
                "\tColumn", // 6
                '  "Email"  ;', // 7
                "ALTER TABLE users ALTER COLUMN age SET DATA TYPE numeric(10,2);  aLtEr TaBlE users RENAME", // 8
                "TO accounts;", // 9
                "drop /* hidden? */ table -- no", // 10
                "  sessions;", // 11
            ].join("\n");
            assert.deepEqual(brief(lint(sql)), [
                "2 ban-drop-column DROP COLUMN users.Email",
                "8 ban-alter-column-type ALTER COLUMN users.age TYPE",
                "8 ban-rename-table RENAME TABLE users TO accounts",
                "10 ban-drop-table DROP TABLE sessions",
            ]);
            assert.equal(lint(sql)[0].statement, 'alTer TABLE users Drop Column "Email"');
        });

        it("there is no bypass comment: squawk's ignore comments change nothing", () => {
            const sql = "-- squawk-ignore-file\n-- squawk-ignore ban-drop-column\nALTER TABLE users DROP COLUMN email;";
            assert.deepEqual(brief(lint(sql)), ["3 ban-drop-column DROP COLUMN users.email"]);
        });
    });

    describe("lintMigration: lines with non-ASCII text", () => {
        it("counts UTF-8 bytes from the parser's statement offsets, not JS string indices", () => {
            // 40 extra bytes before line 3: read as a string index, offset 3's statement would land on line 4.
            const sql = ["-- café crème brûlée, naïve façade: ".padEnd(40, "é") + " 😀😀", "SELECT 'ééééé';", "DROP TABLE t;", "SELECT 1;", "SELECT 2;"].join(
                "\n",
            );
            assert.deepEqual(brief(lint(sql)), ["3 ban-drop-table DROP TABLE t"]);
            assert.equal(lint(sql)[0].statement, "DROP TABLE t");
        });

        it("keeps the statement excerpt whole when it holds non-ASCII text", () => {
            const found = lint("-- ü\nALTER TABLE gäste DROP COLUMN straße;");
            assert.deepEqual(brief(found), ["2 ban-drop-column DROP COLUMN gäste.straße"]);
            assert.equal(found[0].statement, "ALTER TABLE gäste DROP COLUMN straße");
        });

        it("places a syntax error after emoji on its own line (the parser counts code points there)", () => {
            // Three emoji are six UTF-16 units: read as a string index, the error would land on line 2.
            const found = lint("-- 😀😀😀\nSELECT 'ééé';\nDROPP TABLE x;\n");
            assert.deepEqual(brief(found), ['3 parse-error syntax error at or near "DROPP"']);
        });

        it("lineAtByte and lineAtCodePoint", () => {
            const bytes = new TextEncoder().encode("é\n😀\nx");
            assert.equal(lineAtByte(bytes, 0), 1);
            assert.equal(lineAtByte(bytes, 2), 1); // the newline itself
            assert.equal(lineAtByte(bytes, 3), 2);
            assert.equal(lineAtByte(bytes, 8), 3);
            assert.equal(lineAtCodePoint("é\n😀\nx", 2), 2);
            assert.equal(lineAtCodePoint("é\n😀\nx", 4), 3);
            assert.equal(lineAtCodePoint("é\n😀\nx", 99), 3);
        });
    });

    describe("lintMigration: a file that does not parse is refused (fail closed)", () => {
        it("names the file, the parser's line and its message", () => {
            const found = lint("CREATE TABLE t (id int);\n\nALTER TABLE users DROPP COLUMN x;\nALTER TABLE users DROP COLUMN email;\n");
            assert.deepEqual(found, [
                {
                    file: FILE,
                    line: 3,
                    rule: "parse-error",
                    what: 'syntax error at or near "DROPP"',
                    statement: "ALTER TABLE users DROPP COLUMN x;",
                    reason: MIGRATION_RULES["parse-error"],
                },
            ]);
        });

        it("an unterminated string or comment, and a truncated statement", () => {
            assert.deepEqual(brief(lint("SELECT 1;\nSELECT 'oops;\n")), ['2 parse-error unterminated quoted string at or near "\'oops;\n"']);
            assert.deepEqual(brief(lint("SELECT 1;\n/* never closed\nDROP TABLE t;")), [
                '2 parse-error unterminated /* comment at or near "/* never closed\nDROP TABLE t;"',
            ]);
            assert.deepEqual(brief(lint("ALTER TABLE users\nDROP COLUMN")), ["2 parse-error syntax error at end of input"]);
        });

        it("takes the parser's answer as given: a fake parser's error position maps to a line", () => {
            const fake: SqlParser = () => ({ ok: false, message: "boom", position: 6 });
            assert.deepEqual(brief(lintMigration(FILE, "one\ntwo\nthree", fake)), ["2 parse-error boom"]);
            const noPosition: SqlParser = () => ({ ok: false, message: "no position" });
            assert.deepEqual(brief(lintMigration(FILE, "one\ntwo", noPosition)), ["1 parse-error no position"]);
        });
    });

    it("cuts a long statement to 120 characters with its whitespace collapsed", () => {
        const cols = Array.from({ length: 30 }, (_, i) => `DROP COLUMN column_${i}`).join(",\n    ");
        const found = lint(`ALTER TABLE users\n    ${cols};`);
        assert.equal(found.length, 30);
        assert.equal(found[0].statement.length, 120);
        assert.ok(found[0].statement.startsWith("ALTER TABLE users DROP COLUMN column_0, DROP COLUMN column_1,"), found[0].statement);
        assert.ok(found[0].statement.endsWith("…"));
    });

    describe("newMigrations", () => {
        const running = { "migrations/0001_init.sql": "CREATE TABLE users (id int);", "migrations/0002_email.sql": "ALTER TABLE users ADD email text;" };

        it("only files the running release does not have, in lexical order; the running ones are not checked again", () => {
            const next = { ...running, "migrations/0010_b.sql": "B", "migrations/0003_a.sql": "A" };
            assert.deepEqual(newMigrations(running, next), [
                { file: "migrations/0003_a.sql", sql: "A", changed: false },
                { file: "migrations/0010_b.sql", sql: "B", changed: false },
            ]);
        });

        it("a file of the running release with other content counts as new, marked changed", () => {
            const next = { ...running, "migrations/0002_email.sql": "ALTER TABLE users DROP COLUMN email;" };
            assert.deepEqual(newMigrations(running, next), [{ file: "migrations/0002_email.sql", sql: "ALTER TABLE users DROP COLUMN email;", changed: true }]);
        });

        it("with no running release (a first deploy) every migration is new; a removed migration is not checked", () => {
            assert.deepEqual(
                newMigrations(undefined, running).map((m) => [m.file, m.changed]),
                [
                    ["migrations/0001_init.sql", false],
                    ["migrations/0002_email.sql", false],
                ],
            );
            assert.deepEqual(newMigrations(running, { "migrations/0001_init.sql": running["migrations/0001_init.sql"] }), []);
        });
    });

    describe("migrationsOf (a release tarball's entries)", () => {
        const file = (name: string, text: string | Uint8Array): TarEntry => ({
            name,
            type: "file",
            data: typeof text === "string" ? new TextEncoder().encode(text) : text,
        });
        const entry = (name: string, type: TarEntry["type"]): TarEntry => ({ name, type, data: new Uint8Array(0) });

        it("takes the .sql files under migrations/, with or without ./, and nothing else", () => {
            const entries = [
                entry("./", "directory"),
                file("./start", "#!/bin/sh"),
                entry("./migrations/", "directory"),
                file("./migrations/0001_init.sql", "CREATE TABLE t (id int);"),
                file("migrations/0002_UPPER.SQL", "SELECT 2;"),
                file("./migrations/README.md", "not sql"),
                file("./migrations/nested/0003_n.sql", "SELECT 3;"),
                file("./other/migrations/0009.sql", "not a release migration"),
                file("./migrations.sql", "not in the directory"),
            ];
            assert.deepEqual(migrationsOf(entries), {
                "migrations/0001_init.sql": "CREATE TABLE t (id int);",
                "migrations/0002_UPPER.SQL": "SELECT 2;",
                "migrations/nested/0003_n.sql": "SELECT 3;",
            });
        });

        it("a later entry of the same path wins, as when tar extracts; a UTF-8 byte order mark is dropped", () => {
            const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode("SELECT 1;")]);
            assert.deepEqual(migrationsOf([file("./migrations/a.sql", "old"), file("migrations/a.sql", "new"), file("migrations/b.sql", bom)]), {
                "migrations/a.sql": "new",
                "migrations/b.sql": "SELECT 1;",
            });
        });

        it("refuses, naming the file, a migration that is a link or is not UTF-8 text", () => {
            assert.throws(
                () => migrationsOf([entry("./migrations/0004.sql", "link")]),
                /^Error: migrations\/0004\.sql is a link; a migration must be a regular file$/,
            );
            assert.throws(() => migrationsOf([entry("./migrations/0004.sql", "other")]), /migrations\/0004\.sql is a special file/);
            assert.throws(
                () => migrationsOf([file("./migrations/0005.sql", new Uint8Array([0x41, 0xff, 0x42]))]),
                /^Error: migrations\/0005\.sql is not UTF-8 text$/,
            );
        });

        it("refuses a link or special entry at or under migrations/ (or at the root), whatever its name", () => {
            for (const [name, type, shown] of [
                ["./migrations", "link", "migrations is a link"],
                ["migrations/", "link", "migrations is a link"],
                ["./migrations/more", "link", "migrations/more is a link"],
                ["./migrations/sub/notes.txt", "other", "migrations/sub/notes.txt is a special file"],
                ["./", "link", ". is a link"],
            ] as const) {
                assert.throws(() => migrationsOf([entry(name, type)]), new RegExp(`^Error: ${shown.replace(/\./g, "\\.")}; `), name);
            }
            // Outside migrations/, links are the release's own business.
            assert.deepEqual(migrationsOf([entry("./bin/node", "link"), entry("./dev/fifo", "other")]), {});
        });

        it("refuses a member path with .. anywhere, and reads ./ and // as tar extracts them", () => {
            for (const name of ["./x/../migrations/0003.sql", "../migrations/0003.sql", "./app/../../etc/passwd", "migrations/.."]) {
                assert.throws(() => migrationsOf([file(name, "SELECT 1;")]), /: a member path with "\.\." /, name);
            }
            assert.deepEqual(migrationsOf([file(".//migrations/./0001.sql", "SELECT 1;"), file("/migrations/0002.sql", "SELECT 2;")]), {
                "migrations/0001.sql": "SELECT 1;",
                "migrations/0002.sql": "SELECT 2;",
            });
            assert.deepEqual(migrationsOf([file("./a..b/x..sql", "ok")]), {});
        });
    });

    it("describeFinding: file:line: what (rule: reason), and says when a released migration changed", () => {
        const f: MigrationFinding = {
            file: FILE,
            line: 3,
            rule: "ban-drop-column",
            what: "DROP COLUMN users.email",
            statement: "",
            reason: "old code still reads it",
        };
        assert.equal(describeFinding(f), "migrations/0004_x.sql:3: DROP COLUMN users.email (ban-drop-column: old code still reads it)");
        assert.equal(
            describeFinding({ ...f, changed: true }),
            "migrations/0004_x.sql:3: DROP COLUMN users.email (ban-drop-column: old code still reads it; " +
                "this file differs from the running release's: a released migration must never change)",
        );
    });
});
