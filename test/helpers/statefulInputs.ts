// Inputs and outputs of one StatefulService, for unit tests.

import { StatefulInputs, StatefulOutputs, statefulHealthUrl } from "../../components/release/stateful/stateful";

export function statefulInputs(over: Partial<StatefulInputs> = {}): StatefulInputs {
    return {
        name: "dev-db",
        stack: "dev",
        service: "db",
        release: "1a1a1a1",
        port: 8080,
        hostPort: 18150,
        healthPath: "/health",
        image: "bluegreen-base",
        profiles: ["default"],
        artifacts: { type: "dir", path: ".artifacts" },
        health: { attempts: 3, intervalMs: 10, timeoutMs: 200 },
        volumes: [{ name: "data", volume: "dev-db-data", path: "/var/lib/data" }],
        pool: "bluegreen-btrfs",
        deleteVolumes: false,
        host: { placement: "host" },
        stateDir: "/var/lib/bluegreen/dev",
        ...over,
    };
}

/** What the provider stored after a healthy create of `i`. */
export function statefulOutputs(i: StatefulInputs, over: Partial<StatefulOutputs> = {}): StatefulOutputs {
    const { artifactToken: _t, ...rest } = i;
    return { ...rest, status: "Running", healthy: true, url: statefulHealthUrl(i), lastGood: i.release, ...over };
}
