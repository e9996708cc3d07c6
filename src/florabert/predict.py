"""Predict expression for promoters: FASTA, genome + annotation (cut as the model's training promoters
were), or a TSV with ``gene_id`` and ``sequence`` columns -> the prediction TSV.

Output columns: ``gene_id`` (or the FASTA record id), one column per target with the predicted
ln(TPM + offset), then ``<target>_tpm`` back-transformed to TPM. Classification models write ``class``
and ``p_<class>`` columns instead. Input is read and predicted in chunks (constant memory); within a
chunk sequences are sorted by length so batches carry little padding.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from florabert.errors import FloraBertError
from florabert.genome.records import cut_as_trained, fasta_records, tsv_records
from florabert.io import atomic_path
from florabert.plotting import show_bars

CHUNK = 4096


def _genome_records(genome, annotation, window: dict) -> Iterator[tuple[str, str]]:
    result = cut_as_trained(genome, annotation, window)
    yield from zip(result.table.column("gene_id").to_pylist(), result.table.column("sequence").to_pylist(),
                   strict=True)


def _chunks(records, size=CHUNK):
    chunk = []
    for rec in records:
        chunk.append(rec)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def prediction_rows(ids, values: np.ndarray, offset: float, digits: int = 6) -> Iterator[list[str]]:
    """Rows of a predictions TSV: id, the predicted ln(TPM + offset) per target, then TPM per target (the
    header: ``gene_id``, TARGETS, ``TARGET_tpm``...). ``evaluate`` writes 9 digits, so its metrics can be
    recomputed from the file exactly."""
    from florabert.data.expression import inverse_transform

    fmt = f"{{:.{digits}g}}".format
    for gid, y, t in zip(ids, values, inverse_transform(values, offset), strict=True):
        yield [gid, *map(fmt, y), *map(fmt, t)]


class Predictor:
    """A fine-tuned model ready for inference (``predict(sequences) -> (n, outputs)``)."""

    def __init__(self, model_dir: str | Path, *, batch_size: int = 64, bf16: bool = False):
        from florabert.modeling import FloraBertForExpression, loading
        from florabert.tokenization import DNATokenizer, check_vocabulary

        model_dir = Path(model_dir)
        if not (model_dir / "config.json").exists():
            raise FloraBertError(f"{model_dir}: not a model directory (no config.json)")
        with loading(model_dir):
            self.model = FloraBertForExpression.from_pretrained(str(model_dir)).eval()
        if not self.model.config.targets and self.model.config.problem_type != "single_label_classification":
            raise FloraBertError(f"{model_dir}: not a fine-tuned expression model (no targets); see florabert "
                                 "finetune")
        self.tok = DNATokenizer.load(model_dir)
        check_vocabulary(self.tok, self.model.config, model_dir)
        self.config = self.model.config
        self.max_length = self.config.max_input_length
        self.batch_size = batch_size
        self.bf16 = bf16
        self.targets = list(self.config.targets)  # output columns (a track model: the tissues predicted)

    @torch.inference_mode()
    def predict(self, sequences: list[str], features: list | None = None) -> np.ndarray:
        """(n, outputs) for raw promoter sequences. A track model also needs ``features``: per sequence the
        (values, states) per-token arrays of its tokenized ids (:meth:`florabert.tracks.TrackSet.tokens`)."""
        if self.config.has_tracks and features is None:
            raise FloraBertError("this model reads epigenetic tracks: use florabert predict --tracks SHEET with "
                                 "--genome/--annotation (other commands take plain models only)")
        from florabert.training.trackdata import pad_tracks

        order = np.argsort([-len(s) for s in sequences], kind="stable")
        out = np.zeros((len(sequences), self.config.num_labels), dtype=np.float32)
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            seqs = [sequences[j] for j in idx]
            batch = self.tok(seqs, padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt")
            if self.config.wide_features:
                from florabert.features import window_features

                batch["wide_features"] = torch.from_numpy(
                    window_features(seqs, self.config.wide_kmers, self.config.layout))
            if features is not None:
                batch["track_values"], batch["track_states"] = pad_tracks(
                    [features[j][0] for j in idx], [features[j][1] for j in idx], batch["input_ids"].shape[1])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                out[idx] = self.model(**batch).logits.float().numpy()
        return out

    def bases_read(self, sequences: list[str]) -> list[int]:
        """Per window of the model's layout, the most bases of any of ``sequences`` the model reads (the
        rest is truncated away, from the end farthest from the window's anchor)."""
        enc = self.tok(sequences, truncation=True, max_length=self.max_length)
        widths = self.tok.token_widths()
        n = len(self.config.layout)
        best = [0] * n
        for i, ids in enumerate(enc["input_ids"]):
            types = enc["token_type_ids"][i] if "token_type_ids" in enc else [0] * len(ids)
            w, t = widths[np.asarray(ids)], np.asarray(types)
            for j in range(n):
                real = w[(t == j) & (w > 0)]
                if self.tok.overlapping:  # k-mers one base apart
                    bases = len(real) + self.tok.k - 1 if len(real) else 0
                else:
                    bases = int(real.sum())
                best[j] = max(best[j], bases)
        return best

    def predict_tracks(self, sequences: list[str], coords: list, trackset) -> np.ndarray:
        """A track model's (n, tissues) predictions: each tissue of ``self.targets`` with its own tracks."""
        ids = self.tok(sequences, truncation=True, max_length=self.max_length)["input_ids"]
        out = np.zeros((len(sequences), len(self.targets)), dtype=np.float32)
        for j, tissue in enumerate(self.targets):
            features = [trackset.tokens(self.tok, x, tissue, c) for x, c in zip(ids, coords, strict=True)]
            out[:, j] = self.predict(sequences, features)[:, 0]
        return out

    def header(self) -> list[str]:
        c = self.config
        if c.problem_type == "single_label_classification":
            return ["gene_id", "class", *(f"p_{k}" for k in range(c.num_labels))]
        return ["gene_id", *self.targets, *(f"{t}_tpm" for t in self.targets)]

    def rows(self, ids: list[str], values: np.ndarray) -> Iterator[list[str]]:
        c = self.config
        if c.problem_type == "single_label_classification":
            probs = torch.softmax(torch.as_tensor(values), -1).numpy()
            for gid, p in zip(ids, probs, strict=True):
                yield [gid, str(int(p.argmax())), *(f"{v:.6g}" for v in p)]
            return
        yield from prediction_rows(ids, values, float((c.target_transform or {}).get("offset", 1.0)))


def _track_setup(predictor: Predictor, model_dir, tracks, genome, annotation):
    """(TrackSet, records of (gene_id, sequence, coords)) for a track model; checks the inputs."""
    from florabert.tracks import TrackSet, coords_from_table

    c = predictor.config
    if not c.has_tracks:
        raise FloraBertError(f"{model_dir}: has no epigenetic channel; --tracks is for models fine-tuned with it")
    if tracks is None:
        raise FloraBertError(f"{model_dir}: reads epigenetic tracks; give --tracks SHEET")
    if genome is None or c.problem_type == "single_label_classification":
        raise FloraBertError("track models predict from --genome with --annotation (the tracks need each "
                             "promoter's coordinates), regression models only")
    trackset = TrackSet.open(tracks, layout=c.tracks)
    predictor.targets = [t for t in c.targets if t in trackset.sheet.tissues]
    if not predictor.targets:
        raise FloraBertError(f"{tracks}: has none of the model's tissues ({', '.join(c.targets)})")
    table = cut_as_trained(genome, annotation, c.promoter_window).table
    coords = coords_from_table(table, genome)
    trackset.check_chromosomes(coords)
    records = zip(table.column("gene_id").to_pylist(), table.column("sequence").to_pylist(), coords, strict=True)
    return trackset, records


def predict(model_dir: str | Path, out: str | Path, *, fasta=None, genome=None, annotation=None, tsv=None,
            tracks=None, batch_size: int = 64, bf16: bool = False, progress: bool = True, force: bool = False
            ) -> int:
    """Write predictions for every input promoter to ``out`` (TSV); returns how many were written.
    ``tracks``: the track sheet a track model (EBERT) reads; one column per tissue it has tracks for.
    An existing ``out`` is replaced (atomically) only when florabert wrote it, or with ``force``."""
    from florabert.outputs import claim_file

    given = [x is not None for x in (fasta, genome or annotation, tsv)]
    if sum(given) != 1 or (genome is None) != (annotation is None):
        raise FloraBertError("give exactly one input: --fasta, --tsv, or --genome with --annotation")
    if batch_size < 1:
        raise FloraBertError(f"--batch-size must be >= 1 (got {batch_size})")
    claim_file(out, force=force)
    predictor = Predictor(model_dir, batch_size=batch_size, bf16=bf16)
    trackset = None
    if tracks is not None or predictor.config.has_tracks:
        trackset, records = _track_setup(predictor, model_dir, tracks, genome, annotation)
    elif fasta is not None:
        records = fasta_records(fasta, predictor.config.layout)
    elif tsv is not None:
        records = tsv_records(tsv, predictor.config.layout)
    else:
        if not predictor.config.promoter_window:
            raise FloraBertError(f"{model_dir}: the model does not record how its promoters were cut; extract "
                                 "them with florabert promoters and use --fasta")
        records = _genome_records(genome, annotation, predictor.config.promoter_window)
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    n = 0
    with atomic_path(out) as tmp, open(tmp, "w", newline="") as fh, Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
            disable=not (progress and show_bars()), transient=True) as bar:
        task = bar.add_task("predicting: 0 promoters")
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(predictor.header())
        for chunk in _chunks(records):
            ids, seqs, *coords = zip(*chunk, strict=True)
            values = (predictor.predict_tracks(list(seqs), list(coords[0]), trackset) if trackset
                      else predictor.predict(list(seqs)))
            writer.writerows(predictor.rows(list(ids), values))
            n += len(chunk)
            bar.update(task, description=f"predicting: {n:,} promoters")
        if n == 0:  # inside the block: an earlier output at `out` stays as it was
            raise FloraBertError(f"{fasta or tsv or annotation}: no promoters to predict")
    return n
