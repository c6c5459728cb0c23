"""A small comparison run with the fake ``brightness`` metric, for the report tests.

Three styles × 12 prompts, three folders: ``base``; ``fast`` (darker on the ``city`` style,
a little brighter elsewhere) and ``faster`` (darker everywhere, one image missing). Prompts and
the variant names carry HTML that must show as text: ``<script>`` (it would set
``document.title`` and add an element) and ``"><img onerror=…>``.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

STYLES = ("city", "forest", "sea")
N = 12
SCRIPT_PROMPT = (
    "<script>document.title='PWNED';document.body.insertAdjacentHTML('beforeend',"
    "'<p id=injected>injected</p>')</script> a red city at night"
)
IMG_PROMPT = '"><img src=x onerror="document.title=\'PWNED2\'"> a quiet forest'
NASTY_NAME = 'fast"><img src=y onerror=alert(1)>'


def prompts() -> dict[str, list[str]]:
    out = {s: [f"a {s} scene number {i}, golden hour, detailed" for i in range(N)] for s in STYLES}
    out["city"][0] = SCRIPT_PROMPT
    out["forest"][1] = IMG_PROMPT
    return out


def _image(style_index: int, i: int, shift: int) -> np.ndarray:
    """A 64×64 picture: a sky gradient, a coloured disc, brightness moved by ``shift``."""
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float64)
    hue = np.array([[200, 90, 60], [40, 140, 60], [30, 90, 200]][style_index], dtype=np.float64)
    img = (0.35 + 0.65 * (1 - yy / 64))[..., None] * hue[None, None, :] + 40
    cx, cy = 16 + (i * 5) % 32, 20 + (i * 7) % 24
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 < (6 + i % 5) ** 2
    img[disc] = [240, 220 - 10 * (i % 4), 80 + 12 * i]
    return np.clip(img + shift, 0, 255).astype(np.uint8)


def make_sets(root: Path) -> tuple[Path, dict[str, Path]]:
    """Write the suite file and the three folders; returns (suite, {name: folder})."""
    root.mkdir(parents=True, exist_ok=True)
    suite = root / "suite.json"
    suite.write_text(json.dumps(prompts()))
    folders = {name: root / name for name in ("base", "fast", "faster")}
    for si, style in enumerate(STYLES):
        for i in range(N):
            shifts = {
                "base": 0,
                "fast": (-12 - 4 * (i % 3) - 18 * (i == 0)) if style == "city" else 2 + i % 2 + 6 * (i == 1),
                "faster": -3 - (i % 4),
            }
            for name, folder in folders.items():
                path = folder / style / f"{i:05d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(_image(si, i, shifts[name])).save(path)
    records = [
        {"id": f"{s}/{i:05d}", "prompt": prompts()[s][i], "seed": 1000 + 100 * si + i}
        for si, s in enumerate(STYLES)
        for i in range(N)
    ]
    for folder in folders.values():
        (folder / "generation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return suite, folders


def compare_args(suite: Path, folders: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "compare",
        str(folders["base"]),
        str(folders["fast"]),
        str(folders["faster"]),
        "--suite",
        str(suite),
        "--metrics",
        "brightness",
        "--names",
        f"base,{NASTY_NAME},faster",
        "--margin",
        "1.0",
        "--n-chunks",
        "3",
        "--similarity",
        "psnr,ssim",
        "--no-cache",
        "--out",
        str(out),
        *extra,
    ]


@contextlib.contextmanager
def fake_metric():
    """The ``fake_metrics`` fixture of :mod:`tests.comparison.helpers` (``brightness`` and
    fake backbones) as a context manager, for module-scoped fixtures and scripts."""
    import pytest

    from tests.comparison.helpers import fake_metrics

    fixture = getattr(fake_metrics, "_get_wrapped_function", lambda: fake_metrics)()
    with pytest.MonkeyPatch.context() as mp:
        gen = fixture(mp)
        next(gen)
        try:
            yield
        finally:
            next(gen, None)


def build_compare(root: Path) -> Path:
    """Run the comparison with ``--out``; returns the result folder."""
    from genmetrics.cli.app import main

    suite, folders = make_sets(root)
    out = root / "result"
    with fake_metric():
        code = main(compare_args(suite, folders, out, "--format", "json"))
    assert code == 0
    return out


if __name__ == "__main__":  # python -m tests.results.render.runs DIR: a run to look at
    import sys

    print(build_compare(Path(sys.argv[1])))
