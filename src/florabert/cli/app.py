"""The `florabert` application: the typer app, options every command shares, and the entry point that turns every
error into one line. The commands live in the modules beside this one, one group each."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

from florabert.errors import FloraBertError

app = typer.Typer(
    name="florabert",
    help="Predict tissue-specific plant gene expression from promoter DNA (FloraBERT).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain help: flags without a <bool> value, defaults as [default: ...]
)
console = Console(stderr=True)


class Feature(str, Enum):
    gene = "gene"
    mRNA = "mRNA"
    transcript = "transcript"


class Edge(str, Enum):
    drop = "drop"
    pad = "pad"


FORCE = typer.Option(False, "--force", help="Write into an --out that holds other files (nothing there is "
                      "deleted; same-named files are replaced). See README 'Errors and outputs'.")

def model_path(value):
    """--model: a model folder, or the name of a model bundled with the package (``florabert models``)."""
    if value is None:
        return None
    from florabert.bundled import resolve_model

    if isinstance(value, list | tuple):
        return [resolve_model(v) for v in value]
    return resolve_model(value)


LAYOUT_HELP = ("Windows to cut, comma-separated LANDMARK:START:END relative to the TSS or TTS on the gene's "
               "strand, e.g. tss:-1000:0 (FloraBERT, the default) or tss:-1000:+500,tts:-500:+1000 (deepCRE). "
               "Replaces --upstream/--downstream.")


def check_layout_options(layout: str | None, upstream: int, downstream: int) -> None:
    """--layout and --upstream/--downstream say the same thing: refuse both with different values."""
    if layout is None:
        return
    from florabert.layout import Layout

    lay = Layout.parse(layout)
    if (upstream, downstream) != (1000, 0) and lay.spec != Layout.promoter(upstream, downstream).spec:
        raise FloraBertError(f"--layout {lay.spec} and --upstream {upstream} --downstream {downstream} disagree: "
                             "give one of them")


def gene_list(genes: list[str] | None) -> list[str] | None:
    return [g for item in genes for g in item.split(",") if g] if genes else None


def print_summary(summaries: list[dict], out: Path) -> None:
    from rich.table import Table

    table = Table(title=f"promoters -> {out}", title_justify="left")
    for col in ("species", "genes read", "written", "dropped", "identical sequences"):
        table.add_column(col, justify="left" if col in ("species", "dropped") else "right")
    for s in summaries:
        dropped = ", ".join(f"{k} {v}" for k, v in s["dropped"].items() if v) or "-"
        table.add_row(s["species"], f"{s['genes_read']:,}", f"{s['written']:,}", dropped,
                      f"{s['duplicate_sequences']:,}")
    Console().print(table)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"florabert {version('florabert')}")
        raise typer.Exit(0)


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="On an error, show the full traceback (for bug "
                                     "reports); FLORABERT_DEBUG=1 does the same."),
          version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Predict tissue-specific plant gene expression from promoter DNA (FloraBERT)."""
    if debug:
        os.environ["FLORABERT_DEBUG"] = "1"


# Options that take several values: `--models a/ b/` means `--models a/ --models b/` (click reads one value per
# flag); values run up to the next option.
MULTIPLE = ("--models", "--genes", "--species", "--holdout-chromosome", "--holdout-species")


def spread_multiple(args: list[str]) -> list[str]:
    """``--models a b`` -> ``--models a --models b`` for the options of :data:`MULTIPLE`."""
    out, flag = [], None
    for a in args:
        if a in MULTIPLE:
            flag = a
            out.append(a)
            continue
        if a.startswith("-") and a != "-":
            flag = None
        elif flag is not None and out[-1] != flag:
            out.append(flag)
        out.append(a)
    return out


def _debugging() -> bool:
    return os.environ.get("FLORABERT_DEBUG", "") not in ("", "0")


def main() -> None:
    """Console-script entry point: every error becomes one line on stderr and exit code 1 (a finished run
    asked to --resume: its one line and exit code 0). ``--debug`` shows tracebacks instead."""
    try:  # typer >= 0.20 carries its own copy of click
        from typer._click.exceptions import ClickException, NoArgsIsHelpError
    except ImportError:  # pragma: no cover
        from click.exceptions import ClickException, NoArgsIsHelpError

    from florabert.errors import describe
    from florabert.outputs import RunComplete

    sys.argv[1:] = spread_multiple(sys.argv[1:])
    try:
        _run(ClickException, NoArgsIsHelpError, describe, RunComplete)
    finally:
        from florabert.outputs import release_all_locks

        release_all_locks()


def _run(ClickException, NoArgsIsHelpError, describe, RunComplete) -> None:
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:  # --help, --version
        sys.exit(exc.exit_code)
    except NoArgsIsHelpError as exc:
        console.print(exc.ctx.get_help() if exc.ctx else str(exc), highlight=False, markup=False)
        sys.exit(0)
    except ClickException as exc:  # a wrong option: one line, like every other error
        command = f" {exc.ctx.command_path}" if getattr(exc, "ctx", None) else ""
        console.print(f"[bold red]error:[/]{command.replace('[', '')}: {exc.format_message()} (see --help)",
                      highlight=False, soft_wrap=True, markup=True)
        sys.exit(1)
    except typer.Abort as exc:  # click turns EOFError into Abort too: that one is an input error
        if isinstance(exc.__context__, EOFError) and not _debugging():
            console.print(f"[bold red]error:[/] {describe(exc.__context__)}", highlight=False, soft_wrap=True)
            sys.exit(1)
        console.print("[bold red]interrupted[/]")
        sys.exit(130)
    except RunComplete as exc:
        console.print(str(exc), highlight=False, soft_wrap=True, markup=False)
        sys.exit(0)
    except KeyboardInterrupt:
        console.print("[bold red]interrupted[/]")
        sys.exit(130)
    except Exception as exc:
        if _debugging():
            raise
        from rich.markup import escape

        console.print(f"[bold red]error:[/] {escape(describe(exc, _out_arg()))}", highlight=False, soft_wrap=True)
        sys.exit(1)


def _out_arg() -> str | None:
    """The command line's ``--out`` value (named in errors the OS reports without a file, e.g. a full disk)."""
    args = sys.argv[1:]
    for i, a in enumerate(args):
        if a == "--out" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--out="):
            return a.split("=", 1)[1]
    return None


if __name__ == "__main__":
    main()
