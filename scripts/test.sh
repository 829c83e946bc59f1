#!/usr/bin/env bash
# The whole test suite on a fresh machine: host set-up, type check, then mocha
# (unit tests first, end-to-end tests on real Incus and HAProxy last).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
npx tsc --noEmit
# Lint (typescript-eslint, no import cycles, layer boundaries) and formatting.
npx eslint . --max-warnings 0
npx prettier --check --log-level warn "**/*.{ts,js,mjs}"
node scripts/build.js   # the compiled runner that npm run local and the tests run
# Unit tests first, end-to-end tests on real Incus and HAProxy last.
if [ "$#" -gt 0 ]; then
  exec npx mocha "$@"
fi
npx mocha 'test/components/**/*.test.ts' 'test/runner/**/*.test.ts' 'test/example-app/**/*.test.ts' 'test/ops/**/*.test.ts' 'test/*.test.ts'
# The e2e files run three at a time: each has its own stack, prefix, ports and release SHAs,
# and most of their time is spent waiting on Incus, health checks and SLI windows. The
# slowest go first (longest first keeps the three workers busy to the end); any other file
# follows in name order. BLUEGREEN_E2E_JOBS=1 runs them one by one.
slowest="clusterEvacuate statefulGuard stateful switch incusPlacement remoteCanary prometheusIncus clusterRelease remote clusterCanary edgeTls canary analysis rolloutControls lifecycle shift sticky maintenance load traffic adoption clusterLoss operations secrets edgeRouting acme pools ownApp appOps providerUpgrade"
e2e=()
for f in $slowest; do [ -f "test/e2e/$f.test.ts" ] && e2e+=("test/e2e/$f.test.ts"); done
for f in test/e2e/*.test.ts; do
  case " ${e2e[*]} " in *" $f "*) ;; *) e2e+=("$f") ;; esac
done
jobs="${BLUEGREEN_E2E_JOBS:-3}"
if [ "$jobs" -gt 1 ]; then
  npx mocha --require ts-node/register/transpile-only --require test/helpers/fileTimes.ts --parallel --jobs "$jobs" "${e2e[@]}"
else
  npx mocha --require ts-node/register/transpile-only --require test/helpers/fileTimes.ts "${e2e[@]}"
fi
