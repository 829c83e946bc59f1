// Stack configs for tests, built through the real parser so they are always valid.

import { StackConfig, parseConfig } from "../../components/model/config";

/** The smallest valid raw config: blue active at abc1234, default components. */
export function minimalRaw(): Record<string, unknown> {
    return {
        active: "blue",
        colors: { blue: { release: "abc1234" } },
        haproxy: { frontendPort: 18100, exporterPort: 18101 },
    };
}

/** A parsed config: minimalRaw with top-level keys replaced by `over`. */
export function stackConfig(over: Record<string, unknown> = {}, stack = "dev"): StackConfig {
    return parseConfig({ ...minimalRaw(), ...over }, stack);
}
