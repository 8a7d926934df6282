#!/usr/bin/env bash
# One ephemeral GitHub Actions runner on this host: labels from its hardware, a
# just-in-time config from the kto App, one job, then exit; the service unit
# (kto-runner@.service) starts the next. The host holds no GitHub credentials, only
# the App's runner registration secret, which only `kto host register` gets to see.
#
# Environment (the unit reads /etc/kto/runner.env, which only root may read):
#   KTO_APP_URL                      the App's public URL
#   KTO_RUNNER_REGISTRATION_SECRET   the same secret as on the App
#   KTO_RUNNER_REPOSITORY=owner/name or KTO_RUNNER_ORGANIZATION=name
#   KTO_RUNNER_DIR                   the unpacked actions/runner release (default /opt/actions-runner)
#   KTO_RUNNER_LABELS                extra labels, comma separated (optional)
set -euo pipefail

# Jobs inherit the runner's environment, and a step holding the secret could register
# runners of its own: it stays in this shell, unexported, for the one command that needs it.
registration_secret=${KTO_RUNNER_REGISTRATION_SECRET:-}
unset KTO_RUNNER_REGISTRATION_SECRET

here=$(cd "$(dirname "$0")" && pwd)
kto_dir=${KTO_DIR:-$(dirname "$here")}
runner_dir=${KTO_RUNNER_DIR:-/opt/actions-runner}
instance=${1:-1}

if [ ! -x "$runner_dir/run.sh" ]; then
  echo "kto: no Actions runner at $runner_dir (set KTO_RUNNER_DIR, or unpack actions-runner-linux-*.tar.gz there)" >&2
  exit 2
fi

extra=()
IFS=',' read -ra wanted <<< "${KTO_RUNNER_LABELS:-}"
for label in "${wanted[@]}"; do [ -n "$label" ] && extra+=(--label "$label"); done

# Leftovers of a job whose runner died with it, before taking a new one.
node "$kto_dir/bin/kto.js" host cleanup

jitconfig=$(KTO_RUNNER_REGISTRATION_SECRET=$registration_secret node "$kto_dir/bin/kto.js" host register --name "$(hostname -s)-$instance-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')" "${extra[@]}")

# Every job ends with the hook, whatever ended it.
export ACTIONS_RUNNER_HOOK_JOB_COMPLETED="$here/job-completed.sh"
export KTO_DIR="$kto_dir"
# The JIT config holds the runner's credentials. A command line is world-readable
# (/proc/<pid>/cmdline); an environment only to its user and root. The runner takes
# every option from ACTIONS_RUNNER_INPUT_<OPTION> as well, and Runner.Listener drops
# those variables from its environment before it starts a job.
export ACTIONS_RUNNER_INPUT_JITCONFIG="$jitconfig"
exec "$runner_dir/run.sh"
