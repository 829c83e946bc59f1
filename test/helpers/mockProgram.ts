// Runs index.ts under pulumi.runtime.setMocks with a stack's config and records
// what it declares. No provider runs: this is the program's shape only.

import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { loadProject, loadStackConfig } from "../../runner/project";

export const ROOT = path.resolve(__dirname, "../..");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const settings = require("@pulumi/pulumi/runtime/settings");

export interface Declared {
    readonly type: string;
    readonly name: string;
    readonly custom: boolean;
    readonly inputs: Record<string, any>;
}

export interface Program {
    readonly resources: Declared[];
    readonly outputs: Record<string, unknown>;
}

/**
 * Declares the program for `stack`, with config keys overridden (values as Pulumi stores
 * them: strings, JSON for objects). `resources` receives declarations even when the program throws.
 */
export async function declareProgram(
    stack: string,
    overrides: Record<string, string> = {},
    secretKeys: string[] = [],
    resources: Declared[] = [],
): Promise<Program> {
    const project = loadProject(ROOT);
    const cfg = loadStackConfig(project, stack);
    await pulumi.runtime.setMocks(
        {
            newResource: (a) => {
                resources.push({ type: a.type, name: a.name, custom: !!a.custom, inputs: a.inputs });
                return { id: a.custom ? `${a.name}-id` : undefined, state: a.inputs };
            },
            call: () => ({}),
        },
        project.name,
        stack,
        false,
    );
    pulumi.runtime.setAllConfig({ ...cfg.values, ...overrides }, [...cfg.secretKeys, ...secretKeys]);
    const main = path.join(ROOT, "index.ts");
    delete require.cache[require.resolve(main)];
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const exported = require(main);
    // index.ts is an async function, as a Pulumi program may be: the SDK (and the runner) call it and await it.
    const mod = exported instanceof Function ? await exported() : exported;
    const outputs = await new Promise<Record<string, unknown>>((resolve) =>
        pulumi.all({ url: mod.url, activeColor: mod.activeColor, releases: mod.releases, containers: mod.containers }).apply(resolve),
    );
    await settings.waitForRPCs();
    return { resources, outputs };
}
