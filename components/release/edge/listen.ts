// The edge's listeners on incus placement: Incus proxy devices on the host, each speaking
// the PROXY protocol to HAProxy in the instance, so HAProxy (and the app) see the client.

import type { ProxyDevice } from "../../io/incus";
import type { Listener } from "../../model/edge/listen";

/** Device names: `edge-<port>`. */
export const LISTENER_DEVICE = "edge-";

/** Pure: one proxy device per listener: `<address>:<port>` on the host to 127.0.0.1:<port> in the instance. */
export function listenerProxies(listen: readonly Listener[] | undefined): Record<string, ProxyDevice> {
    return Object.fromEntries(
        (listen ?? []).map((l) => [`${LISTENER_DEVICE}${l.port}`, { listenAddress: l.address, listenPort: l.port, connectPort: l.port, proxyProtocol: true }]),
    );
}
