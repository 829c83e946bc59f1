// The SQL parser the migration guard runs on: Postgres' own parser (libpg_query),
// compiled to WASM, from the npm package libpg-query (pinned exactly in package.json).
//
// Why this one: the rules are ours and exact (e.g. NOT NULL with a DEFAULT is fine),
// there is no in-file bypass comment, and it is plain JS + WASM with no install script
// and no platform binary, so it installs offline like any package. squawk-cli was
// considered: it is a richer linter, but it honours `-- squawk-ignore` comments (an author
// could switch the guard off from inside a migration), reports 0-based lines, warns on
// rules we do not gate on, and ships a per-platform binary through optional dependencies.
//
// Loading reads the .wasm file from node_modules, so the parser lives here in io/;
// the rules in model/stateful/migrations.ts work on the parse tree it returns.

import type * as LibPgQuery from "libpg-query";
import type { ParseOutcome, SqlParser } from "../model/stateful/migrations";

interface SqlErrorLike {
    readonly message: string;
    /** 0-based code-point position of the error (libpg-query subtracts 1 from Postgres' cursorpos). */
    readonly sqlDetails?: { readonly cursorPosition?: number };
}

/** Loads the WASM parser once (later calls reuse it) and returns a synchronous, pure parse. */
export async function loadSqlParser(): Promise<SqlParser> {
    // Required here, not at the top: every provider that can reach the guard would
    // otherwise load the parser's JS each time the provider host starts.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { loadModule, parseSync } = require("libpg-query") as typeof LibPgQuery;
    await loadModule();
    return (sql: string): ParseOutcome => {
        try {
            return { ok: true, stmts: parseSync(sql).stmts ?? [] };
        } catch (e) {
            const err = e as SqlErrorLike;
            return { ok: false, message: err.message, position: err.sqlDetails?.cursorPosition };
        }
    };
}
