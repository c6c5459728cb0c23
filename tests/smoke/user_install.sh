#!/usr/bin/env bash
# The user's path, end to end: a venv holding the built wheel without extras (made by
# `./dev.sh smoke` / `./dev.sh test`), run as a user would, offline, in a scratch home.
# Every step asserts its exit code; a failure prints the step and stops the run.
set -euo pipefail
VENV=${GENMETRICS_USER_VENV:-.venv-user}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHARED=${GENMETRICS_SHARED:-$ROOT/../shared}
GM="$(cd "$VENV" && pwd)/bin/genmetrics"
PYU="$(cd "$VENV" && pwd)/bin/python"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export GENMETRICS_HOME=$WORK/home GENMETRICS_OFFLINE=1 HF_HUB_OFFLINE=1
cd "$WORK"

step() { printf 'smoke: %s\n' "$*"; }
expect() {  # expect CODE CMD... : run, check the exit code, keep stderr for inspection
  local want=$1; shift
  set +e; "$@" >"$WORK/out" 2>"$WORK/err"; local got=$?; set -e
  if [ "$got" != "$want" ] || grep -q Traceback "$WORK/err"; then
    echo "smoke: FAILED (exit $got, wanted $want): $*" >&2; cat "$WORK/out" "$WORK/err" >&2; exit 1
  fi
}

step "the user venv holds no test extra"
expect 0 "$PYU" -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) for m in ('transformers', 'diffusers', 'pytest')))"

step "images made here: 12 generated, 12 real, one pair"
"$PYU" - <<'PY'
import numpy as np
from PIL import Image
from pathlib import Path
rng = np.random.default_rng(0)
for side, shift in (("gen", 0), ("real", 40)):
    Path(side).mkdir()
    for i in range(12):
        h, w = (96, 128) if i % 2 else (120, 90)
        base = rng.integers(0, 200, (h, w, 3)) + shift
        Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(f"{side}/{i:03d}.png")
a = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)
Image.fromarray(a).save("a.png")
Image.fromarray(np.clip(a.astype(int) + 3, 0, 255).astype(np.uint8)).save("b.png")
PY

step "genmetrics version / metrics"
expect 0 "$GM" version
expect 0 "$GM" metrics

step "pair"
expect 0 "$GM" pair a.png b.png --format json
grep -q '"psnr"' "$WORK/out"

step "pair --format html: one self-contained report"
expect 0 "$GM" pair a.png b.png --format html
grep -q '<!DOCTYPE html>' "$WORK/out" && grep -q 'data:image/' "$WORK/out"
if grep -qi '<script' "$WORK/out"; then echo "smoke: FAILED: a <script> in the HTML report" >&2; exit 1; fi

step "suites export hpdv2"
expect 0 "$GM" suites export hpdv2 --format jsonl
[ "$(wc -l <"$WORK/out")" -eq 3200 ]

step "CLIP metrics without the clip extra: one line naming the extra"
expect 2 "$GM" evaluate gen --metrics clip_score --prompts "$WORK/out"
grep -q "genmetrics\[clip\]" "$WORK/err"

INCEPTION=$SHARED/weights/inception/fid_inception_tf20151205_torchscript.pt
if [ -f "$INCEPTION" ]; then
  step "weights import inception (fid-helper TorchScript, pool3 only)"
  expect 0 "$GM" weights import inception "$INCEPTION"
  expect 0 "$GM" weights verify
  step "evaluate --metrics fid,kid"
  expect 0 "$GM" evaluate gen --reference real --metrics fid,kid --kid-subset-size 6 --format json --out res
  "$PYU" -c "import json,sys; d=json.load(open('res/summary.json')); m=d['metrics']; assert m['fid']['value'] > 0 and 'kid' in m, d"
  step "evaluate --format html --out: report.html"
  expect 0 "$GM" evaluate gen --reference real --metrics fid --format html --out res-html
  grep -q '<!DOCTYPE html>' res-html/report.html
  step "genmetrics report on a saved folder"
  expect 0 "$GM" report res --out again.html
  grep -q '<!DOCTYPE html>' again.html
  step "stats --features inception, then fid,sfid from the .npz"
  expect 0 "$GM" stats real --out real.npz --features inception
  expect 0 "$GM" evaluate gen --reference real.npz --metrics fid,sfid --format json
  "$PYU" -c "import json,sys; m=json.load(open('$WORK/out'))['metrics']; assert m['fid']['value'] > 0 and m['sfid']['value'] > 0, m"
  step "--ray without the ray extra: one line naming it"
  expect 2 "$GM" evaluate gen --reference real --metrics fid --ray local
  grep -q "genmetrics\[ray\]" "$WORK/err"
  step "is with pool3-only weights: exit 2 naming is"
  expect 2 "$GM" evaluate gen --metrics is
  grep -q "^error: is needs" "$WORK/err"
else
  step "SKIPPED weights import and evaluate: $INCEPTION is absent"
fi
step "all passed"
