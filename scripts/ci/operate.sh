#!/usr/bin/env bash
# An operator action as a commit, so the repository stays the source of truth:
#   scripts/ci/operate.sh rollback <stack> <color>   fast rollback: bluegreen:active: <color>
#   scripts/ci/operate.sh cleanup  <stack> <color>   remove <color> from bluegreen:colors
# Edits Pulumi.<stack>.yaml, commits and pushes it. The workflow then runs up.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/ci/lib.sh
action="$1" stack="$2" color="$3"
valid_stack "$stack"
case "$action" in
  rollback) verb=set-active ;;
  cleanup) verb=remove-color ;;
  *) echo "usage: operate.sh <rollback|cleanup> <stack> <blue|green>" >&2; exit 2 ;;
esac
npx ts-node --transpile-only ops/stackEdit.ts "$verb" "$stack" "$color"
file="Pulumi.${stack}.yaml"
if git diff --quiet -- "$file"; then
  echo "nothing to commit: ${file} already says so"
  exit 0
fi
git add -- "$file"
git -c user.name="${GIT_AUTHOR_NAME:-bluegreen}" -c user.email="${GIT_AUTHOR_EMAIL:-bluegreen@localhost}" \
  commit --quiet -m "${stack}: ${action} ${color} (${BLUEGREEN_PERFORMER:-${GITHUB_ACTOR:-$(id -un)}})"
git push --quiet origin "HEAD:${OPERATE_BRANCH:-main}"
echo "committed and pushed: ${stack} ${action} ${color}"
