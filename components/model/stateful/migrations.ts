// The migration guard's rules: which SQL migrations old code cannot survive. Pure.
//
// A release may carry SQL migrations under `migrations/` (applied in lexical order).
// During a canary or a blue/green switch the running release keeps serving against
// the migrated schema, so a migration must be backward compatible: additive only.
// The rules run on Postgres' own parse tree (libpg-query, parsed in io/sqlParser.ts),
// so comments, string literals, case and line breaks cannot hide a statement or fake one.
// Not seen: SQL built at run time (DO blocks, function bodies, EXECUTE strings).

// Types only: the parser itself loads WASM from disk, so it lives in components/io.
import type { ColumnDef, Constraint, Node, RangeVar, RawStmt } from "libpg-query";
import type { TarEntry } from "./tar";

/** Every rule here blocks a rollout; the reason is what breaks for the release still serving. */
export const MIGRATION_RULES = {
    "ban-drop-column": "old code still reads it",
    "ban-alter-column-type": "old code still reads and writes the old type",
    "ban-add-column-not-null-without-default": "old code inserts rows without it, and those inserts fail",
    "ban-set-not-null": "old code may still write NULL or leave the column out",
    "ban-rename-column": "old code still uses the old name",
    "ban-rename-table": "old code still uses the old name",
    "ban-drop-table": "old code still reads it",
    "ban-drop-schema": "it drops every table in it, which old code still reads",
    "ban-truncate": "it deletes rows the running release still serves, and a rollback cannot bring them back",
    "ban-drop-database": "it drops every table, which old code still reads",
    "parse-error": "the guard cannot check SQL that does not parse",
} as const;

/**
 * Old code survives these, but they lock a busy table (squawk's rules of the same names).
 * Warnings, logged; each blocks like the rules above when bluegreen:migrations.block names it.
 * A table created earlier in the same file is exempt: nobody else uses it yet.
 */
export const WARNING_RULES = {
    "require-concurrent-index-creation": "it blocks writes to the table until the index is built; use CREATE INDEX CONCURRENTLY",
    "require-concurrent-index-deletion": "it blocks reads and writes of the table while it runs; use DROP INDEX CONCURRENTLY",
    "constraint-missing-not-valid": "it checks every row under a lock that blocks writes; add it NOT VALID, then VALIDATE CONSTRAINT in a later migration",
    "adding-foreign-key-constraint": "it checks every row under a lock on both tables; add the column, then the constraint NOT VALID",
    "disallowed-unique-constraint":
        "it builds a unique index under a lock that blocks reads and writes; CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … USING INDEX",
} as const;

export type BlockingRule = keyof typeof MIGRATION_RULES;
export type WarningRule = keyof typeof WARNING_RULES;
export type MigrationRule = BlockingRule | WarningRule;

/** Pure: whether a finding of `rule` refuses the rollout, given bluegreen:migrations.block. */
export function blocks(rule: MigrationRule, block: readonly string[] = []): boolean {
    return rule in MIGRATION_RULES || block.includes(rule);
}

function reasonOf(rule: MigrationRule): string {
    return rule in MIGRATION_RULES ? MIGRATION_RULES[rule as BlockingRule] : WARNING_RULES[rule as WarningRule];
}

export interface MigrationFinding {
    /** Path inside the release, e.g. `migrations/0004_drop.sql`. */
    readonly file: string;
    /** 1-based line of the statement's first token (of the error, for parse-error). */
    readonly line: number;
    readonly rule: MigrationRule;
    /** What the statement does, e.g. `DROP COLUMN users.email`. */
    readonly what: string;
    /** The statement, whitespace collapsed, cut at 120 characters. */
    readonly statement: string;
    readonly reason: string;
    /** The running release has this file with other content: a released migration was edited. */
    readonly changed?: true;
}

/** What the parser answers: the raw statements, or its error at a 0-based code-point position. */
export type ParseOutcome =
    { readonly ok: true; readonly stmts: readonly RawStmt[] } | { readonly ok: false; readonly message: string; readonly position?: number };

export type SqlParser = (sql: string) => ParseOutcome;

/** Migration files of one release, path -> SQL text. */
export type Migrations = Readonly<Record<string, string>>;

const EXCERPT = 120;
/** A decoder per call: Pulumi's closure serializer cannot carry a captured TextDecoder into a provider. */
const utf8 = (bytes: Uint8Array): string => new TextDecoder("utf-8").decode(bytes);

/** 1-based line of a UTF-8 byte offset (Postgres' locations count bytes, not JS string indices). */
export function lineAtByte(bytes: Uint8Array, offset: number): number {
    let line = 1;
    for (let i = 0; i < offset && i < bytes.length; i++) if (bytes[i] === 0x0a) line++;
    return line;
}

/** 1-based line of a 0-based code-point position (where Postgres puts a syntax error's cursor). */
export function lineAtCodePoint(sql: string, position: number): number {
    let line = 1;
    let i = 0;
    for (const ch of sql) {
        if (i++ >= position) break;
        if (ch === "\n") line++;
    }
    return line;
}

function excerpt(text: string): string {
    const flat = text.replace(/\s+/g, " ").trim();
    return flat.length > EXCERPT ? `${flat.slice(0, EXCERPT - 1)}…` : flat;
}

function relName(r: RangeVar | undefined): string {
    if (!r) return "?";
    return [r.catalogname, r.schemaname, r.relname].filter((p) => !!p).join(".");
}

/** A qualified name from a DropStmt object: a List of Strings, or a bare String (schemas). */
function objectName(n: Node): string {
    if ("String" in n) return n.String.sval ?? "?";
    if ("List" in n) return (n.List.items ?? []).map(objectName).join(".");
    return "?";
}

const TABLES = ["OBJECT_TABLE", "OBJECT_FOREIGN_TABLE"];
const RELATIONS = { OBJECT_TABLE: "TABLE", OBJECT_FOREIGN_TABLE: "FOREIGN TABLE", OBJECT_VIEW: "VIEW", OBJECT_MATVIEW: "MATERIALIZED VIEW" } as const;
const relationKind = (t: string | undefined): string | undefined => (t && t in RELATIONS ? RELATIONS[t as keyof typeof RELATIONS] : undefined);
/** serial types carry their own DEFAULT nextval(...), which the parse tree does not show. */
const SERIAL = ["serial", "serial2", "serial4", "serial8", "smallserial", "bigserial"];

function isNullConstant(n: Node | undefined): boolean {
    return !!n && "A_Const" in n && n.A_Const.isnull === true;
}

/** NOT NULL (or PRIMARY KEY, which implies it) with nothing that fills existing and old-code rows. */
function notNullWithoutDefault(def: ColumnDef): boolean {
    const cons = constraintsOf(def);
    const notNull = def.is_not_null === true || cons.some((c) => c.contype === "CONSTR_NOTNULL" || c.contype === "CONSTR_PRIMARY");
    if (!notNull) return false;
    const filled = cons.some(
        (c) => (c.contype === "CONSTR_DEFAULT" && !isNullConstant(c.raw_expr)) || c.contype === "CONSTR_IDENTITY" || c.contype === "CONSTR_GENERATED",
    );
    const typeName = (def.typeName?.names ?? []).map(objectName).pop()?.toLowerCase();
    return !filled && !(def.typeName?.names?.length === 1 && SERIAL.includes(typeName ?? ""));
}

function constraintsOf(def: ColumnDef): Constraint[] {
    return (def.constraints ?? []).flatMap((c) => ("Constraint" in c ? [c.Constraint] : []));
}

/**
 * Pure: what one statement does that old code cannot survive, or that locks a busy table,
 * as [rule, what] pairs. `created`: tables created earlier in the same file (no warnings on them).
 */
export function statementFindings(stmt: Node, created: ReadonlySet<string> = new Set()): [MigrationRule, string][] {
    const out: [MigrationRule, string][] = [];
    if ("IndexStmt" in stmt) {
        const s = stmt.IndexStmt;
        const table = relName(s.relation);
        if (s.concurrent !== true && !created.has(table)) {
            out.push(["require-concurrent-index-creation", `CREATE ${s.unique ? "UNIQUE " : ""}INDEX ${s.idxname ? `${s.idxname} ` : ""}ON ${table}`]);
        }
    } else if ("DropdbStmt" in stmt) {
        out.push(["ban-drop-database", `DROP DATABASE ${stmt.DropdbStmt.dbname ?? "?"}`]);
    } else if ("AlterTableStmt" in stmt) {
        const s = stmt.AlterTableStmt;
        if (!TABLES.includes(s.objtype ?? "")) return out;
        const table = relName(s.relation);
        const fresh = created.has(table);
        for (const c of s.cmds ?? []) {
            if (!("AlterTableCmd" in c)) continue;
            const cmd = c.AlterTableCmd;
            const col = `${table}.${cmd.name ?? "?"}`;
            if (cmd.subtype === "AT_DropColumn") out.push(["ban-drop-column", `DROP COLUMN ${col}`]);
            else if (cmd.subtype === "AT_AlterColumnType") out.push(["ban-alter-column-type", `ALTER COLUMN ${col} TYPE`]);
            else if (cmd.subtype === "AT_SetNotNull") out.push(["ban-set-not-null", `ALTER COLUMN ${col} SET NOT NULL`]);
            else if (cmd.subtype === "AT_AddColumn" && cmd.def && "ColumnDef" in cmd.def && notNullWithoutDefault(cmd.def.ColumnDef)) {
                out.push(["ban-add-column-not-null-without-default", `ADD COLUMN ${table}.${cmd.def.ColumnDef.colname ?? "?"} NOT NULL without DEFAULT`]);
            } else if (cmd.subtype === "AT_AddConstraint" && cmd.def && "Constraint" in cmd.def && cmd.def.Constraint.contype === "CONSTR_NOTNULL") {
                // Postgres 18's `ADD CONSTRAINT name NOT NULL col` is SET NOT NULL under another name.
                const con = cmd.def.Constraint;
                const cols = (con.keys ?? []).map((k) => `${table}.${objectName(k)}`).join(", ");
                out.push(["ban-set-not-null", `ADD CONSTRAINT ${con.conname ? `${con.conname} ` : ""}NOT NULL ${cols}`]);
            } else if (cmd.subtype === "AT_AddConstraint" && cmd.def && "Constraint" in cmd.def && !fresh) {
                const con = cmd.def.Constraint;
                const named = `ADD CONSTRAINT ${con.conname ? `${con.conname} ` : ""}`;
                if ((con.contype === "CONSTR_FOREIGN" || con.contype === "CONSTR_CHECK") && con.skip_validation !== true) {
                    out.push([
                        "constraint-missing-not-valid",
                        `${named}${con.contype === "CONSTR_FOREIGN" ? "FOREIGN KEY" : "CHECK"} on ${table} without NOT VALID`,
                    ]);
                } else if ((con.contype === "CONSTR_UNIQUE" || con.contype === "CONSTR_PRIMARY") && !con.indexname) {
                    out.push([
                        "disallowed-unique-constraint",
                        `${named}${con.contype === "CONSTR_UNIQUE" ? "UNIQUE" : "PRIMARY KEY"} on ${table} without USING INDEX`,
                    ]);
                }
            }
            if (
                cmd.subtype === "AT_AddColumn" &&
                cmd.def &&
                "ColumnDef" in cmd.def &&
                !fresh &&
                constraintsOf(cmd.def.ColumnDef).some((k) => k.contype === "CONSTR_FOREIGN")
            ) {
                out.push(["adding-foreign-key-constraint", `ADD COLUMN ${table}.${cmd.def.ColumnDef.colname ?? "?"} REFERENCES`]);
            }
        }
    } else if ("RenameStmt" in stmt) {
        const s = stmt.RenameStmt;
        const kind = relationKind(s.renameType);
        if (s.renameType === "OBJECT_COLUMN")
            out.push(["ban-rename-column", `RENAME COLUMN ${relName(s.relation)}.${s.subname ?? "?"} TO ${s.newname ?? "?"}`]);
        else if (kind) out.push(["ban-rename-table", `RENAME ${kind} ${relName(s.relation)} TO ${s.newname ?? "?"}`]);
    } else if ("AlterObjectSchemaStmt" in stmt) {
        // Moving a table to another schema renames it for every query that names it.
        const s = stmt.AlterObjectSchemaStmt;
        const kind = relationKind(s.objectType);
        if (kind) out.push(["ban-rename-table", `ALTER ${kind} ${relName(s.relation)} SET SCHEMA ${s.newschema ?? "?"}`]);
    } else if ("DropStmt" in stmt) {
        const s = stmt.DropStmt;
        const names = (s.objects ?? []).map(objectName).join(", ");
        // Views are left out on purpose: DROP VIEW + CREATE VIEW is how a view's columns change.
        if (TABLES.includes(s.removeType ?? "")) out.push(["ban-drop-table", `DROP ${relationKind(s.removeType)} ${names}`]);
        else if (s.removeType === "OBJECT_SCHEMA") out.push(["ban-drop-schema", `DROP SCHEMA ${names}`]);
        else if (s.removeType === "OBJECT_INDEX" && s.concurrent !== true) out.push(["require-concurrent-index-deletion", `DROP INDEX ${names}`]);
    } else if ("TruncateStmt" in stmt) {
        const names = (stmt.TruncateStmt.relations ?? []).map((r) => ("RangeVar" in r ? relName(r.RangeVar) : "?")).join(", ");
        out.push(["ban-truncate", `TRUNCATE ${names}`]);
    }
    return out;
}

/**
 * Pure, given a pure parser: every finding in one migration file. A file that does not
 * parse is one `parse-error` finding at the parser's line: the guard fails closed.
 */
export function lintMigration(file: string, sql: string, parse: SqlParser): MigrationFinding[] {
    // An empty file is no statement; the parser refuses empty input.
    const parsed: ParseOutcome = sql.trim() === "" ? { ok: true, stmts: [] } : parse(sql);
    if (!parsed.ok) {
        const line = lineAtCodePoint(sql, parsed.position ?? 0);
        const text = sql.split("\n")[line - 1] ?? "";
        return [{ file, line, rule: "parse-error", what: parsed.message, statement: excerpt(text), reason: MIGRATION_RULES["parse-error"] }];
    }
    const bytes = new TextEncoder().encode(sql);
    const findings: MigrationFinding[] = [];
    const created = new Set<string>();
    for (const raw of parsed.stmts) {
        if (!raw.stmt) continue;
        if ("CreateStmt" in raw.stmt) created.add(relName(raw.stmt.CreateStmt.relation));
        // Absent fields are zero in the parser's JSON; a zero length means "to the end of the input".
        const start = raw.stmt_location ?? 0;
        const end = raw.stmt_len ? start + raw.stmt_len : bytes.length;
        for (const [rule, what] of statementFindings(raw.stmt, created)) {
            findings.push({
                file,
                line: lineAtByte(bytes, start),
                rule,
                what,
                statement: excerpt(utf8(bytes.subarray(start, end))),
                reason: reasonOf(rule),
            });
        }
    }
    return findings;
}

/**
 * Pure: the migrations of `next` that the running release does not have, in lexical
 * (application) order, each marked `changed` when the running release has the same
 * name with other content. No running release (a first deploy): every migration is new.
 */
export function newMigrations(running: Migrations | undefined, next: Migrations): { file: string; sql: string; changed: boolean }[] {
    return Object.keys(next)
        .sort()
        .filter((file) => running?.[file] !== next[file])
        .map((file) => ({ file, sql: next[file], changed: running !== undefined && file in running }));
}

/**
 * `./migrations/x.sql`, `migrations//./x.sql` and `/migrations/x.sql` are the same file, as
 * tar extracts them. A `..` segment is refused: tar strips it, so the path would lie.
 */
function normalPath(name: string): string {
    const segments = name.split("/").filter((s) => s !== "" && s !== ".");
    if (segments.includes(".."))
        throw new Error(`${name.replace(/^(\.?\/)+/, "")}: a member path with ".." (tar extracts it elsewhere than it says); publish the release without it`);
    return segments.join("/");
}

export const MIGRATIONS_DIR = "migrations/";
const isMigration = (path: string) => path.startsWith(MIGRATIONS_DIR) && /\.sql$/i.test(path);
/** The root, migrations/ and everything under it: a link there could hide migrations from the guard. */
const holdsMigrations = (path: string) => path === "" || path === "migrations" || path.startsWith(MIGRATIONS_DIR);

/**
 * Pure: the migration files among a release tarball's entries, path -> SQL text (a
 * later entry of the same path wins, as when tar extracts). Throws, naming the entry,
 * on what the guard cannot read: a member path with `..`, a link or special file at or
 * under migrations/ (a symlinked migrations/ would hide every migration), or a file
 * that is not UTF-8 text.
 */
export function migrationsOf(entries: readonly TarEntry[]): Record<string, string> {
    const out: Record<string, string> = {};
    const strict = new TextDecoder("utf-8", { fatal: true });
    for (const e of entries) {
        const path = normalPath(e.name);
        if (e.type !== "file" && e.type !== "directory" && holdsMigrations(path) && !isMigration(path)) {
            const kind = e.type === "link" ? "link" : "special file";
            throw new Error(
                `${path || "."} is a ${kind}; migrations/ and everything in it must be regular files and directories, so the guard sees what tar extracts`,
            );
        }
        if (!isMigration(path) || e.type === "directory") continue;
        if (e.type !== "file") throw new Error(`${path} is a ${e.type === "link" ? "link" : "special file"}; a migration must be a regular file`);
        try {
            out[path] = strict.decode(e.data);
        } catch {
            throw new Error(`${path} is not UTF-8 text`);
        }
    }
    return out;
}

/** One finding as the refusal and the override log name it: `file:line: what (rule: reason)`. */
export function describeFinding(f: MigrationFinding): string {
    const changed = f.changed ? "; this file differs from the running release's: a released migration must never change" : "";
    return `${f.file}:${f.line}: ${f.what} (${f.rule}: ${f.reason}${changed})`;
}
