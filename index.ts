// The bluegreen program: one stack = one environment (dev, staging, prod).
// Every operation (deploy, switch, rollback, cleanup) is a change to this stack's config.

import * as pulumi from "@pulumi/pulumi";
import { BlueGreenApp } from "./components/app";
import { adoptFromEnv } from "./components/model/stateful/adoption";
import { ConfigError, StackConfig, incusTrustOf, loadConfig } from "./components/model/config";
import { TRUST_INPUT } from "./components/providers/trust";
import { useIncusTrust } from "./components/io/incusTrust";
import { progress } from "./components/io/progress";
import { describePlacement } from "./components/model/cluster/placement";
import { readPlacement } from "./components/release/cluster/placement";

// Internal to the SDK (its version is pinned): tells secret keys from plain ones.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { isConfigSecret } = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(key: string): boolean };

/** Bad config is the user's to fix: a RunError, which `pulumi up` prints alone, without a stack trace. */
function validConfig(): StackConfig {
    try {
        return loadConfig(pulumi.runtime.allConfig(), isConfigSecret, pulumi.getStack());
    } catch (e) {
        // Named so the offline runner tells it apart too (exit 2).
        if (e instanceof ConfigError) throw Object.assign(new pulumi.RunError(e.message), { name: "ConfigError" });
        throw e;
    }
}

/** A Pulumi program may be an async function (the SDK awaits it): the cluster is read before anything is planned. */
export = async () => {
    const config = validConfig();
    const secrets = new pulumi.Config("bluegreen");
    const artifactToken = secrets.getSecret("artifactToken");
    const secretEnv = secrets.getSecret("secretEnv");
    const tlsCertificates = secrets.getSecret("tls.certificates");

    const adoptOnce = adoptFromEnv(process.env.BLUEGREEN_ADOPT);

    // The remote's certificates from the stack's secrets: every resource carries them, as a secret
    // input, so its provider (own process; a destroy runs no program) makes the incus client config itself.
    const trust = incusTrustOf(pulumi.runtime.allConfig(), config);
    if (trust) {
        const incusTrust = pulumi.secret(trust);
        pulumi.runtime.registerStackTransformation((r) =>
            r.type === "pulumi-nodejs:dynamic:Resource" ? { props: { ...r.props, [TRUST_INPUT]: incusTrust }, opts: r.opts } : undefined,
        );
    }
    // On a cluster: every instance's member and routed address (components/release/cluster/placement.ts).
    await useIncusTrust(trust);
    const placement = await readPlacement(config);
    if (placement) for (const line of describePlacement(placement)) progress(`placement: ${line}`);

    const app = new BlueGreenApp(config.prefix.replace(/-$/, "") || "app", { config, artifactToken, secretEnv, adoptOnce, placement, tlsCertificates });

    return {
        /** The frontend URL: HAProxy's loopback frontend. */
        url: app.url,
        /** The color HAProxy serves. */
        activeColor: app.activeColor,
        /** The release each present color runs, e.g. { blue: "1a2b3c4", green: "5d6e7f8" }. */
        releases: app.releases,
        /** Container names, by color and component. */
        containers: app.containerNames,
    };
};
