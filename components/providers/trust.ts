// Every provider method first makes the stack's incus client config from its own inputs
// (`incusTrust`, a secret input the program adds to every resource): a provider runs in its own
// process, and a destroy does not run the program.

import type * as pulumi from "@pulumi/pulumi";
import type { IncusTrust } from "../model/trust";
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

/** The provider with the trust in force for each method, and kept in its outputs for delete and read. */
export function trusted(provider: pulumi.dynamic.ResourceProvider): pulumi.dynamic.ResourceProvider {
    const wrapped: Record<string, unknown> = {};
    for (const [name, method] of Object.entries(provider)) {
        wrapped[name] =
            typeof method === "function"
                ? async (...args: unknown[]) => {
                      const trust = trustIn(args);
                      await useIncusTrust(trust);
                      const result = (await (method as (...a: unknown[]) => unknown).apply(provider, args)) as { outs?: Record<string, unknown> } | undefined;
                      if (trust && (name === "create" || name === "update") && result?.outs)
                          return { ...result, outs: { ...result.outs, [TRUST_INPUT]: trust } };
                      return result;
                  }
                : method;
    }
    return wrapped as unknown as pulumi.dynamic.ResourceProvider;
}
