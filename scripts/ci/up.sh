#!/usr/bin/env bash
# Applies one stack: `pulumi up`, or the offline runner's `up`.
#   scripts/ci/up.sh <stack>
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/ci/lib.sh
stack="$1"
valid_stack "$stack"
require_persistent_backend
pulumi_or_runner up "$stack" --yes
