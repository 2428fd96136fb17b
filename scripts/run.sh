#!/usr/bin/env bash
# Quick start: set up devfleet and run web server + Celery worker + beat with a demo fleet.
# Embedded defaults: SQLite and a filesystem broker (no server needed). Set DATABASE_URL and
# REDIS_URL to run the same thing on PostgreSQL and Redis. Ctrl-C stops everything.
. "$(dirname "$0")/_env.sh" requirements.txt
PORT=${PORT:-8000}
DEMO_MACHINES=${DEMO_MACHINES:-40}
DEMO_HOURS=${DEMO_HOURS:-6}
export DEVFLEET_BASE_URL=${DEVFLEET_BASE_URL:-http://127.0.0.1:$PORT}
LOG_DIR=${DEVFLEET_VAR_DIR:-$ROOT/var}/log
mkdir -p "$LOG_DIR"

python manage.py migrate --noinput
python manage.py collectstatic --noinput -v 0
python manage.py setup_demo

pids=()
# Stop everything; whatever has not exited after 15 s is killed. (A group-wide signal, as from
# Ctrl-C or `timeout`, also reaches the worker's pool processes, and billiard's pool can then
# hang in its shutdown waiting for a lock a dead child held.)
cleanup() {
  trap - INT TERM EXIT
  kill "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 1 30); do
    kill -0 "${pids[@]}" 2>/dev/null || break
    sleep 0.5
  done
  kill -9 "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

celery -A config worker --loglevel=INFO --concurrency=2 >"$LOG_DIR/worker.log" 2>&1 &
pids+=($!)
celery -A config beat --loglevel=INFO >"$LOG_DIR/beat.log" 2>&1 &
pids+=($!)
# Django logs to stderr (request warnings such as "Not Found: …"): into web.log, not the terminal.
gunicorn config.wsgi:application --bind "127.0.0.1:$PORT" --workers 2 --threads 4 \
  --access-logfile "$LOG_DIR/access.log" --error-logfile "$LOG_DIR/web.log" \
  >>"$LOG_DIR/web.log" 2>&1 &
pids+=($!)

up=
for _ in $(seq 1 120); do
  # (no -S: "Couldn't connect" while gunicorn is still starting is expected, not an error)
  if curl -fs -o /dev/null "http://127.0.0.1:$PORT/api/v1/openapi.json"; then up=1; break; fi
  kill -0 "${pids[2]}" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$up" ]; then
  echo "devfleet did not start on port $PORT; the last lines of $LOG_DIR/web.log:" >&2
  tail -n 20 "$LOG_DIR/web.log" >&2
  exit 1
fi
echo "devfleet is up at $DEVFLEET_BASE_URL (logs in $LOG_DIR)"

# The demo fleet: history through the real ingest path, then live agents posting over HTTP.
# History arrives in 10-minute batches, the way an agent drains its spool after an outage.
python manage.py simulate_fleet --machines "$DEMO_MACHINES" --hours "$DEMO_HOURS" --seed 1 \
  --batch 40 --manifest "$LOG_DIR/demo-manifest.json"
# One full detection pass now, so every seeded problem shows at once (beat's every-minute
# passes read each machine's long-window trends only every few minutes).
python manage.py evaluate_fleet
python manage.py simulate_fleet --machines "$DEMO_MACHINES" --hours 0.1 --seed 1 --live \
  --server "http://127.0.0.1:$PORT" >"$LOG_DIR/live-agents.log" 2>&1 &
pids+=($!)
python manage.py setup_demo --summary
echo "Press Ctrl-C to stop."
wait -n "${pids[@]}"
