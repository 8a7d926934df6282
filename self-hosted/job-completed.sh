#!/usr/bin/env bash
# The Actions runner runs this after every job (ACTIONS_RUNNER_HOOK_JOB_COMPLETED), also
# after a cancelled or crashed one: it removes containers and VMs of kto processes that
# are gone, and empties the workspace so the next job starts clean.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
node "${KTO_DIR:-$(dirname "$here")}/bin/kto.js" host cleanup
if [ -n "${GITHUB_WORKSPACE:-}" ] && [ -d "$GITHUB_WORKSPACE" ]; then
  find "$GITHUB_WORKSPACE" -mindepth 1 -delete 2>/dev/null || true
fi
exit 0
