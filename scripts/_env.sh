# Shared by run.sh and test.sh: create the virtualenv and install what the given requirements need.
# usage: . scripts/_env.sh REQUIREMENTS_FILE
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python3}
# The server needs 3.11 (tomllib; the pinned numpy 2.4 has no wheels for older Pythons), as
# pyproject.toml's requires-python says. The agent alone runs on older ones (agent/README.md).
too_old() { ! "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
if too_old "$PYTHON"; then
  echo "devfleet's server needs Python 3.11 or newer; $PYTHON is" \
    "$("$PYTHON" --version 2>/dev/null || echo "not runnable"). Install Python 3.11+ and run again" \
    "with PYTHON=/path/to/python3.11 (or newer)." >&2
  exit 1
fi
if [ -x .venv/bin/python ] && too_old .venv/bin/python; then
  echo "The existing .venv uses $(.venv/bin/python --version 2>&1); the server needs 3.11 or" \
    "newer. Remove .venv and run again." >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# Re-install only when the requirements changed since the last successful install.
# One stamp per requirements file, so that alternating run.sh and test.sh does not reinstall.
stamp=.venv/.installed-$(basename "$1" .txt)-$(cat "$1" requirements.txt agent/pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "Installing dependencies into .venv …"
  # (grep drops the "Location … is ignored" noise some pip configurations print)
  .venv/bin/pip install -q --disable-pip-version-check -r "$1" -e ./agent 2>&1 \
    | { grep -v "^WARNING: Location" || true; }
  [ "${PIPESTATUS[0]}" = 0 ] || { echo "pip install failed" >&2; exit 1; }
  # (the other file's stamp stays: both hash requirements.txt, so a change there is seen by
  # both, and installing the smaller set uninstalls nothing the other one needs)
  rm -f .venv/.installed-"$(basename "$1" .txt)"-????????????????
  touch "$stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"
