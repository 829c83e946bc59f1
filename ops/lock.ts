// `npm run local -- lock acquire -m "<message>" | release [--force] | status [--json] --stack <name>`:
// the deploy lock held by hand, as `kamal lock` does (components/release/safety/lock.ts). Works with
// or without the Pulumi CLI: it needs only the stack's config and the HAProxy host.

import { incusTrustOf, loadConfig } from "../components/model/config";
import { useIncusTrust } from "../components/io/incusTrust";
import { describeHolder, lockPath } from "../components/model/safety/lock";
import { auditContext } from "../components/plan";
import { acquireLock, readLockState, releaseLock } from "../components/release/safety/lock";
import { Project, UsageError, loadStackConfig } from "../runner/project";

export async function lockCommand(
    project: Project,
    stack: string,
    verb: string | undefined,
    opts: { message?: string; force: boolean; json: boolean; configFile?: string },
): Promise<number> {
    const cfg = loadStackConfig(project, stack, opts.configFile);
    const config = loadConfig(cfg.values, (k) => cfg.secretKeys.includes(k), stack);
    await useIncusTrust(incusTrustOf(cfg.values, config)); // the stack's trust secrets, if set (README: Trust)
    const target = auditContext(config);
    const where = lockPath(target.stateDir);
    if (verb === "acquire") {
        if (!opts.message) throw new UsageError('lock acquire needs -m "<why>": whoever meets the lock reads it');
        const r = await acquireLock(target, { kind: "manual", message: opts.message, waitSeconds: 0 });
        process.stdout.write(`locked stack ${stack}: ${describeHolder(r)} (${where}). Free it with \`lock release --stack ${stack}\`.\n`);
        return 0;
    }
    if (verb === "release") {
        const was = await releaseLock(target, { force: opts.force });
        process.stdout.write(was.state === "free" ? `stack ${stack} was not locked\n` : `released the deploy lock of ${describeHolder(was.record)}\n`);
        return 0;
    }
    if (verb === "status") {
        const st = await readLockState(target);
        if (opts.json) process.stdout.write(JSON.stringify({ file: where, ...st }, null, 2) + "\n");
        else if (st.state === "free") process.stdout.write(`stack ${stack}: not locked\n`);
        else if (st.state === "held") process.stdout.write(`stack ${stack}: locked by ${describeHolder(st.record)}\n`);
        else
            process.stdout.write(
                `stack ${stack}: stale lock of ${describeHolder(st.record)}: ${st.why}; the next up takes it over, or \`lock release --force\`\n`,
            );
        return 0;
    }
    throw new UsageError('usage: lock acquire -m "<message>" | lock release [--force] | lock status [--json] --stack <name>');
}
