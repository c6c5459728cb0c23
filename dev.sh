#!/usr/bin/env bash
# One-command set-up and run. Usage:
#   ./dev.sh evaluate GENERATED --reference REAL --metrics fid,kid,is   # installs, then runs genmetrics
#   ./dev.sh test [pytest args]                                         # installs, lints, runs the tests
#   ./dev.sh genmetrics ARGS...                                         # any other genmetrics command
# The virtual environment lives in .venv; torch is installed first (TORCH_SPEC, default
# torch==2.13.0) and pinned by constraints.txt so nothing else can pull another build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
PY=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
stamp=.venv/.genmetrics-installed
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16) $TORCH_SPEC"

install() {
  extras=$1
  if [ -f "$stamp" ] && grep -qx "$want $extras" "$stamp"; then return; fi
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  pipq() { .venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "is ignored" >&2); }
  pipq "$TORCH_SPEC"
  pipq -c constraints.txt -e ".[$extras]"
  .venv/bin/python -c "import genmetrics, torch" >/dev/null
  echo "$want $extras" > "$stamp"
}

cmd=${1:-test}
shift || true
case "$cmd" in
  test)
    install test
    .venv/bin/ruff check src tests benchmarks
    exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
    ;;
  genmetrics)
    install test
    exec .venv/bin/genmetrics "$@"
    ;;
  *)
    install test
    exec .venv/bin/genmetrics "$cmd" "$@"
    ;;
esac
