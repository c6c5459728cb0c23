"""``genmetrics generate``: make a suite's benchmark images with a diffusers pipeline.

``app`` holds the single command ``generate``; the main app mounts it by extending its own
``registered_commands`` with ``app.registered_commands``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from genmetrics.errors import UserError

app = typer.Typer(help="Generate benchmark images for a prompt suite with a diffusers pipeline.")


def _styles(value: str | None) -> list[str] | None:
    if value is None:
        return None
    styles = [s.strip() for s in value.split(",") if s.strip()]
    if not styles:
        raise UserError("--styles is empty; give style names separated by commas, e.g. anime,photo")
    return styles


@app.command("generate")
def generate(
    pipeline: str = typer.Option(
        ..., "--pipeline", help="Hugging Face model id or local diffusers pipeline folder."
    ),
    out: Path = typer.Option(..., "--out", help="Output folder (resumable)."),
    suite: str = typer.Option("hpdv2", "--suite", help="Built-in suite name or prompt file."),
    seed: int = typer.Option(0, "--seed", help="Base seed; each image gets its own seed."),
    images_per_prompt: int = typer.Option(1, "--images-per-prompt", help="Images per prompt."),
    steps: int | None = typer.Option(None, "--steps", help="Inference steps (pipeline default)."),
    guidance: float | None = typer.Option(None, "--guidance", help="Guidance scale."),
    height: int | None = typer.Option(None, "--height", help="Image height in pixels."),
    width: int | None = typer.Option(None, "--width", help="Image width in pixels."),
    dtype: str = typer.Option("auto", "--dtype", help="fp16, bf16, fp32 or auto."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:N or auto."),
    batch_size: int = typer.Option(1, "--batch-size", help="Prompts per pipeline call."),
    pipeline_hook: str | None = typer.Option(
        None,
        "--pipeline-hook",
        help="module:function or file.py:function; gets and returns the pipeline.",
    ),
    styles: str | None = typer.Option(None, "--styles", help="Comma-separated styles to keep."),
    limit_per_style: int | None = typer.Option(
        None, "--limit-per-style", help="Keep the first N prompts of each style."
    ),
    revision: str | None = typer.Option(
        None, "--revision", help="Hub revision (branch, tag, commit)."
    ),
    variant: str | None = typer.Option(None, "--variant", help="Weights variant, e.g. fp16."),
    offline: bool = typer.Option(False, "--offline", help="Use only locally cached models."),
    restart: bool = typer.Option(
        False,
        "--restart",
        help="Delete the images listed in OUT's generation.jsonl and start again.",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    ray: str | None = typer.Option(None, "--ray", metavar="ADDRESS", help="Generate as Ray tasks, one per GPU of the cluster: 'local' starts one here, 'auto' joins the running one, or ray://HOST:PORT (needs genmetrics[ray]). Under torchrun, ranks shard the prompts by themselves."),
) -> None:
    """Generate a suite's images (resumable): OUT/STYLE/NNNNN.png plus generation.jsonl/.json."""
    from genmetrics.generation import generate_images

    result = generate_images(
        pipeline,
        suite,
        out,
        seed=seed,
        images_per_prompt=images_per_prompt,
        steps=steps,
        guidance=guidance,
        height=height,
        width=width,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        styles=_styles(styles),
        limit_per_style=limit_per_style,
        hook=pipeline_hook,
        progress=not quiet,
        offline=True if offline else None,
        revision=revision,
        variant=variant,
        restart=restart,
        ray=ray,
    )
    if not result.main:  # another rank of a torchrun job: rank 0 reports
        return
    replaced = f" ({result.replaced} changed images made again)" if result.replaced else ""
    typer.echo(
        f"{result.generated} generated{replaced}, {result.skipped} already present, "
        f"{result.planned} planned in {result.out_dir} ({result.seconds:.1f} s)",
        err=True,
    )
