#!/usr/bin/env bash
# Set up and run the whole test suite (lint, migrations check, pytest). Extra args go to pytest.
# Uses SQLite and the filesystem broker unless DATABASE_URL / REDIS_URL are set (.ci/run sets
# both to the local PostgreSQL and Redis).
. "$(dirname "$0")/_env.sh" requirements-dev.txt
# System tools some tests drive: Chromium (browser tests) and nginx (`nginx -t` on the shipped
# site config). Installed when missing and we are root on Debian/Ubuntu; otherwise those tests say so.
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium chromium-driver"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx-light"
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing$missing for the browser and deploy tests …"
  # shellcheck disable=SC2086  # one word per package
  (apt-get update -qq && apt-get install -y -qq $missing >/dev/null) \
    || echo "Could not install$missing: the tests that need them will say so." >&2
fi
ruff check .
python manage.py makemigrations --check --dry-run >/dev/null \
  || { echo "Model changes without migrations: run manage.py makemigrations" >&2; exit 1; }
# pytest exits 5 when it collected no test: set -e turns that into a failure too.
python -m pytest "$@"
