// Inputs and outputs of one ColorContainer, for unit tests.

import { ColorContainerInputs, ColorContainerOutputs, healthUrl } from "../../components/release/deploy";

export const TOKEN = "tok-SECRET-123";

export function containerInputs(over: Partial<ColorContainerInputs> = {}): ColorContainerInputs {
    return {
        name: "dev-web-green",
        stack: "dev",
        component: "web",
        color: "green",
        release: "def5678",
        port: 8080,
        hostPort: 18131,
        healthPath: "/health",
        image: "bluegreen-base",
        profiles: ["default"],
        artifacts: { type: "dir", path: ".artifacts" },
        health: { attempts: 30, intervalMs: 1000, timeoutMs: 2000 },
        guard: { host: { placement: "host" }, stateDir: "/var/lib/bluegreen/dev", adminSocket: "/var/lib/bluegreen/dev/admin.sock" },
        ...over,
    };
}

/** What the provider stored after a healthy create of `i`. */
export function containerOutputs(i: ColorContainerInputs, healthy = true): ColorContainerOutputs {
    const { artifactToken: _t, ...rest } = i;
    return { ...rest, status: "Running", healthy, url: healthUrl(i) };
}
