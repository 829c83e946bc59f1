// `npm run local -- status --stack <name> [--json]`: the stack at a glance, from live
// state (components/release/status.ts). Changes nothing, and works whether or not the
// Pulumi CLI is installed: it needs only the stack's config and this host.

import { loadConfig } from "../components/model/config";
import { describeStatus, readStatus } from "../components/release/status";
import { Project, loadStackConfig } from "../runner/project";

export async function statusCommand(project: Project, stack: string, opts: { json: boolean; configFile?: string }): Promise<number> {
    const cfg = loadStackConfig(project, stack, opts.configFile);
    const config = loadConfig(cfg.values, (k) => cfg.secretKeys.includes(k), stack);
    const report = await readStatus(config);
    process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + "\n" : describeStatus(report));
    return 0;
}
