#!/usr/bin/env bash
# Start devfleet's production stack natively — gunicorn (deploy/gunicorn.conf.py), a Celery
# worker and Celery beat on a fresh PostgreSQL database and Redis, production settings — run
# deploy/smoke_test.py against it, and stop everything. Exits non-zero on any failure.
# CI (.ci/run) runs it; locally: bash deploy/run-production-stack.sh
#   SMOKE_PG_HOST/PORT/USER  PostgreSQL to use (127.0.0.1, 5432, postgres; trust or PGPASSWORD)
#   SMOKE_DB                 database created afresh and dropped afterwards (devfleet_smoke_PID)
#   SMOKE_REDIS_URL          Redis (redis://127.0.0.1:6379/14); tasks use a queue of their own
#   SMOKE_KEEP=1             keep the logs directory
#   SMOKE_WAIT_S             how long services may take to start or answer (60)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV_BIN=${VENV_BIN:-$ROOT/.venv/bin}
PG_HOST=${SMOKE_PG_HOST:-127.0.0.1}
PG_PORT=${SMOKE_PG_PORT:-5432}
PG_USER=${SMOKE_PG_USER:-postgres}
DB=${SMOKE_DB:-devfleet_smoke_$$}  # one per run: concurrent runs must not share it
REDIS=${SMOKE_REDIS_URL:-redis://127.0.0.1:6379/14}
started=$(date +%s)

fail() { echo "PRODUCTION STACK FAILED: $*" >&2; exit 1; }
[ -x "$VENV_BIN/gunicorn" ] || fail "no $VENV_BIN/gunicorn: run scripts/test.sh or scripts/run.sh once"
pg_isready -q -h "$PG_HOST" -p "$PG_PORT" || fail "PostgreSQL is not answering on $PG_HOST:$PG_PORT"
"$VENV_BIN/python" - "$REDIS" 2>/dev/null <<'PY' || fail "Redis is not answering at $REDIS"
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=3).ping()
PY

WORK=$(mktemp -d "${TMPDIR:-/tmp}/devfleet-prod.XXXXXX")
LOGS=$WORK/log
mkdir -p "$LOGS"
PORT=$("$VENV_BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SECRET=$("$VENV_BIN/python" -c 'import secrets; print(secrets.token_urlsafe(50))')

# Production settings from a clean environment: no debug, no development key, PostgreSQL,
# Redis. Only DEVFLEET_SECURE is off, because this stack speaks plain HTTP on localhost
# (the TLS settings are checked with check --deploy below and in tests/deploy).
STACK_ENV=(
  PATH="$VENV_BIN:/usr/local/bin:/usr/bin:/bin" HOME="$WORK" LANG=C.UTF-8 PYTHONUNBUFFERED=1
  DJANGO_SETTINGS_MODULE=config.settings
  DEBUG=false DEVFLEET_SECURE=false DEVFLEET_INSECURE_DEV_KEY=false SECRET_KEY="$SECRET"
  ALLOWED_HOSTS=127.0.0.1,localhost CSRF_TRUSTED_ORIGINS="http://127.0.0.1:$PORT"
  DEVFLEET_BASE_URL="http://127.0.0.1:$PORT" DEVFLEET_VAR_DIR="$WORK/var"
  DATABASE_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$DB" REDIS_URL="$REDIS"
  CELERY_QUEUE="devfleet-smoke-$$" LOG_LEVEL=INFO
  GUNICORN_BIND="127.0.0.1:$PORT" GUNICORN_WORKERS=2 GUNICORN_THREADS=4
  GUNICORN_ACCESS_LOG="$LOGS/access.log" GUNICORN_ERROR_LOG="$LOGS/web.log"
)
[ -n "${PGPASSWORD:-}" ] && STACK_ENV+=(PGPASSWORD="$PGPASSWORD")
in_stack() { env -i "${STACK_ENV[@]}" "$@"; }
# Start a service in the background; `exec` makes $! the service itself (not a subshell around
# it), so that stopping it by pid really stops it.
start() {
  local log=$1
  shift
  (exec env -i "${STACK_ENV[@]}" "$@" >>"$log" 2>&1) &
  pids+=($!)
}

pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local stopping killed=0
  stopping=$(date +%s)
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || continue
    pkill -KILL -P "$pid" 2>/dev/null || true  # its gunicorn workers / celery pool processes
    kill -KILL "$pid" 2>/dev/null && killed=$((killed + 1))
  done
  wait 2>/dev/null || true
  echo "services stopped in $(( $(date +%s) - stopping )) s ($killed needed SIGKILL)"
  if [ "$rc" != 0 ]; then
    for log in "$LOGS"/*.log; do
      [ -s "$log" ] && { echo "---- $(basename "$log") (last lines)"; tail -n 25 "$log"; }
    done >&2
  fi
  dropdb --if-exists --force -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$DB" 2>/dev/null || true
  if [ "${SMOKE_KEEP:-0}" = 1 ]; then echo "logs kept in $LOGS"; else rm -rf "$WORK"; fi
  echo "production stack stopped after $(( $(date +%s) - started )) s (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== fresh database $DB on $PG_HOST:$PG_PORT, Redis $REDIS, port $PORT"
dropdb --if-exists --force -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$DB" 2>/dev/null
createdb -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$DB" || fail "cannot create database $DB"

echo "== check --deploy with DEVFLEET_SECURE=true"
in_stack DEVFLEET_SECURE=true python manage.py check --deploy --fail-level WARNING \
  || fail "manage.py check --deploy reports problems under production settings"
echo "== migrate, collectstatic"
in_stack python manage.py migrate --noinput >"$LOGS/migrate.log" 2>&1 \
  || { tail -n 30 "$LOGS/migrate.log" >&2; fail "migrate failed"; }
in_stack python manage.py collectstatic --noinput -v 0 || fail "collectstatic failed"

echo "== starting gunicorn, celery worker, celery beat"
start "$LOGS/web.log" gunicorn -c deploy/gunicorn.conf.py
start "$LOGS/worker.log" celery -A config worker --loglevel=INFO --concurrency=2 \
  --hostname="smoke$$@%h"
start "$LOGS/beat.log" celery -A config beat --loglevel=INFO \
  --schedule="$WORK/var/celerybeat-schedule" --pidfile="$WORK/beat.pid"
beat_pid=${pids[-1]}

in_stack SMOKE_BASE_URL="http://127.0.0.1:$PORT" SMOKE_BEAT_PID="$beat_pid" \
  SMOKE_BEAT_LOG="$LOGS/beat.log" SMOKE_WAIT_S="${SMOKE_WAIT_S:-60}" python deploy/smoke_test.py \
  || fail "smoke test failed (logs below)"
in_stack python deploy/healthcheck.py || fail "deploy/healthcheck.py reports the web server unhealthy"
for pid in "${pids[@]}"; do
  kill -0 "$pid" 2>/dev/null || fail "a service (pid $pid) died during the smoke test"
done
