"""The tracks group: epigenetic track sheets (EBERT)."""

from __future__ import annotations

from pathlib import Path

import typer

from florabert.cli.app import FORCE, app, console

tracks_app = typer.Typer(rich_markup_mode=None,
                         help="Epigenetic track sheets (EBERT): check them against promoters.",
                         no_args_is_help=True)
app.add_typer(tracks_app, name="tracks")


@tracks_app.command("profile")
def tracks_profile(
    tracks: Path = typer.Option(..., "--tracks", help="Track sheet (YAML)."),
    promoters: Path = typer.Option(..., "--promoters", help="Promoter table (florabert promoters, .parquet)."),
    out: Path = typer.Option(..., "--out", help="Output folder (profile.tsv, profile.png/.svg)."),
    force: bool = FORCE,
) -> None:
    """Mean signal (and state shares) by position relative to the TSS, per tissue and mark: a quick check
    that the tracks line up with the promoters on both strands."""
    from florabert.tracks import track_profile

    summary = track_profile(tracks, promoters, out, force=force)
    console.print(f"{summary['promoters']:,} promoters; with any data: " + "; ".join(
        f"{t}: " + ", ".join(f"{m} {n:,}" for m, n in marks.items())
        for t, marks in summary["promoters_with_data"].items()), highlight=False)
    console.print(f"profile -> {out}/profile.png, profile.tsv")


