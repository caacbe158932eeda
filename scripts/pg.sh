#!/usr/bin/env bash
# Start a throwaway PostgreSQL on 127.0.0.1 for the test suite, as the postgres user (initdb
# refuses root). Prints the URL to use as ROUGHTRACE_TEST_PG. Usage: scripts/pg.sh start|stop
set -euo pipefail
PGPORT=${PGPORT:-54329}
PGDATA=${PGDATA:-/tmp/roughtrace-pg}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
case "${1:-start}" in
  start)
    if [ -z "$BIN" ]; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null
      BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    if ! as_pg "$BIN/pg_isready -q -h 127.0.0.1 -p $PGPORT"; then
      # a cluster left by an earlier start is started again, keeping what benchmarks stored in it
      if [ ! -f "$PGDATA/PG_VERSION" ]; then
        rm -rf "$PGDATA"; mkdir -p "$PGDATA"; chown postgres "$PGDATA" 2>/dev/null || true
        as_pg "$BIN/initdb -D $PGDATA -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null"
      fi
      as_pg "$BIN/pg_ctl -D $PGDATA -o '-h 127.0.0.1 -p $PGPORT -k /tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off' -l $PGDATA/log -w start >/dev/null"
    fi
    as_pg "$BIN/psql -q -h 127.0.0.1 -p $PGPORT -U postgres -tc \"SELECT 1 FROM pg_database WHERE datname='roughtrace_test'\" | grep -q 1 || $BIN/createdb -h 127.0.0.1 -p $PGPORT -U postgres roughtrace_test"
    echo "postgresql://postgres@127.0.0.1:$PGPORT/roughtrace_test"
    ;;
  stop)
    as_pg "$BIN/pg_ctl -D $PGDATA -m fast stop >/dev/null" || true
    ;;
esac
