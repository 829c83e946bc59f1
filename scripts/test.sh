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
if [ "$#" -eq 0 ]; then
  set -- 'test/components/**/*.test.ts' 'test/runner/**/*.test.ts' 'test/example-app/**/*.test.ts' 'test/ops/**/*.test.ts' 'test/*.test.ts' 'test/e2e/**/*.test.ts'
fi
npx mocha "$@"
