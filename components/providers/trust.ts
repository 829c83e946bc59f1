// Every provider method first makes the stack's incus client config from its own inputs
// (`incusTrust`, a secret input the program adds to every resource): a provider runs in its own
// process, and a destroy does not run the program.

import type * as pulumi from "@pulumi/pulumi";
import type { IncusTrust } from "../model/cluster/trust";
import { useIncusTrust } from "../io/incusTrust";

/** The input every resource carries when the stack has trust secrets. */
export const TRUST_INPUT = "incusTrust";

function trustIn(args: readonly unknown[]): IncusTrust | undefined {
    // news for check/diff/update, inputs for create, props for delete/read: the last object argument.
    for (let i = args.length - 1; i >= 0; i--) {
        const a = args[i];
        if (a && typeof a === "object") return (a as Record<string, IncusTrust | undefined>)[TRUST_INPUT];
    }
    return undefined;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Only the trust changed: every given input is as recorded. */
function trustOnly(olds: Record<string, unknown>, news: Record<string, unknown>): boolean {
    return Object.entries(news).every(([k, v]) => k === TRUST_INPUT || k === "__provider" || v === undefined || same(v, olds[k]));
}

/**
 * The provider with the trust in force for each method, and kept in its outputs for delete and
 * read. A changed trust (a renewed certificate) is an update, so a later destroy uses it; when
 * nothing else changed, that update only records it.
 */
export function trusted(provider: pulumi.dynamic.ResourceProvider): pulumi.dynamic.ResourceProvider {
    const wrapped: Record<string, unknown> = {};
    for (const [name, method] of Object.entries(provider)) {
        wrapped[name] =
            typeof method === "function"
                ? async (...args: unknown[]) => {
                      const trust = trustIn(args);
                      await useIncusTrust(trust);
                      if (name === "update") {
                          const [, olds, news] = args as [string, Record<string, unknown>, Record<string, unknown>];
                          if (!same(olds[TRUST_INPUT], trust) && trustOnly(olds, news)) {
                              const { [TRUST_INPUT]: _old, ...rest } = olds;
                              return { outs: trust ? { ...rest, [TRUST_INPUT]: trust } : rest };
                          }
                      }
                      const result = (await (method as (...a: unknown[]) => unknown).apply(provider, args)) as
                          { outs?: Record<string, unknown>; changes?: boolean } | undefined;
                      if (trust && (name === "create" || name === "update") && result?.outs)
                          return { ...result, outs: { ...result.outs, [TRUST_INPUT]: trust } };
                      if (name === "diff" && !same((args[1] as Record<string, unknown> | undefined)?.[TRUST_INPUT], trust) && !result?.changes)
                          return { ...result, changes: true };
                      return result;
                  }
                : method;
    }
    return wrapped as unknown as pulumi.dynamic.ResourceProvider;
}
