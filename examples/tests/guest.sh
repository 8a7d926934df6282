#!/bin/sh
# Runs inside kto's guest (busybox initramfs, workspace mounted read-only at /workspace) and
# prints KTAP the way KUnit does. The second case fails on purpose.
echo "KTAP version 1"
echo "1..1"
echo "    KTAP version 1"
echo "    # Subtest: guest"
echo "    1..2"
if grep -q "^9p " /proc/filesystems || grep -q 9p /proc/mounts; then
  echo "    ok 1 - workspace_mounted_over_9p"
else
  echo "    not ok 1 - workspace_mounted_over_9p"
fi
echo "    # kernel_release: EXPECTATION FAILED at examples/tests/guest.sh:16"
echo "    Expected release to start with 5., but it is $(uname -r)"
echo "    not ok 2 - kernel_release"
echo "not ok 1 - guest"
cat /proc/version > "$KTO_RESULTS/version.txt"
