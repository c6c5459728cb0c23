"""The ``genmetrics`` command. User errors print one line and exit with code 2."""

from __future__ import annotations

import importlib
import os
import sys

import typer

from genmetrics import catalog
from genmetrics.errors import UserError

try:
    catalog.load()  # the option tables and registries the commands are built from
except UserError as _exc:  # e.g. a plugin that cannot be imported: one line, exit 2
    print(f"error: {_exc}", file=sys.stderr)
    raise SystemExit(2) from None

from genmetrics.cli import evaluate as evaluate_cli  # noqa: E402
from genmetrics.cli import weights as weights_cli  # noqa: E402
from genmetrics.cli.help_format import HelpCommand, HelpGroup, use_everywhere  # noqa: E402

app = typer.Typer(
    name="genmetrics",
    help="Quality metrics for generative image models, with declared protocols.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=HelpGroup,
)
app.command("evaluate", cls=HelpCommand)(evaluate_cli.evaluate_command)
app.command("stats", cls=HelpCommand)(evaluate_cli.stats_command)
use_everywhere(weights_cli.app)
app.add_typer(weights_cli.app, name="weights", cls=HelpGroup)

# Optional command groups, mounted when their modules are present. Each module imports only
# what its --help needs; the work (torch, scipy, pyarrow…) is imported inside the command.
for _module, _name, _single in (
    ("genmetrics.cli.listing", "metrics", True),
    ("genmetrics.cli.suites", "suites", False),
    ("genmetrics.cli.cache", "cache", False),
    ("genmetrics.cli.generate", "generate", True),
    ("genmetrics.cli.benchmark", "benchmark", True),
    ("genmetrics.cli.compare", "compare", True),
    ("genmetrics.cli.pair", "pair", True),
    ("genmetrics.cli.report", "report", True),
):
    try:
        _mod = importlib.import_module(_module)
    except ModuleNotFoundError as _exc:
        if _exc.name != _module:
            raise
        continue
    use_everywhere(_mod.app)
    if _single:
        app.registered_commands.extend(_mod.app.registered_commands)
    else:
        app.add_typer(_mod.app, name=_name, cls=HelpGroup)


@app.command("version", cls=HelpCommand)
def version() -> None:
    """Print the version."""
    from genmetrics.version import __version__

    typer.echo(__version__)


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """One line; a warning raised while an image is decoded names the image."""
    from genmetrics.sources.decode import decoding_location

    where = decoding_location()
    return f"warning: {where}: {message}\n" if where else f"warning: {message}\n"


def _usage_exceptions():
    """(UsageError, NoArgsIsHelpError or None, Abort, Exit) of the click that typer uses:
    recent typer versions ship their own copy of click."""
    module = sys.modules[typer.BadParameter.__module__]
    return module.UsageError, getattr(module, "NoArgsIsHelpError", None), typer.Abort, typer.Exit


def main(argv: list[str] | None = None) -> int:
    """Run the CLI. User errors (bad input, bad options, usage mistakes) print one
    ``error:`` line on stderr and return 2; ``--help`` and listings return 0."""
    import warnings

    from genmetrics.devices import tune_host_allocator

    tune_host_allocator()  # CPU batches reuse heap memory instead of page-faulting it in
    usage_error, no_args, abort, exit_ = _usage_exceptions()
    warnings.formatwarning = _one_line_warning  # type: ignore[assignment]
    try:
        code = app(args=argv, standalone_mode=False, prog_name="genmetrics")
    except UserError as exc:
        from genmetrics.sources.items import printable

        if os.environ.get("RANK", "0") == "0":  # under torchrun every rank finds it; one says it
            print(f"error: {printable(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except usage_error as exc:
        if no_args is not None and isinstance(exc, no_args):
            text = exc.format_message()  # the help (rich help prints itself as it is built)
            if text.strip():
                print(text, file=sys.stderr)
            return 2
        where = exc.ctx.command_path if exc.ctx else "genmetrics"
        print(f"error: {exc.format_message()} (see: {where} --help)", file=sys.stderr)
        return 2
    except abort:
        print("error: aborted", file=sys.stderr)
        return 130
    except exit_ as exc:
        return int(exc.exit_code or 0)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except KeyboardInterrupt:
        print("interrupted; finished batches are cached and a re-run resumes", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return int(code) if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
