#!/usr/bin/env bash
# The Actions runner runs this after every job (ACTIONS_RUNNER_HOOK_JOB_COMPLETED), also
# after a cancelled or crashed one: it removes containers and VMs of kto processes that
# are gone, and empties the workspace so the next job starts clean.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
node "${KTO_DIR:-$(dirname "$here")}/bin/kto.js" host cleanup
# Only a workspace of this runner instance: several instances share the host, and a
# workspace named from elsewhere (a job's environment) must not empty another's checkout.
workspace=$(realpath -e "${GITHUB_WORKSPACE:-}" 2>/dev/null || true)
root=$(realpath -e "${KTO_RUNNER_ROOT:-}" 2>/dev/null || true)
if [ -n "$workspace" ] && [ -n "$root" ] && [[ $workspace == "$root"/_work/?* ]]; then
  find "$workspace" -mindepth 1 -delete 2>/dev/null || true
elif [ -n "${GITHUB_WORKSPACE:-}" ]; then
  echo "kto: $GITHUB_WORKSPACE is not in this runner's work directory (${KTO_RUNNER_ROOT:-unset}/_work): left as it is" >&2
fi
exit 0
