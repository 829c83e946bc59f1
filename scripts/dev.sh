#!/usr/bin/env bash
# Brings the dev stack up on this machine: host set-up, the example app's releases
# that Pulumi.dev.yaml names, then `up` through the offline runner.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
npx ts-node --transpile-only example-app/publish.ts --stack-releases --stack dev
node scripts/local.js up --stack dev
