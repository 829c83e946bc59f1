// The migration guard (seed: the canary runbook's pre-flight "migration backward-compat"
// check, scripts/check-migration-backward-compat.sh and its FORCE_MIGRATE=1). Before any
// rollout, the SQL migrations the new release adds to the running one are checked
// against model/stateful/migrations.ts's rules; one finding refuses the rollout before anything
// is touched, unless bluegreen:migrations.force overrides it, which is logged.

import { releaseMigrations } from "../../io/artifacts";
import { ColorContainerInputs, fetchArtifact } from "../deploy";
import { progress } from "../../io/progress";
import { loadSqlParser } from "../../io/sqlParser";
import { Refusal, refusal } from "../../model/errors";
import { MigrationFinding, Migrations, SqlParser, blocks, describeFinding, lintMigration, newMigrations } from "../../model/stateful/migrations";

export interface MigrationCheck {
    readonly component: string;
    /** The release about to roll out. */
    readonly release: string;
    /** Its tarball (gzip + tar), as the artifact store returns it. */
    readonly next: Buffer;
    /** The running release's tarball; absent on a first deploy, when every migration is new. */
    readonly running?: Buffer;
    /** The running release's SHA, for the messages. */
    readonly runningRelease?: string;
    /** bluegreen:migrations.force: roll out despite the findings, and log each one. */
    readonly force: boolean;
    /** bluegreen:migrations.block: warning rules that refuse like the blocking ones. */
    readonly block?: readonly string[];
}

export interface MigrationVerdict {
    /** False only from decideMigrations; checkMigrations throws the refusal instead. */
    readonly ok: boolean;
    /** Every finding in the new and changed migrations, in application order. */
    readonly findings: readonly MigrationFinding[];
    /** The findings that do not block (warning rules bluegreen:migrations.block does not name); logged. */
    readonly warnings: readonly MigrationFinding[];
    /** The findings force let through (empty without force). */
    readonly overridden: readonly MigrationFinding[];
    /** The migrations that were checked: new ones, and changed ones. */
    readonly checked: readonly string[];
    /** Migrations the running release has with other content (also checked). */
    readonly changed: readonly string[];
    /** Progress lines: the override naming every finding it let through, changed files, the outcome. */
    readonly log: readonly string[];
    /** Set when `ok` is false. */
    readonly refusal?: Refusal;
}

export interface DecisionInput {
    readonly component: string;
    readonly release: string;
    readonly runningRelease?: string;
    readonly force: boolean;
    readonly block?: readonly string[];
    readonly checked: readonly string[];
    readonly changed: readonly string[];
    readonly findings: readonly MigrationFinding[];
}

const FORCE = "set bluegreen:migrations.force: true to override (the override is logged)";

function count(n: number, one: string, many: string): string {
    return n === 1 ? one : `${n} ${many}`;
}

/** Pure: the refusal for findings that force did not override. */
export function migrationRefusal(component: string, release: string, findings: readonly MigrationFinding[]): Refusal {
    const parse = findings.filter((f) => f.rule === "parse-error").length;
    const lint = findings.length - parse;
    const carries =
        parse === 0
            ? count(lint, "a backward-incompatible migration", "backward-incompatible migration statements")
            : lint === 0
              ? count(parse, "a migration that does not parse", "migrations that do not parse")
              : "migrations the guard refuses";
    const fix = [
        ...(parse > 0 ? ["fix the SQL that does not parse and publish it under a new release SHA"] : []),
        ...(lint > 0
            ? [`split ${parse > 0 ? "the rest" : lint === 1 ? "it" : "them"} into an expand/contract pair of releases (see the README's Migration guard)`]
            : []),
    ].join(", and ");
    return {
        what: `release ${release} of ${component} carries ${carries}: ${findings.map(describeFinding).join("; ")}`,
        untouched: "Nothing was touched",
        next: [fix.charAt(0).toUpperCase() + fix.slice(1), FORCE],
    };
}

/** Pure: roll out or refuse, given the findings and bluegreen:migrations.force. */
export function decideMigrations(d: DecisionInput): MigrationVerdict {
    const of = `release ${d.release} of ${d.component}`;
    const since = d.runningRelease ? `release ${d.runningRelease}` : "the running release";
    const flagged = new Set(d.findings.filter((f) => f.changed).map((f) => f.file));
    const log = d.changed
        .filter((file) => !flagged.has(file))
        .map(
            (file) =>
                `${of} changes ${file}, which ${since} already has with other content: a released migration must never change (checked as new: no finding)`,
        );
    const blocking = d.findings.filter((f) => blocks(f.rule, d.block));
    const warnings = d.findings.filter((f) => !blocks(f.rule, d.block));
    const base = { findings: d.findings, warnings, checked: d.checked, changed: d.changed };
    log.push(
        ...warnings.map((f) => `migration guard warning for ${of}: ${describeFinding(f)}; set bluegreen:migrations.block: [${f.rule}] to refuse such rollouts`),
    );
    if (blocking.length === 0) {
        const warned = warnings.length === 0 ? "no finding" : `no blocking finding, ${count(warnings.length, "1 warning", "warnings")}`;
        const summary = d.checked.length === 0 ? "no new migration" : `${count(d.checked.length, "1 new migration", "new migrations")} checked, ${warned}`;
        return { ...base, ok: true, overridden: [], log: [...log, `migration guard: ${of}: ${summary}`] };
    }
    if (d.force) {
        const line = `migration guard overridden by bluegreen:migrations.force for ${of}: ${blocking.map(describeFinding).join("; ")}`;
        return { ...base, ok: true, overridden: blocking, log: [...log, line] };
    }
    return { ...base, ok: false, overridden: [], log, refusal: migrationRefusal(d.component, d.release, blocking) };
}

/** Pure, given a pure parser: the verdict on the migrations `next` adds to `running`. */
export function judgeMigrations(
    c: Omit<MigrationCheck, "next" | "running">,
    running: Migrations | undefined,
    next: Migrations,
    parse: SqlParser,
): MigrationVerdict {
    const fresh = newMigrations(running, next);
    const findings = fresh.flatMap(({ file, sql, changed }) => lintMigration(file, sql, parse).map((f) => (changed ? { ...f, changed: true as const } : f)));
    return decideMigrations({
        ...c,
        checked: fresh.map((m) => m.file),
        changed: fresh.filter((m) => m.changed).map((m) => m.file),
        findings,
    });
}

function readMigrations(tarball: Buffer, which: string, component: string): Migrations {
    try {
        return releaseMigrations(tarball);
    } catch (e) {
        throw refusal({
            what: `cannot check the migrations of ${which} of ${component}: ${(e as Error).message}`,
            untouched: "Nothing was touched",
            next: "Republish the release under a new release SHA (published artifacts are immutable)",
        });
    }
}

/**
 * The guard before any rollout: reads both tarballs in memory, checks the new and changed
 * migrations, logs the verdict through `log` (progress lines by default) and returns it.
 * Throws a refusal (model/errors.ts) on a finding without force, or on a tarball it cannot read.
 */
export async function checkMigrations(
    c: MigrationCheck,
    opts: { parser?: SqlParser; log?: (line: string) => void } = {},
): Promise<MigrationVerdict & { ok: true }> {
    const next = readMigrations(c.next, `release ${c.release}`, c.component);
    const running = c.running
        ? readMigrations(c.running, c.runningRelease ? `the running release ${c.runningRelease}` : "the running release", c.component)
        : undefined;
    const parser = opts.parser ?? (await loadSqlParser());
    const verdict = judgeMigrations(c, running, next, parser);
    for (const line of verdict.log) (opts.log ?? progress)(line);
    if (!verdict.ok) throw refusal(verdict.refusal!);
    return verdict as MigrationVerdict & { ok: true };
}

/**
 * The guard of a blue/green rollout, before a container of a new release is created (the
 * provider's check, so a preview shows it too): the migrations it adds to the release the
 * other color runs. Returns the refusal's text, or undefined. Without the running release's
 * artifact the check cannot run: it fails closed, unless force lets it check every migration.
 */
export async function rolloutMigrationProblem(olds: Partial<ColorContainerInputs> | undefined, news: ColorContainerInputs): Promise<string | undefined> {
    const g = news.migrations;
    if (!g || news.inPlace || g.running === news.release || (olds?.release === news.release && olds.component === news.component)) return undefined;
    try {
        const next = await fetchArtifact(news);
        let running: Buffer | undefined;
        try {
            running = await fetchArtifact({ ...news, release: g.running });
        } catch (e) {
            if (!g.force) {
                return (
                    `the migration guard cannot check release ${news.release} of ${news.component}: the running release ${g.running} ` +
                    `is not in the artifact store (${(e as Error).message}). Publish ${g.running} again, or ${FORCE}. Nothing was touched.`
                );
            }
        }
        await checkMigrations({ component: news.component, release: news.release, next, running, runningRelease: g.running, force: g.force, block: g.block });
        return undefined;
    } catch (e) {
        return (e as Error).message;
    }
}
