"""`florabert tracks profile`: mean signal by position around the landmarks, a check that the tracks and
the promoters line up on both strands."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from florabert.tracks.features import PromoterCoords, TrackSet, coords_from_table


def track_profile(sheet: str | Path, promoters: str | Path, out: str | Path, *, force: bool = False) -> dict:
    """Quality check of a sheet against a promoter table: the mean normalized signal (and the share of bases
    in each state) at every position relative to the TSS, per tissue and mark, over all promoters; for a
    table of several windows, per window relative to its landmark (TSS or TTS).

    Writes ``profile.tsv`` (position, tissue, mark, state, value; position -1 = the base next to the
    landmark; a ``window`` column first for multi-window tables) and ``profile.png/.svg``; returns a summary
    with, per tissue and mark, how many promoters have any data. A mark that should peak at the TSS (ATAC,
    H3K4me3) and does so in this plot is aligned on both strands.
    """
    from florabert.genome.promoters import read_promoters, table_layout
    from florabert.layout import Layout
    from florabert.outputs import claim_dir, output_dir
    from florabert.plotting import pyplot, save_figure

    claim_dir(out, "tracks profile", force=force)

    tracks = TrackSet.open(sheet)
    table = read_promoters(promoters)
    coords = coords_from_table(table, promoters)
    tracks.check_chromosomes(coords)
    layout = table_layout(table) or Layout()
    multi = bool(coords) and isinstance(coords[0], tuple)
    per_window = [[c[j] for c in coords] for j in range(len(layout))] if multi else [coords]
    marks = [*tracks.layout["signals"], *tracks.state_marks]
    rows, covered = [], {}
    plt = pyplot()
    fig, axes = plt.subplots(len(marks), len(per_window), figsize=(8 * len(per_window), 2.6 * len(marks)),
                             squeeze=False)
    for j, wcoords in enumerate(per_window):
        window = layout.windows[j]
        positions, curves, has = _profile(tracks, wcoords, window)
        name = layout.names[j] if multi else None
        rows += [(name, *r) for r in _profile_rows(positions, curves)]
        for tissue, h in has.items():
            tot = covered.setdefault(tissue, dict.fromkeys(marks, 0))
            for m, k in zip(marks, h, strict=True):
                tot[m] = max(tot[m], int(k))
        for ax, mark in zip(axes[:, j], marks, strict=True):
            for (tissue, m, state), y in curves.items():
                if m == mark and state != "no data":
                    ax.plot(positions, y, lw=1.2, label=f"{tissue} {state}".strip())
            ax.set_ylabel(mark if mark in tracks.layout["signals"] else f"{mark}: share")
            ax.axvline(0, color="grey", lw=0.8, ls=":")
            ax.legend(fontsize=7, ncol=3)
            if name:
                ax.set_title(name, fontsize=9, loc="left")
        axes[-1, j].set_xlabel(f"position relative to the {window.landmark.upper()} (bp; -1 = base just 5' of it)")
    fig.suptitle(f"Track profile over {len(coords):,} promoters")
    with output_dir(out, "tracks profile", force=force) as tmp:
        with open(tmp / "profile.tsv", "w") as fh:
            fh.write(("window\t" if multi else "") + "position\ttissue\tmark\tstate\tvalue\n")
            fh.writelines(("" if w is None else f"{w}\t") + f"{p}\t{t}\t{m}\t{s}\t{v:.6g}\n"
                          for w, p, t, m, s, v in rows)
        save_figure(fig, tmp, "profile")
    return {"promoters": len(coords), "promoters_with_data": covered}


def _profile(tracks: TrackSet, coords: list[PromoterCoords], window):
    """(positions, {(tissue, mark, state): mean per position}, {tissue: promoters with data per mark}) for
    one window; windows shorter than the longest are aligned at their anchored end."""
    length = max(c.length for c in coords)
    curves, covered = {}, {}
    for tissue in tracks.sheet.tissues:
        sig_sum = np.zeros((length, tracks.n_signals))
        state_counts = [np.zeros((length, len(v) + 1)) for v in tracks.layout["states"].values()]
        n = np.zeros(length)
        has = np.zeros(tracks.n_signals + len(tracks.state_marks), dtype=np.int64)
        for c in coords:
            sig, st = tracks.bases(tissue, c)
            at = slice(length - c.length, length) if window.anchor_right else slice(0, c.length)
            sig_sum[at] += sig
            n[at] += 1
            for j in range(st.shape[1]):
                state_counts[j][np.arange(length)[at], st[:, j]] += 1
            has += np.concatenate([(sig != 0).any(0), (st != 0).any(0)])
        for j, mark in enumerate(tracks.layout["signals"]):
            curves[(tissue, mark, "")] = sig_sum[:, j] / np.maximum(n, 1)
        for j, (mark, names) in enumerate(tracks.layout["states"].items()):
            share = state_counts[j] / np.maximum(n, 1)[:, None]
            for code, name in enumerate(["no data", *names]):
                curves[(tissue, mark, name)] = share[:, code]
        covered[tissue] = has
    positions = (np.arange(length) - length + window.end) if window.anchor_right else \
        (np.arange(length) + window.start)
    return positions, curves, covered


def _profile_rows(positions, curves):
    for (tissue, mark, state), y in curves.items():
        yield from ((int(p), tissue, mark, state, v) for p, v in zip(positions, y, strict=True))
