#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL 15 cluster on 127.0.0.1 and a free port.
#   eval "$(.ci/postgres.sh start)"   -> exports DATABASE_URL and PG_THROWAWAY_DIR
#   .ci/postgres.sh stop "$PG_THROWAWAY_DIR"
#   .ci/postgres.sh pause DIR / resume DIR   -> fast shutdown, then the same cluster again on the
#                                               same port (outage tests: test/durability.test.ts)
# PG_SERVER_OPTIONS adds server settings, e.g. "-c shared_buffers=1GB" (the bench sizes its cache).
# initdb refuses to run as root, so as root the cluster belongs to the `postgres` OS user.
set -euo pipefail
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

case "${1:-}" in
  start)
    dir=$(mktemp -d /tmp/mg-pg.XXXXXX)
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    port=$(free_port)
    as_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    # Kept for `resume`: the same port and settings.
    echo "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=200 -c fsync=on ${PG_SERVER_OPTIONS:-}" >"$dir/server.options"
    as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$(cat "$dir/server.options")" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "export DATABASE_URL=postgresql://postgres@127.0.0.1:$port/postgres"
    echo "export PG_THROWAWAY_DIR=$dir"
    ;;
  pause)
    # Fast shutdown: open sessions are terminated (SQLSTATE 57P01), new connections refused.
    dir=${2:?usage: postgres.sh pause DIR}
    as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null || { tail -n 20 "$dir/server.log" >&2; exit 1; }
    ;;
  resume)
    dir=${2:?usage: postgres.sh resume DIR}
    as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$(cat "$dir/server.options")" \
      start >/dev/null || { tail -n 20 "$dir/server.log" >&2; exit 1; }
    ;;
  stop)
    dir=${2:?usage: postgres.sh stop DIR}
    as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start | pause DIR | resume DIR | stop DIR" >&2
    exit 2
    ;;
esac
