// `npm run local -- status --stack <name> [--json]`: the stack at a glance, from live
// state (components/release/status.ts). Changes nothing, and works whether or not the
// Pulumi CLI is installed: it needs only the stack's config and this host.

import { incusTrustOf, loadConfig } from "../components/model/config";
import { useIncusTrust } from "../components/io/incusTrust";
import { describeStatus, describeVerdict, readStatus, statusVerdict } from "../components/release/status";
import { Project, loadStackConfig } from "../runner/project";

export async function statusCommand(project: Project, stack: string, opts: { json: boolean; configFile?: string }): Promise<number> {
    const cfg = loadStackConfig(project, stack, opts.configFile);
    const config = loadConfig(cfg.values, (k) => cfg.secretKeys.includes(k), stack);
    await useIncusTrust(incusTrustOf(cfg.values, config)); // the stack's trust secrets, if set (README: Trust)
    const report = await readStatus(config);
    // The exit code tells scripts and monitors what needs attention (README: Status).
    const verdict = statusVerdict(report);
    process.stdout.write(opts.json ? JSON.stringify({ ...report, exit: verdict }, null, 2) + "\n" : describeStatus(report) + describeVerdict(verdict));
    return verdict.code;
}
