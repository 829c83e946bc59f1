// Benchmark: the cost of running providers in Pulumi's dynamic-provider host instead of
// in-process: the host's start-up (spawn, port, Configure) and one gRPC call (Diff of a
// real provider, and Check), against calling the same provider method in-process.
//
//   npx ts-node --transpile-only bench/host.ts [--starts 10] [--calls 500]

import * as pulumi from "@pulumi/pulumi";
import { parseConfig } from "../components/model/config";
import { switchInputs } from "../components/plan";
import { switchProvider } from "../components/providers/switch";
import { ProviderHost } from "../runner/host";

function arg(name: string, fallback: string): number {
    const i = process.argv.indexOf(`--${name}`);
    return Number(i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
    const starts: number[] = [];
    for (let i = 0; i < arg("starts", "10"); i++) {
        const t = process.hrtime.bigint();
        const h = await ProviderHost.start({ project: "p", stack: "s", cwd: process.cwd(), log: () => undefined });
        starts.push(Number(process.hrtime.bigint() - t) / 1e6);
        h.close();
    }
    const host = await ProviderHost.start({ project: "p", stack: "s", cwd: process.cwd(), log: () => undefined });
    const text = (await pulumi.runtime.serializeFunction(() => switchProvider, { allowSecrets: true })).text;
    const i = {
        ...switchInputs(
            parseConfig({ active: "blue", colors: { blue: { release: "abc1234" } }, haproxy: { frontendPort: 18100, exporterPort: 18101 } }, "dev"),
        ),
        __provider: text,
    } as Record<string, unknown>;
    const o = { ...i, served: "blue", recorded: "blue" };
    const urn = "urn:pulumi:s::p::pulumi-nodejs:dynamic:Resource::switch";
    const calls = arg("calls", "500");
    await host.diff(urn, "id", i, o, i, []); // loads the provider once, as the first real call does
    let t = process.hrtime.bigint();
    for (let n = 0; n < calls; n++) await host.diff(urn, "id", i, o, i, []);
    const diffMs = Number(process.hrtime.bigint() - t) / 1e6 / calls;
    t = process.hrtime.bigint();
    for (let n = 0; n < calls; n++) await host.check(urn, i, i);
    const checkMs = Number(process.hrtime.bigint() - t) / 1e6 / calls;
    t = process.hrtime.bigint();
    for (let n = 0; n < calls; n++) await switchProvider.diff!("id", o as any, i as any);
    const inProcessMs = Number(process.hrtime.bigint() - t) / 1e6 / calls;
    host.close();
    console.log(
        JSON.stringify({
            hostStartMs: { median: Math.round(median(starts)), min: Math.round(Math.min(...starts)), max: Math.round(Math.max(...starts)) },
            diffCallMs: +diffMs.toFixed(2),
            checkCallMs: +checkMs.toFixed(2),
            inProcessDiffMs: +inProcessMs.toFixed(3),
        }),
    );
}

main().then(
    () => process.exit(0),
    (e) => {
        console.error(e);
        process.exit(1);
    },
);
