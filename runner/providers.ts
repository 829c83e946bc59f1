// Which provider runs a resource type: Pulumi's dynamic-provider host for dynamic
// resources (started once, possibly before the program loads), the in-process
// command provider for command:local:Command, and a refusal for anything else.

import type { Provider } from "./host";

export const DYNAMIC_TYPE = "pulumi-nodejs:dynamic:Resource";
export const COMMAND_TYPE = "command:local:Command";

export interface HostHandle {
    readonly host: Promise<Provider & { close(): Promise<void> | void; readonly startedMs: number }>;
}

export class ProviderRegistry {
    private hostP?: Promise<Provider & { close(): Promise<void> | void; readonly startedMs: number }>;
    private command?: Provider;
    private closed = false;

    constructor(private readonly startHost: () => Promise<Provider & { close(): Promise<void> | void; readonly startedMs: number }>) {}

    /** Starts the host now, so its start-up overlaps loading the program. */
    warm(): void {
        this.hostP ??= this.startHost();
        this.hostP.catch(() => undefined); // reported when a resource needs it
    }

    async for(type: string): Promise<Provider> {
        if (type === DYNAMIC_TYPE) {
            this.warm();
            return this.hostP!;
        }
        if (type === COMMAND_TYPE) {
            this.command ??= (require("./commandProvider") as typeof import("./commandProvider")).commandProvider();
            return this.command;
        }
        throw new Error(`resource type ${type} needs a provider plugin, which the offline runner cannot load; use the Pulumi CLI for it`);
    }

    /** Milliseconds the host took to start, once it has. */
    async hostStartMs(): Promise<number | undefined> {
        if (!this.hostP) return undefined;
        return (await this.hostP.catch(() => undefined))?.startedMs;
    }

    /** Ends the host; resolves once its last log lines are relayed (bounded by the host). */
    async close(): Promise<void> {
        if (this.closed) return;
        this.closed = true;
        await this.hostP?.then(
            (h) => h.close(),
            () => undefined,
        );
    }
}
