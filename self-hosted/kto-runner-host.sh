#!/usr/bin/env bash
# One ephemeral GitHub Actions runner on this host: labels from its hardware, registered
# through the kto App, one job, then exit; the service unit (kto-runner@.service) starts
# the next. The host holds no GitHub credentials, only the App's runner registration
# secret, which only `kto host register` gets to see. By default the App hands it the
# registration token it holds for the repository or organisation (one request to GitHub
# an hour, however many runners register) and config.sh registers the runner with it;
# KTO_RUNNER_REGISTRATION=jit has the App register each runner just in time instead (one
# request to GitHub per job, and no token that could register other runners on the host).
#
# Environment (the unit reads /etc/kto/runner.env, which only root may read):
#   KTO_APP_URL                      the App's public URL
#   KTO_RUNNER_REGISTRATION_SECRET   the same secret as on the App
#   KTO_RUNNER_REPOSITORY=owner/name or KTO_RUNNER_ORGANIZATION=name
#   KTO_RUNNER_DIR                   the unpacked actions/runner release (default /opt/actions-runner),
#                                    never written: each instance runs a copy of its own
#   KTO_RUNNER_HOME                  where the instances' copies live, one directory each
#                                    (default /var/lib/kto-runner; the unit's StateDirectory)
#   KTO_RUNNER_LABELS                extra labels, comma separated (optional)
#   KTO_RUNNER_REGISTRATION          token (default) or jit
set -euo pipefail

# Jobs inherit the runner's environment, and a step holding the secret could register
# runners of its own: it stays in this shell, unexported, for the one command that needs it.
registration_secret=${KTO_RUNNER_REGISTRATION_SECRET:-}
unset KTO_RUNNER_REGISTRATION_SECRET

here=$(cd "$(dirname "$0")" && pwd)
kto_dir=${KTO_DIR:-$(dirname "$here")}
runner_dir=${KTO_RUNNER_DIR:-/opt/actions-runner}
instance=${1:-1}

if [[ ! $instance =~ ^[A-Za-z0-9_-]{1,32}$ ]]; then
  echo "kto: instance \"$instance\": expected 1 to 32 letters, digits, '_' or '-' (kto-runner@<instance>)" >&2
  exit 2
fi
if [ ! -x "$runner_dir/run.sh" ]; then
  echo "kto: no Actions runner at $runner_dir (set KTO_RUNNER_DIR, or unpack actions-runner-linux-*.tar.gz there)" >&2
  exit 2
fi

# The runner keeps its registration and credentials (.runner, .credentials,
# .credentials_rsaparams), its work directory (_work: checkouts, RUNNER_TEMP) and its logs
# in the directory it runs from. Instances sharing one would take each other's
# credentials, check out into each other's workspace, and the job-completed hook of one
# would empty another's running job: each instance runs its own copy of the release, in a
# directory named after the instance, made again when the release changes.
instance_root=${KTO_RUNNER_HOME:-/var/lib/kto-runner}/$instance
release=$(cd "$runner_dir" && find . -maxdepth 2 -printf '%p %s %T@\n' | LC_ALL=C sort | cksum)
if [ "$(cat "$instance_root/.kto-release" 2>/dev/null)" != "$release" ]; then
  mkdir -p "$instance_root"
  cp -R --preserve=mode,timestamps "$runner_dir/." "$instance_root/"
  echo "$release" > "$instance_root/.kto-release"
fi
# Its credentials are in there: for the runner user alone (the copy took the release's mode).
chmod 0700 "$instance_root"

extra=()
IFS=',' read -ra wanted <<< "${KTO_RUNNER_LABELS:-}"
for label in "${wanted[@]}"; do [ -n "$label" ] && extra+=(--label "$label"); done

# Leftovers of a job whose runner died with it, before taking a new one.
node "$kto_dir/bin/kto.js" host cleanup

name="$(hostname -s)-$instance-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
registration=${KTO_RUNNER_REGISTRATION:-token}
case "$registration" in
  token)
    # An ephemeral runner removes its registration when its job is done; one whose host died
    # mid-job left it here, and config.sh registers nothing over it.
    rm -f "$instance_root/.runner" "$instance_root/.credentials" "$instance_root/.credentials_rsaparams"
    KTO_RUNNER_REGISTRATION_SECRET=$registration_secret node "$kto_dir/bin/kto.js" host register --runner-dir "$instance_root" --name "$name" "${extra[@]}"
    ;;
  jit)
    jitconfig=$(KTO_RUNNER_REGISTRATION_SECRET=$registration_secret node "$kto_dir/bin/kto.js" host register --name "$name" "${extra[@]}")
    # The JIT config holds the runner's credentials. A command line is world-readable
    # (/proc/<pid>/cmdline); an environment only to its user and root. The runner takes
    # every option from ACTIONS_RUNNER_INPUT_<OPTION> as well, and Runner.Listener drops
    # those variables from its environment before it starts a job.
    export ACTIONS_RUNNER_INPUT_JITCONFIG="$jitconfig"
    ;;
  *)
    echo "kto: KTO_RUNNER_REGISTRATION=\"$registration\": expected token or jit" >&2
    exit 2
    ;;
esac

# Every job ends with the hook, whatever ended it.
export ACTIONS_RUNNER_HOOK_JOB_COMPLETED="$here/job-completed.sh"
export KTO_DIR="$kto_dir"
# The hook empties only a workspace inside this instance's directory.
export KTO_RUNNER_ROOT="$instance_root"
exec "$instance_root/run.sh"
