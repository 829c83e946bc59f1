#!/usr/bin/env bash
# Prints the stacks whose Pulumi.<stack>.yaml changed between two commits, one per line.
#   scripts/ci/changed-stacks.sh <base-rev> [<head-rev>]
set -euo pipefail
base="$1"
head="${2:-HEAD}"
git diff --name-only "$base" "$head" -- 'Pulumi.*.yaml' | sed -n 's/^Pulumi\.\([a-z][a-z0-9-]*\)\.yaml$/\1/p' | sort -u
