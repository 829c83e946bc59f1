#!/usr/bin/env bash
# Posts a file as a comment on a pull request, through the forge's API (Forgejo and
# GitHub share this endpoint). Needs FORGE_API, FORGE_REPO, FORGE_PR and FORGE_TOKEN.
#   scripts/ci/comment.sh <file>
set -euo pipefail
file="$1"
: "${FORGE_API:?set FORGE_API (e.g. \${{ github.api_url }})}"
: "${FORGE_REPO:?set FORGE_REPO (owner/name)}"
: "${FORGE_PR:?set FORGE_PR (the pull request number)}"
: "${FORGE_TOKEN:?set FORGE_TOKEN}"
[[ "$FORGE_PR" =~ ^[0-9]+$ ]] || { echo "FORGE_PR must be a number" >&2; exit 2; }
body="$(node -e 'process.stdout.write(JSON.stringify({ body: require("fs").readFileSync(process.argv[1], "utf8") }))' "$file")"
curl --fail --silent --show-error -X POST \
  -H "Authorization: token ${FORGE_TOKEN}" -H "Content-Type: application/json" \
  --data "$body" "${FORGE_API%/}/repos/${FORGE_REPO}/issues/${FORGE_PR}/comments" >/dev/null
echo "commented on ${FORGE_REPO}#${FORGE_PR}"
