#!/usr/bin/env bash
# One-command set-up and run. Usage:
#   ./dev.sh evaluate GENERATED --reference REAL --metrics fid,kid   # user install, then genmetrics
#   ./dev.sh test [pytest args]     # ruff, the user-install smoke job, then the test suite
#                                   # (installs chromium for the browser test when it can)
#   ./dev.sh pytest [pytest args]   # the test suite alone (developer venv)
#   ./dev.sh smoke                  # the user-install smoke job alone
#   ./dev.sh genmetrics ARGS...     # any genmetrics command (user install)
#
# Two virtual environments, so that a missing dependency cannot hide:
#   .venv-user  what a user gets: the built wheel, no extras (`pip install genmetrics`);
#   .venv       the developer's: editable install with the test extras.
# torch is installed first in both (TORCH_SPEC, default torch==2.13.0) and pinned by
# constraints.txt, so nothing else can pull another build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
PY=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

pipq() { "$1/bin/python" -m pip install -q --disable-pip-version-check "${@:2}" 2> >(grep -v "is ignored" >&2); }

source_digest() {
  { echo "$TORCH_SPEC"; find src pyproject.toml constraints.txt -type f -not -path '*/__pycache__/*' \
      -not -name '*.pyc' | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -c1-16
}

install_dev() {
  local stamp=.venv/.genmetrics-installed want
  want="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16) $TORCH_SPEC test"
  if [ -f "$stamp" ] && grep -qx "$want" "$stamp"; then return; fi
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  pipq .venv "$TORCH_SPEC"
  pipq .venv -c constraints.txt -e ".[test]"
  .venv/bin/python -c "import genmetrics, torch" >/dev/null
  echo "$want" > "$stamp"
}

# The user's path: build a wheel of this tree and install it without extras into .venv-user.
install_user() {
  local venv=${1:-.venv-user} stamp want wheeldir
  stamp=$venv/.genmetrics-installed
  want=$(source_digest)
  if [ -f "$stamp" ] && grep -qx "$want" "$stamp"; then return; fi
  [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
  pipq "$venv" "$TORCH_SPEC"
  wheeldir=$(mktemp -d)
  "$venv/bin/python" -m pip wheel -q --disable-pip-version-check --no-deps -w "$wheeldir" . >/dev/null
  pipq "$venv" -c constraints.txt --force-reinstall --no-deps "$wheeldir"/genmetrics-*.whl
  pipq "$venv" -c constraints.txt "$wheeldir"/genmetrics-*.whl
  rm -rf "$wheeldir"
  echo "$want" > "$stamp"
}

# The browser test of the HTML report (tests/browser) needs Debian's chromium: install it when
# absent and this user can (root with apt-get); otherwise say once why that test is skipped.
ensure_chromium() {
  [ -x /usr/bin/chromium ] && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "dev.sh: installing chromium for the browser test (tests/browser)"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; } \
      >/tmp/genmetrics-chromium.log 2>&1 \
      || echo "dev.sh: chromium could not be installed (see /tmp/genmetrics-chromium.log); tests/browser will be skipped"
  else
    echo "dev.sh: /usr/bin/chromium is absent and installing it needs root and apt-get; tests/browser will be skipped (install chromium to run it)"
  fi
}

# pytest prints the 10 slowest tests: the suite must stay under 10 minutes on 2 cores
PYTEST_ARGS=(-q -p no:cacheprovider --durations=10)

cmd=${1:-test}
shift || true
case "$cmd" in
  test)
    install_dev
    .venv/bin/ruff check src tests benchmarks
    .venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache
    install_user
    GENMETRICS_USER_VENV=.venv-user bash tests/smoke/user_install.sh
    ensure_chromium
    exec .venv/bin/python -m pytest "${PYTEST_ARGS[@]}" "$@"
    ;;
  pytest)
    install_dev
    exec .venv/bin/python -m pytest "${PYTEST_ARGS[@]}" "$@"
    ;;
  smoke)
    install_user
    GENMETRICS_USER_VENV=.venv-user exec bash tests/smoke/user_install.sh
    ;;
  genmetrics)
    install_user
    exec .venv-user/bin/genmetrics "$@"
    ;;
  *)
    install_user
    exec .venv-user/bin/genmetrics "$cmd" "$@"
    ;;
esac
