#!/usr/bin/env bash
# Run manage.py with the project's virtualenv from any directory, e.g.
#   scripts/manage.sh create_enrollment_token --team Platform
# The virtualenv is created first when missing (as run.sh and test.sh do).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  (. "$ROOT/scripts/_env.sh" requirements.txt)
fi
exec "$ROOT/.venv/bin/python" "$ROOT/manage.py" "$@"
