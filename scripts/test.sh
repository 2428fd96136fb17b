#!/usr/bin/env bash
# Set up and run the whole test suite (lint, migrations check, pytest). Extra args go to pytest.
# Uses SQLite and the filesystem broker unless DATABASE_URL / REDIS_URL are set (.ci/run sets
# both to the local PostgreSQL and Redis).
. "$(dirname "$0")/_env.sh" requirements-dev.txt
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Chromium for the browser tests …"
  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) \
    || echo "Chromium could not be installed: browser tests will be skipped." >&2
fi
ruff check .
python manage.py makemigrations --check --dry-run >/dev/null \
  || { echo "Model changes without migrations: run manage.py makemigrations" >&2; exit 1; }
# pytest exits 5 when it collected no test: set -e turns that into a failure too.
python -m pytest "$@"
