#!/usr/bin/env bash
# Before any up or preview: this runner has the incus client, and reaches the stack's remote
# as a trusted client. Any runner labelled `incus-client` may run the workflows (README: Trust).
#   scripts/ci/check-incus.sh <stack>
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/ci/lib.sh
stack="$1"
valid_stack "$stack"
if ! command -v incus >/dev/null 2>&1; then
  echo "no incus client on this runner: install it (Debian/Ubuntu: apt-get install incus-client), or run the job on a runner labelled incus-client that has it; nothing was run." >&2
  exit 2
fi
file="${BLUEGREEN_CONFIG_FILE:-Pulumi.$stack.yaml}"
# "<remote> <trust>": the stack's incus.remote (empty: the local daemon), and whether its secrets carry the trust.
read -r remote trust < <(node -e '
  const YAML = require("yaml");
  const c = (YAML.parse(require("fs").readFileSync(process.argv[1], "utf8")) || {}).config || {};
  const incus = c["bluegreen:incus"] || {};
  console.log(`${incus.remote || "-"} ${"bluegreen:incus.address" in c ? "secrets" : "runner"}`);
' "$file") || { echo "cannot read $file" >&2; exit 2; }
if [[ "$remote" == - ]]; then
  if ! out="$(incus query /1.0 2>&1)"; then
    echo "cannot reach the local Incus daemon: ${out%%$'\n'*}; run this stack's jobs on its Incus host, or set bluegreen:incus.remote (README: Trust); nothing was run." >&2
    exit 2
  fi
  echo "local Incus: reachable"
  exit 0
fi
if [[ "$trust" == secrets ]]; then
  # The key is a secret: the program decrypts it and checks the pinned certificate and the trust before any step.
  echo "$remote: trust from the stack's secrets (bluegreen:incus.*), checked by the program before any step"
  exit 0
fi
next="on the Incus server run \`incus config trust add <name>\` (README: Trust), then here \`incus remote add $remote <token>\`; or give the stack the certificates as secrets (bluegreen:incus.address, bluegreen:incus.serverCert, bluegreen:incus.clientCert, bluegreen:incus.clientKey)"
if ! out="$(incus query "$remote:/1.0" 2>&1)"; then
  echo "cannot reach $remote with this runner's incus config: ${out%%$'\n'*}; $next; nothing was run." >&2
  exit 2
fi
if ! grep -Eq '"auth": ?"trusted"' <<<"$out"; then
  echo "$remote does not trust this runner's client certificate; $next; nothing was run." >&2
  exit 2
fi
echo "$remote: reachable, this runner trusted"
