#!/usr/bin/env bash
# Starts or stops a throwaway Redis on 127.0.0.1 and a free port, keeping nothing on disk.
#   eval "$(.ci/redis.sh start)"   -> exports REDIS_URL and REDIS_THROWAWAY_DIR (nothing when no redis-server)
#   .ci/redis.sh stop "$REDIS_THROWAWAY_DIR"
# Redis is optional for the service (REDIS_URL shares rate-limit counters); its tests run when set.
set -euo pipefail

case "${1:-}" in
  start)
    command -v redis-server >/dev/null || { echo "echo 'redis-server not installed: REDIS_URL tests skipped' >&2"; exit 0; }
    dir=$(mktemp -d /tmp/mg-redis.XXXXXX)
    port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize yes \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" >/dev/null
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    echo "export REDIS_URL=redis://127.0.0.1:$port"
    echo "export REDIS_THROWAWAY_DIR=$dir"
    ;;
  stop)
    dir=${2:-}
    [ -n "$dir" ] && [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
    [ -n "$dir" ] && rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start | stop DIR" >&2
    exit 2
    ;;
esac
