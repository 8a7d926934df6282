#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on loopback for the store's contract tests (once; later
# calls find it running) and prints its URL. Needs Debian's postgresql package.
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$PGBIN" ] || { echo "test-postgres: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
DIR=${KTO_TEST_PG_DIR:-/tmp/kto-test-pg}
PORT=${KTO_TEST_PG_PORT:-55432}
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if ! "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  rm -rf "$DIR"
  mkdir -p "$DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$DIR"
  as_owner "$PGBIN/initdb" -D "$DIR/data" -A trust -U postgres >/dev/null
  as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -o "-h 127.0.0.1 -p $PORT -k $DIR -c fsync=off" -w start >/dev/null
fi
echo "postgres://postgres@127.0.0.1:$PORT/postgres"
