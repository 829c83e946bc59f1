// `npm run publish -- --component <name> --release <sha> [--stack dev] <dir-or-tarball>`:
// publishes a user's own build output to the stack's artifact store. A directory is packed
// reproducibly; a tarball is checked and published as it is. Either way the release must
// have an executable `start` at its root (see the README's artifact contract).

import * as fs from "fs";
import { openStore } from "../components/io/artifacts";
import { checkTarball, packDirectory } from "../components/io/pack";
import { loadConfig } from "../components/model/config";
import { RELEASE_SHA } from "../components/model/naming";
import { loadProject, loadStackConfig } from "../runner/project";

export interface PublishArgs {
    readonly component: string;
    readonly release: string;
    readonly stack: string;
    readonly source: string;
}

const USAGE = "usage: npm run publish -- --component <name> --release <sha> [--stack dev] <dir-or-tarball>";

export function parsePublishArgs(argv: readonly string[]): PublishArgs {
    const a: Partial<Record<"component" | "release" | "stack" | "source", string>> = { stack: "dev" };
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        if (!flag.startsWith("--")) {
            if (a.source) throw new Error(`one directory or tarball at a time (${a.source}, ${flag}); ${USAGE}`);
            a.source = flag;
            continue;
        }
        const v = argv[++i];
        if (v === undefined) throw new Error(`${flag} needs a value; ${USAGE}`);
        if (flag === "--component") a.component = v;
        else if (flag === "--release") a.release = v.toLowerCase();
        else if (flag === "--stack") a.stack = v;
        else throw new Error(`unknown option ${flag}; ${USAGE}`);
    }
    if (!a.component) throw new Error(`--component is required; ${USAGE}`);
    if (!a.release || !RELEASE_SHA.test(a.release)) throw new Error(`--release: expected 7-40 hex characters; ${USAGE}`);
    if (!a.source) throw new Error(`a directory or tarball to publish is required; ${USAGE}`);
    return a as PublishArgs;
}

/** The artifact's bytes: a directory packed, or a tarball checked. */
export async function artifactOf(source: string): Promise<Buffer> {
    if (!fs.existsSync(source)) throw new Error(`${source} does not exist`);
    if (fs.statSync(source).isDirectory()) return packDirectory(source);
    const bytes = fs.readFileSync(source);
    await checkTarball(bytes, source);
    return bytes;
}

async function main(): Promise<void> {
    const args = parsePublishArgs(process.argv.slice(2));
    const project = loadProject(process.cwd());
    const cfg = loadStackConfig(project, args.stack, process.env.BLUEGREEN_CONFIG_FILE);
    const config = loadConfig(cfg.values, (k) => cfg.secretKeys.includes(k), args.stack);
    if (!config.components.some((c) => c.name === args.component)) {
        throw new Error(`stack ${args.stack} has no component ${args.component} (it has ${config.components.map((c) => c.name).join(", ")})`);
    }
    const store = openStore(config.artifacts, project.dir, process.env.BLUEGREEN_ARTIFACT_TOKEN);
    const outcome = await store.publish({ component: args.component, release: args.release }, await artifactOf(args.source));
    console.log(`${args.component} ${args.release}: ${outcome} in ${store.where}`);
}

if (require.main === module) {
    main().catch((e) => {
        console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
        process.exit(1);
    });
}
