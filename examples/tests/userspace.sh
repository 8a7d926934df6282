#!/bin/sh
# A userspace suite printing TAP 13: the second case fails on purpose.
echo "TAP version 13"
echo "1..3"
if [ "$(id -u)" != 0 ]; then echo "ok 1 - runs unprivileged"; else echo "not ok 1 - runs unprivileged"; fi
if ! touch /should-be-read-only 2>/dev/null; then echo "ok 2 - root filesystem is read-only"; else echo "not ok 2 - root filesystem is read-only"; fi
expected=4
actual=$((2 + 1))
if [ "$actual" = "$expected" ]; then
  echo "ok 3 - arithmetic"
else
  echo "not ok 3 - arithmetic"
  echo "  ---"
  echo "  message: expected $expected, got $actual"
  echo "  at: { file: examples/tests/userspace.sh, line: 9 }"
  echo "  ..."
fi
uname -a > "$KTO_RESULTS/uname.txt"
