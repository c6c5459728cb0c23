"""The HTML report in a real browser: headless Chromium loads it offline, takes a screenshot
and dumps the DOM. Checks: the page rendered (a screenshot that is not blank), no console
message (no error, no refused load), and the ``<script>`` injected through a prompt did not
run (the title is unchanged and the element it would add is absent).

Needs Debian's ``chromium`` (``.ci/run`` installs it when absent); skipped, saying why, when
``/usr/bin/chromium`` is not there. ``GENMETRICS_SCREENSHOT_DIR`` keeps the screenshot.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.results.render.parse import Page
from tests.results.render.runs import build_compare

CHROMIUM = Path(os.environ.get("GENMETRICS_CHROMIUM", "/usr/bin/chromium"))
pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(),
    reason=f"{CHROMIUM} is absent (Debian package 'chromium'; .ci/run installs it with apt-get)",
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    cmd = [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    return build_compare(tmp_path_factory.mktemp("browser")) / "report.html"


def test_page_renders_without_errors_and_the_script_does_not_run(report, tmp_path):
    url = report.resolve().as_uri()
    shot = tmp_path / "report.png"
    run = _chromium(
        tmp_path, "--enable-logging=stderr", "--v=0", "--window-size=1300,2400",
        f"--screenshot={shot}", url,
    )
    assert shot.is_file(), run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if re.search(r"CONSOLE\(\d+\)|Refused to", line)]
    assert console == [], console
    with Image.open(shot) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.float64)
    assert arr.shape[:2] == (2400, 1300)
    assert arr.std() > 20  # not a blank page
    colours = np.unique(arr.reshape(-1, 3)[::97], axis=0)
    assert len(colours) > 50  # text, tables, plots and thumbnails
    assert (arr[..., 0] > 150).mean() > 0.3  # mostly light background: the page was styled
    keep = os.environ.get("GENMETRICS_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report.png")

    dom = _chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "<title>comparison against base</title>" in html
    page = Page(html)  # the DOM after the page ran: no element came from a prompt
    assert not [t for t, _ in page.tags if t == "script"]
    for tag, attrs in page.tags:
        assert not [k for k in attrs if k.startswith("on")], (tag, attrs)
        if tag == "img":
            assert (attrs.get("src") or "").startswith("data:image/"), attrs
    assert 'id="injected"' not in html and "<p id=injected" not in html
    assert "&lt;script&gt;document.title='PWNED'" in html  # the prompt is shown, as text
    assert "<script" not in html.lower()
