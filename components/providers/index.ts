// Every dynamic provider of the program. test/serialization.test.ts iterates this
// registry, so a new provider cannot be forgotten (an unserializable one would
// otherwise only show as a hang under the runner).

import type * as pulumi from "@pulumi/pulumi";
import { acmeProvider } from "./acme";
import { canaryProvider } from "./canary";
import { colorContainerProvider } from "./colorContainer";
import { haproxyProvider } from "./haproxy";
import { deployLockProvider, deployUnlockProvider } from "./lock";
import { maintenanceProvider } from "./maintenance";
import { prometheusProvider } from "./prometheus";
import { retentionProvider } from "./retention";
import { statefulProvider } from "./stateful";
import { switchProvider } from "./switch";
import { certificatesProvider } from "./tls";

export const PROVIDERS: Readonly<Record<string, pulumi.dynamic.ResourceProvider>> = {
    acme: acmeProvider,
    canary: canaryProvider,
    certificates: certificatesProvider,
    colorContainer: colorContainerProvider,
    haproxy: haproxyProvider,
    lock: deployLockProvider,
    maintenance: maintenanceProvider,
    prometheus: prometheusProvider,
    retention: retentionProvider,
    stateful: statefulProvider,
    switch: switchProvider,
    unlock: deployUnlockProvider,
};
