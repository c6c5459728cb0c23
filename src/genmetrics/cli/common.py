"""Shared CLI pieces: the run-wide options, the one output-format enum, printing a document."""

from __future__ import annotations

import importlib
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import typer

# --- Run-wide options -------------------------------------------------------------------------
# How a run computes — device, precision, batching, decode threads, downloads, the feature
# cache, a cluster — declared once here and used by evaluate, stats, benchmark and compare
# (``name: type = device_option()``); --help shows them in their own panel. Add a new
# run-wide flag here, next to its siblings.

RUN_PANEL = "Run options"


def device_option() -> Any:
    return typer.Option("auto", "--device", rich_help_panel=RUN_PANEL,
                        help="auto (cuda when available), cpu, cuda, cuda:N or mps.")


def dtype_option() -> Any:
    return typer.Option("fp32", "--dtype", rich_help_panel=RUN_PANEL,
                        help="fp32, bf16 or fp16 for the CLIP-family, DINOv2 and reward models "
                        "(the FID Inception always runs in fp32).")


def batch_size_option(default: int | None = None) -> Any:
    return typer.Option(default, "--batch-size", rich_help_panel=RUN_PANEL,
                        help="Images per forward pass (default: 32 on a CPU, 256 on a GPU, "
                        "halved when the GPU runs out of memory; the manifest records it).")


def allow_tf32_option() -> Any:
    return typer.Option(False, "--allow-tf32", rich_help_panel=RUN_PANEL,
                        help="Let fp32 convolutions and matmuls run in TF32 on NVIDIA GPUs "
                        "(faster, less exact; recorded in the manifest and the cache key). "
                        "Off by default: fp32 means true fp32.")


def workers_option() -> Any:
    return typer.Option(None, "--workers", rich_help_panel=RUN_PANEL,
                        help="Threads that decode and resize images while the networks run "
                        "(default: one per CPU core this process may use).")


def offline_option() -> Any:
    return typer.Option(False, "--offline", rich_help_panel=RUN_PANEL,
                        help="Never download weights: use the cached ones (see `genmetrics "
                        "weights`) or stop with the command that gets them.")


def strict_option() -> Any:
    return typer.Option(False, "--strict", rich_help_panel=RUN_PANEL,
                        help="Stop at the first unreadable image instead of skipping and "
                        "counting it.")


def no_cache_option() -> Any:
    return typer.Option(False, "--no-cache", rich_help_panel=RUN_PANEL,
                        help="Neither read nor write the feature cache.")


def cache_dir_option() -> Any:
    return typer.Option(None, "--cache-dir", rich_help_panel=RUN_PANEL,
                        help="Feature cache folder (default: $GENMETRICS_HOME).")


def ray_option(what: str = "Extract features") -> Any:
    return typer.Option(None, "--ray", metavar="ADDRESS", rich_help_panel=RUN_PANEL,
                        help=f"{what} on a Ray cluster: 'local' starts one here, 'auto' joins "
                        "the running one, or ray://HOST:PORT (needs genmetrics[ray]). Under "
                        "torchrun, ranks shard the work by themselves.")


# --- Output -----------------------------------------------------------------------------------


class OutputFormat(str, Enum):
    """Every output format of every command (:mod:`genmetrics.results.render`)."""

    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"
    html = "html"


REPORT_HTML = "report.html"


def echo(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def warn_lines(messages: list[str]) -> None:
    """Each warning of a result as one ``warning:`` line on stderr."""
    for message in messages:
        sys.stderr.write(f"warning: {message}\n")


def size_text(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e5 else f"{n_bytes / 1e3:.0f} kB"


def emit(doc: Any, fmt: OutputFormat | str, out: Path | None = None) -> None:
    """Print ``doc`` in ``fmt``. ``html`` with ``--out``: the report was written to
    ``OUT/report.html`` (see :func:`write_html`), so only its path and size are printed."""
    from genmetrics.results.render import render

    fmt = OutputFormat(getattr(fmt, "value", fmt))
    if fmt is OutputFormat.html and out is not None:
        path = Path(out) / REPORT_HTML
        echo(f"wrote {path} ({size_text(path.stat().st_size)})")
        return
    text = render(doc, fmt.value)
    if text is not None:
        echo(text)


def write_html(path: Path, doc: Any) -> Path:
    """Write the HTML report of ``doc`` to ``path``, atomically."""
    from genmetrics.atomic import atomic_write_text
    from genmetrics.results.render.html import render_html

    return atomic_write_text(path, render_html(doc))


def _current_context() -> Any:
    import typer

    package = typer.BadParameter.__module__.rsplit(".", 1)[0]
    try:
        return importlib.import_module(f"{package}.globals").get_current_context(silent=True)
    except (ImportError, AttributeError):
        return None


def command_manifest() -> dict[str, Any]:
    """``{"command": [...], "working_dir": ...}``: the command being run, re-stated from its
    parsed parameters (options left at their default are omitted), for result manifests."""
    ctx = _current_context()
    out: dict[str, Any] = {"working_dir": os.getcwd()}
    if ctx is None:
        out["command"] = ["genmetrics", *sys.argv[1:]]
        return out
    names = []
    node = ctx
    while node is not None and node.parent is not None:  # the root's name is how Python ran
        names.append(str(node.info_name))
        node = node.parent
    words = ["genmetrics", *reversed(names)]
    args: list[str] = []
    opts: list[str] = []
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if getattr(param, "param_type_name", "") == "argument":
            values = value if isinstance(value, (list, tuple)) else [value]
            args += [str(getattr(v, "value", v)) for v in values if v is not None]
            continue
        if value is None or value == param.default or getattr(param, "hidden", False):
            continue
        name = max(param.opts, key=len)
        if getattr(param, "is_flag", False):
            if value:
                opts.append(name)
            continue
        opts += [name, str(getattr(value, "value", value))]
    out["command"] = [*words, *args, *opts]
    return out
