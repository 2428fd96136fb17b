#!/usr/bin/env bash
# Long schemathesis run over the OpenAPI document: SCHEMATHESIS_EXAMPLES (default 1,000)
# generated cases per operation on top of schemathesis' example and coverage phases, with valid
# credentials so requests get past 401. Prints the requests actually sent per operation and
# status; writes them as JSON to SCHEMATHESIS_COUNTS_FILE (default var/schemathesis-counts.json).
# SQLite unless DATABASE_URL is set, e.g.
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/13 \
#     bash bench/schemathesis_full.sh
# SCHEMATHESIS_NAME_REGEX="POST /api/v1/reports" runs the matching operations only; extra
# arguments go to pytest. Fails on any server error.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
export SCHEMATHESIS_EXAMPLES="${SCHEMATHESIS_EXAMPLES:-1000}"
export SCHEMATHESIS_COUNTS_FILE="${SCHEMATHESIS_COUNTS_FILE:-var/schemathesis-counts.json}"
mkdir -p "$(dirname "$SCHEMATHESIS_COUNTS_FILE")"
echo "schemathesis: ${SCHEMATHESIS_EXAMPLES} generated cases per operation on ${DATABASE_URL:-SQLite}"
start=$(date +%s)
"$PYTHON" -m pytest tests/api/test_schemathesis.py -p no:cacheprovider -q --durations=0 "$@"
echo "took $(( $(date +%s) - start )) s; counts in ${SCHEMATHESIS_COUNTS_FILE}"
