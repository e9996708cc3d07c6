"""Training data for EBERT-style models: (promoter tokens, epigenetic state of one tissue) pairs.

Pre-training: every promoter of the corpus whose chromosome the tracks cover, once per tissue of the sheet
(the same DNA with each tissue's state). Fine-tuning: one example per (gene, tissue) with the tissue's
tracks and that tissue's target (regression value, or class for classification); the model has one output.
"""

from __future__ import annotations

import numpy as np

from florabert.errors import FloraBertError
from florabert.tracks import TrackSet, coords_from_table


def _pairs(tok, table, tracks: TrackSet, tissues: list[str], *, max_length: int, source, log=None) -> dict:
    """Columns input_ids, track_values, track_states, length, tissue, row (index into ``table``) for every
    promoter of ``table`` x tissue."""
    coords = coords_from_table(table, source)
    no_data = tracks.check_chromosomes(coords)
    if no_data and log:
        log(f"warning: {no_data:,} of {len(coords):,} promoters lie on chromosomes no track covers (their "
            "epigenetic input is all 'no data')")
    seqs = table.column("sequence").to_pylist()
    ids = tok(seqs, truncation=True, max_length=max_length)["input_ids"]
    cols: dict[str, list] = {k: [] for k in ("input_ids", "track_values", "track_states", "length", "tissue",
                                             "row")}
    for tissue in tissues:
        for i, (x, c) in enumerate(zip(ids, coords, strict=True)):
            v, s = tracks.tokens(tok, x, tissue, c)
            cols["input_ids"].append(x)
            cols["track_values"].append(v.tolist())
            cols["track_states"].append(s.tolist())
            cols["length"].append(len(x))
            cols["tissue"].append(tissue)
            cols["row"].append(i)
    return cols


def mlm_pairs(corpus, tok, tracks: TrackSet, *, max_length: int, eval_fraction: float, max_eval: int,
              species: list[str] | None = None, log=print):
    """(train, eval) ``datasets.Dataset`` of (promoter, tissue state) pairs for masked-LM pre-training.
    Promoters are held out by gene (all tissues of a gene on the same side), as in plain pre-training."""
    import datasets
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from florabert.genome.corpus import corpus_files
    from florabert.training.mlm_data import held_out

    table = pa.concat_tables([pq.read_table(f) for f in corpus_files(corpus, species=species)],
                             promote_options="permissive")
    wanted = set(species or []) | ({tracks.sheet.species} if tracks.sheet.species else set())
    if wanted and "species" in table.column_names:
        table = table.filter(pc.is_in(table.column("species"), pa.array(sorted(wanted))))
    if table.num_rows == 0:
        raise FloraBertError(f"{corpus}: no promoters of {', '.join(sorted(wanted))}")
    have = tracks.chroms
    covered = table.filter(pc.is_in(table.column("chrom"), pa.array(sorted(have))))
    if covered.num_rows == 0:
        raise FloraBertError(f"{tracks.sheet.path}: no promoter of {corpus} lies on a chromosome of the tracks "
                             f"(promoters on e.g. {table.column('chrom')[0].as_py()!r}, tracks on e.g. "
                             f"{sorted(have)[0]!r})")
    if covered.num_rows < table.num_rows:
        log(f"tracks cover {covered.num_rows:,} of {table.num_rows:,} promoters (the rest lie on other "
            "chromosomes and are left out)")
    cols = _pairs(tok, covered, tracks, tracks.sheet.tissues, max_length=max_length, source=corpus)
    genes = covered.column("gene_id").to_pylist()
    is_eval = np.array([held_out(genes[r], eval_fraction) for r in cols["row"]])
    full = datasets.Dataset.from_dict({k: cols[k] for k in ("input_ids", "track_values", "track_states",
                                                             "length")})
    train = full.select(np.flatnonzero(~is_eval))
    evals = full.select(np.flatnonzero(is_eval)[:max_eval])
    if len(train) == 0:
        raise FloraBertError(f"{corpus}: no training sequences")
    log(f"EBERT pre-training pairs: {len(train):,} train / {len(evals):,} held-out "
        f"({len(tracks.sheet.tissues)} tissues: {', '.join(tracks.sheet.tissues)})")
    return train, evals


def expression_pairs(data, tok, tracks: TrackSet, *, max_length: int, classification: bool, log=print):
    """(tissues, {part: datasets.Dataset}) for fine-tuning: one example per (gene, tissue) with that tissue's
    tracks and target. Tissues are the dataset targets the sheet has tracks for."""
    import datasets

    tissues = [t for t in data.targets if t in tracks.sheet.tissues]
    if not tissues:
        raise FloraBertError(f"{tracks.sheet.path}: none of its tissues ({', '.join(tracks.sheet.tissues)}) is a "
                             f"target of {data.path} ({', '.join(data.targets[:8])})")
    skipped = [t for t in data.targets if t not in tissues]
    if skipped:
        log(f"targets without tracks are left out: {', '.join(skipped)}")
    column = {t: data.targets.index(t) for t in tissues}
    parts = {}
    for name in ("train", "validation", "test"):
        table = data.part(name)
        if table.num_rows == 0:
            parts[name] = datasets.Dataset.from_dict({"input_ids": [], "labels": []})
            continue
        cols = _pairs(tok, table, tracks, tissues, max_length=max_length, source=data.path,
                      log=log if name == "train" else None)
        labels = table.column("labels").to_pylist()
        y = [labels[r][column[t]] for r, t in zip(cols["row"], cols["tissue"], strict=True)]
        cols["labels"] = [int(v) for v in y] if classification else [[float(v)] for v in y]
        parts[name] = datasets.Dataset.from_dict({k: cols[k] for k in ("input_ids", "track_values",
                                                                        "track_states", "length", "labels")})
    return tissues, parts


class TrackCollator:
    """Fine-tuning batches with tracks: ids padded on the left (TSS-anchored), features padded alike."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer  # transformers tokenizer, padding_side="left"

    def __call__(self, features: list[dict]) -> dict:
        import torch

        batch = self.tokenizer.pad([{"input_ids": f["input_ids"]} for f in features], padding=True,
                                   return_tensors="pt")
        values, states = pad_tracks([f["track_values"] for f in features], [f["track_states"] for f in features],
                                    batch["input_ids"].shape[1])
        out = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
               "track_values": values, "track_states": states}
        if "labels" in features[0]:
            out["labels"] = torch.tensor([f["labels"] for f in features])
        return out


def pad_tracks(batch_values: list, batch_states: list, length: int):
    """Left-pad per-token features (each tokens x channels) to ``length``, TSS-anchored like the token ids
    -> float32 (batch, length, n_signals) and int64 (batch, length, n_state_marks) tensors."""
    import torch

    vals = [np.asarray(v, dtype=np.float32) for v in batch_values]
    sts = [np.asarray(s, dtype=np.int64) for s in batch_states]
    values = torch.zeros((len(vals), length, vals[0].shape[-1] if vals[0].ndim == 2 else 0))
    states = torch.zeros((len(sts), length, sts[0].shape[-1] if sts[0].ndim == 2 else 0), dtype=torch.long)
    for i, (v, s) in enumerate(zip(vals, sts, strict=True)):
        if v.size:
            values[i, length - len(v):] = torch.from_numpy(v)
        if s.size:
            states[i, length - len(s):] = torch.from_numpy(s)
    return values, states
