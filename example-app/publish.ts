// `npm run publish-example -- --release <sha> [--broken health|latency|errors|migrate] [--stack dev] [--component name]... [--migration file.sql]...`
// `npm run publish-example -- --stack-releases [--stack dev]` publishes every release the stack's colors name.
// Builds the example app and publishes it for every component to the stack's artifact store.

import * as path from "path";
import { openStore } from "../components/io/artifacts";
import { loadConfig } from "../components/model/config";
import { RELEASE_SHA } from "../components/model/naming";
import { loadProject, loadStackConfig } from "../runner/project";
import { BROKEN_MODES, BrokenMode, buildExampleArtifact } from "./artifact";

interface PublishArgs {
    /** Absent with --stack-releases. */
    release?: string;
    stackReleases: boolean;
    broken?: BrokenMode;
    stack: string;
    components: string[];
    /** SQL files that go into the release as `migrations/<basename>`. */
    migrations: string[];
}

export function parsePublishArgs(argv: readonly string[]): PublishArgs {
    const a: Partial<PublishArgs> & { components: string[]; migrations: string[] } = { stack: "dev", components: [], migrations: [], stackReleases: false };
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        if (flag === "--stack-releases") {
            a.stackReleases = true;
            continue;
        }
        const v = argv[++i];
        if (v === undefined) throw new Error(`${flag} needs a value`);
        if (flag === "--release") a.release = v.toLowerCase();
        else if (flag === "--broken") {
            if (!(BROKEN_MODES as readonly string[]).includes(v)) throw new Error(`--broken: expected one of ${BROKEN_MODES.join(", ")}`);
            a.broken = v as BrokenMode;
        } else if (flag === "--stack") a.stack = v;
        else if (flag === "--component") a.components.push(v);
        else if (flag === "--migration") {
            const name = path.basename(v);
            if (!/\.sql$/.test(name)) throw new Error(`--migration ${v}: expected a .sql file (the release carries it as migrations/${name})`);
            const clash = a.migrations.find((m) => path.basename(m) === name);
            if (clash) throw new Error(`--migration ${v}: ${clash} already goes into the release as migrations/${name}`);
            a.migrations.push(v);
        } else throw new Error(`unknown option ${flag}`);
    }
    if (a.stackReleases) {
        if (a.release || a.broken) throw new Error("--stack-releases publishes the stack's own releases; drop --release and --broken");
        if (a.migrations.length > 0) throw new Error("--migration goes with --release: --stack-releases republishes the stack's own releases as they are");
    } else if (!a.release || !RELEASE_SHA.test(a.release)) {
        throw new Error("--release: expected 7-40 hex characters (or --stack-releases)");
    }
    return a as PublishArgs;
}

async function main(): Promise<void> {
    const args = parsePublishArgs(process.argv.slice(2));
    const project = loadProject(process.cwd());
    const cfg = loadStackConfig(project, args.stack, process.env.BLUEGREEN_CONFIG_FILE);
    const config = loadConfig(cfg.values, (k) => cfg.secretKeys.includes(k), args.stack);
    const store = openStore(config.artifacts, project.dir, process.env.BLUEGREEN_ARTIFACT_TOKEN);
    const components = args.components.length > 0 ? args.components : config.components.map((c) => c.name);
    const releases = args.release ? [args.release] : [...new Set(Object.values(config.colors).map((c) => c!.release))];
    for (const release of releases) {
        const artifact = await buildExampleArtifact(release, args.broken, args.migrations);
        for (const component of components) {
            const outcome = await store.publish({ component, release }, artifact);
            const migrations = args.migrations.length > 0 ? ` (migrations: ${args.migrations.map((m) => path.basename(m)).join(", ")})` : "";
            console.log(`${component} ${release}${args.broken ? ` (broken: ${args.broken})` : ""}${migrations}: ${outcome} in ${store.where}`);
        }
    }
}

if (require.main === module) {
    main().catch((e) => {
        console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
        process.exit(1);
    });
}
