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

from florabert.errors import FloraBertError, InputError
from florabert.genome.records import cut_as_trained, fasta_records, tsv_records
from florabert.io import atomic_path
from florabert.plotting import show_bars

CHUNK = 4096


def class_names(config) -> list[str]:
    """A classifier's class names by index: the task's (``id2label``), or ``0, 1, ...`` for models that name
    none (HF's default ``LABEL_k`` names count as none)."""
    names = [str(config.id2label.get(k, k)) for k in range(config.num_labels)]
    return [str(k) if n == f"LABEL_{k}" else n for k, n in enumerate(names)]


class GeneLookup:
    """Gene-model inputs (:func:`florabert.features.gene_values`) of a model's ``gene_features`` per gene id,
    from a table with those columns or from an annotation; genes it lacks get the training average when
    ``average_missing`` (``--without-gene-features``), else stop with one line."""

    def __init__(self, predictor: Predictor, values: dict[str, np.ndarray] | None, source, *,
                 average_missing: bool = False):
        self.predictor, self.values, self.source = predictor, values or {}, source
        self.average_missing = average_missing
        self.averaged = 0  # genes predicted with the training average

    @classmethod
    def from_table(cls, predictor: Predictor, table, source, **kw) -> GeneLookup:
        from florabert.features import gene_values

        x = gene_values(table, predictor.gene_features, source)
        return cls(predictor, dict(zip(table.column("gene_id").to_pylist(), x, strict=True)), source, **kw)

    @classmethod
    def from_file(cls, predictor: Predictor, path, **kw) -> GeneLookup:
        """A table with ``gene_id`` and the model's gm_* columns: .parquet, or .tsv/.csv (a promoter table)."""
        from florabert.genome.promoters import read_promoters

        path = Path(path)
        table = read_promoters(path) if path.suffix.lower() in (".parquet", ".tsv") else _read_csv(path)
        if "gene_id" not in table.column_names:
            raise FloraBertError(f"{path}: needs a gene_id column next to the gene-model columns")
        return cls.from_table(predictor, table, path, **kw)

    @classmethod
    def from_annotation(cls, predictor: Predictor, annotation, **kw) -> GeneLookup:
        """Computed from a GFF3/GTF read as the model's training genes were (feature, biotype, ids)."""
        import pyarrow as pa

        from florabert.genome.annotation import read_annotation
        from florabert.genome.genemodel import GENE_MODEL_COLUMNS

        lay = predictor.config.layout
        ann = read_annotation(annotation, feature=lay.feature, biotype=lay.biotype, id_attribute=lay.id_attribute,
                              gene_model=True)
        cols = {"gene_id": [g.gene_id for g in ann.genes],
                **{c: [g.model[j] for g in ann.genes] for j, c in enumerate(GENE_MODEL_COLUMNS)}}
        return cls.from_table(predictor, pa.table(cols), annotation, **kw)

    def rows(self, ids: list[str]) -> np.ndarray:
        """(len(ids), features) model inputs."""
        out = self.predictor.average_genes(len(ids))
        for i, gid in enumerate(ids):
            v = self.values.get(gid)
            if v is not None:
                out[i] = v
            elif self.average_missing:
                self.averaged += 1
            else:
                raise InputError(self.source or "input", f"{gid}: no gene-model features ("
                                 f"{', '.join(self.predictor.gene_features[:3])}, ...), which the model reads: "
                                 "give --annotation or --gene-features TABLE, or --without-gene-features")
        return out


def _read_csv(path: Path):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    try:
        return pcsv.read_csv(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(path, f"not a readable table ({' '.join(str(exc).split())[:160]})") from None


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
        self.trees = None
        # a stem model reading single bases takes them laid out per window straight from the sequences (no token
        # stream): the same outputs, several times faster (tests/test_stem.py)
        self.lut = None
        if self.config.stem and self.tok.kind == "nucleotide" and not self.config.has_tracks:
            from florabert.modeling.stem import base_lut

            self.lut = base_lut(self.tok.hf.get_vocab())
        if (getattr(self.config, "wide_blend", None) or {}).get("boosters"):  # LightGBM in the blend
            from florabert.features import WideTrees

            self.trees = WideTrees.load(model_dir, self.config.wide_blend)

    @property
    def gene_features(self) -> list[str]:
        """The gene-model columns the model's wide path reads ([] for none)."""
        return list(getattr(self.config, "gene_features", []) or [])

    def average_genes(self, n: int) -> np.ndarray:
        """(n, gene features) model inputs at the training genes' average (what ``--without-gene-features``
        predicts with: the gene-model group then adds its mean)."""
        k = len(self.gene_features)
        return np.tile(self.model.wide_mean[-k:].numpy().astype(np.float32), (n, 1)) if k else np.zeros((n, 0))

    @torch.inference_mode()
    def predict(self, sequences: list[str], features: list | None = None, genes: np.ndarray | None = None
                ) -> np.ndarray:
        """(n, outputs) for raw promoter sequences. A track model also needs ``features``: per sequence the
        (values, states) per-token arrays of its tokenized ids (:meth:`florabert.tracks.TrackSet.tokens`). A model
        whose wide path reads gene-model features needs ``genes``: (n, :attr:`gene_features`) model inputs
        (:func:`florabert.features.gene_values`, or :meth:`average_genes`)."""
        if self.config.has_tracks and features is None:
            raise FloraBertError("this model reads epigenetic tracks: use florabert predict --tracks SHEET with "
                                 "--genome/--annotation (other commands take plain models only)")
        if self.gene_features and genes is None:
            raise FloraBertError("this model reads gene-model features (" + ", ".join(self.gene_features[:3])
                                 + ", ...): give them with the sequences")
        from florabert.training.trackdata import pad_tracks

        order = np.argsort([-len(s) for s in sequences], kind="stable")
        out = np.zeros((len(sequences), self.config.num_labels), dtype=np.float32)
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            seqs = [sequences[j] for j in idx]
            batch = self.encode(seqs) if features is None else self.tok(
                seqs, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            if self.config.wide_features:
                from florabert.features import model_motifs, wide_inputs

                wide = wide_inputs(seqs, self.config.wide_kmers, self.config.layout,
                                   None if genes is None else genes[idx],
                                   motifs=model_motifs(self.config))
                batch["wide_features"] = torch.from_numpy(wide)
                if self.trees is not None:
                    batch["wide_offset"] = torch.from_numpy(self.trees.offset(wide))
            if features is not None:
                batch["track_values"], batch["track_states"] = pad_tracks(
                    [features[j][0] for j in idx], [features[j][1] for j in idx], batch["input_ids"].shape[1])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                out[idx] = self.model(**batch).logits.float().numpy()
        return out

    def encode(self, sequences: list[str]) -> dict:
        """The model's inputs for ``sequences`` (windows joined by ``|``): per-window base arrays for a stem
        model on single bases, else the tokenizer's padded token stream."""
        if self.lut is None:
            return self.tok(sequences, padding=True, truncation=True, max_length=self.max_length,
                            return_tensors="pt")
        from florabert.modeling.stem import window_arrays

        lay = self.config.layout
        keep = [self.max_length - (2 if j == 0 else 1) for j in range(len(lay))]
        parts = [lay.split(s) for s in sequences]
        return {"windows": window_arrays(parts, lay.anchors_right, self.lut, self.config.pad_token_id,
                                         self.config.stem["pool"], keep)}

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
            return ["gene_id", "class", *(f"p_{name}" for name in class_names(c))]
        return ["gene_id", *self.targets, *(f"{t}_tpm" for t in self.targets)]

    def rows(self, ids: list[str], values: np.ndarray) -> Iterator[list[str]]:
        c = self.config
        if c.problem_type == "single_label_classification":
            probs = torch.softmax(torch.as_tensor(values), -1).numpy()
            names = class_names(c)
            for gid, p in zip(ids, probs, strict=True):
                yield [gid, names[int(p.argmax())], *(f"{v:.6g}" for v in p)]
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
            tracks=None, gene_features=None, without_gene_features: bool = False, genes: list[str] | None = None,
            batch_size: int = 64, bf16: bool = False, progress: bool = True, force: bool = False, log=None) -> int:
    """Write predictions for every input promoter to ``out`` (TSV); returns how many were written.
    ``tracks``: the track sheet a track model (EBERT) reads; one column per tissue it has tracks for.
    ``genes``: only these gene ids (in input order). An existing ``out`` is replaced (atomically) only when
    florabert wrote it, or with ``force``.

    A model whose wide path reads gene-model features gets them from ``--genome/--annotation`` (computed), the
    ``gm_*`` columns of ``--tsv``, ``gene_features`` (a table with gene_id and those columns), or ``annotation``
    given with ``--fasta``/``--tsv``; ``without_gene_features`` predicts genes without them at the training
    average and adds a ``gene_model`` column (given / average)."""
    from florabert.outputs import claim_file

    if sum(x is not None for x in (fasta, genome, tsv)) != 1 or (genome is not None and annotation is None):
        raise FloraBertError("give exactly one input: --fasta, --tsv, or --genome with --annotation")
    if batch_size < 1:
        raise FloraBertError(f"--batch-size must be >= 1 (got {batch_size})")
    claim_file(out, force=force)
    from florabert.outputs import release_lock

    try:
        return _predict(model_dir, out, fasta=fasta, genome=genome, annotation=annotation, tsv=tsv, tracks=tracks,
                        gene_features=gene_features, without_gene_features=without_gene_features, genes=genes,
                        batch_size=batch_size, bf16=bf16, progress=progress, log=log)
    finally:
        release_lock(out)


# Over 80 lines on purpose: read the input, match gene-model features, predict in chunks, write one file.
def _predict(model_dir, out, *, fasta, genome, annotation, tsv, tracks, gene_features, without_gene_features,
             genes, batch_size: int, bf16: bool, progress: bool, log) -> int:
    predictor = Predictor(model_dir, batch_size=batch_size, bf16=bf16)
    trackset, lookup, dropped = None, None, {}
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
        cut = cut_as_trained(genome, annotation, predictor.config.promoter_window)
        table, dropped = cut.table, cut.dropped_ids
        if predictor.gene_features:
            lookup = GeneLookup.from_table(predictor, table, annotation, average_missing=without_gene_features)
        records = zip(table.column("gene_id").to_pylist(), table.column("sequence").to_pylist(), strict=True)
    if predictor.gene_features and lookup is None:
        lookup = _gene_lookup(predictor, model_dir, tsv, annotation, gene_features, without_gene_features)
    seen: set[str] = set()
    if genes:
        wanted = set(genes)
        records = (r for r in records if r[0] in wanted and not seen.add(r[0]))
        dropped = {g: why for g, why in dropped.items() if g in wanted}
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from florabert.genome.promoters import count_ambiguous

    n = ambiguous = 0
    with atomic_path(out) as tmp, open(tmp, "w", newline="") as fh, Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
            disable=not (progress and show_bars()), transient=True) as bar:
        task = bar.add_task("predicting: 0 promoters")
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        note = lookup is not None and without_gene_features
        writer.writerow([*predictor.header(), *(["gene_model"] if note else [])])
        for chunk in _chunks(records):
            ids, seqs, *coords = zip(*chunk, strict=True)
            ambiguous += count_ambiguous(seqs)
            rows = lookup.rows(list(ids)) if lookup is not None else None
            values = (predictor.predict_tracks(list(seqs), list(coords[0]), trackset) if trackset
                      else predictor.predict(list(seqs), genes=rows))
            lines = list(predictor.rows(list(ids), values))
            if note:
                given = [gid in lookup.values for gid in ids]
                lines = [[*line, "given" if g else "average"] for line, g in zip(lines, given, strict=True)]
            writer.writerows(lines)
            n += len(chunk)
            bar.update(task, description=f"predicting: {n:,} promoters")
        source = fasta or tsv or genome
        missing = [g for g in dict.fromkeys(genes or []) if g not in seen]
        if missing:  # inside the block: an earlier output at `out` stays as it was
            why = "; ".join(f"{g}: {dropped.get(g, 'not in the input')}" for g in missing[:5])
            raise FloraBertError(f"{source}: {len(missing):,} of the {len(set(genes)):,} genes named with --genes "
                                 f"cannot be predicted ({why}{', ...' if len(missing) > 5 else ''}); nothing "
                                 "written")
        if n == 0:
            raise FloraBertError(f"{source}: no promoters to predict")
    if dropped and not genes:
        from collections import Counter

        side = Path(f"{out}.dropped.tsv")
        with atomic_path(side) as tmp:
            Path(tmp).write_text("gene_id\treason\n" + "".join(f"{g}\t{r}\n" for g, r in dropped.items()))
        if log:
            reasons = ", ".join(f"{k} {v:,}" for k, v in Counter(dropped.values()).most_common())
            log(f"{len(dropped):,} genes of the annotation could not be cut as the model's windows ({reasons}; "
                f"e.g. {', '.join(list(dropped)[:3])}): not predicted, listed in {side}")
    if ambiguous and log:
        log(f"{ambiguous:,} sequences hold IUPAC ambiguity codes (R, Y, ...): the model reads them as N")
    if lookup is not None and lookup.averaged and log:
        log(f"{lookup.averaged:,} genes predicted without gene-model features (the training average in their "
            "place; column gene_model)")
    return n


def _gene_lookup(predictor: Predictor, model_dir, tsv, annotation, gene_features, without: bool) -> GeneLookup:
    """Where a model that reads gene-model features gets them with --fasta or --tsv."""
    if gene_features is not None:
        return GeneLookup.from_file(predictor, gene_features, average_missing=without)
    if tsv is not None:
        from florabert.io import open_text

        with open_text(tsv) as fh:
            header = fh.readline().rstrip("\r\n").split("," if str(tsv).lower().endswith(".csv") else "\t")
        if all(c in header for c in predictor.gene_features):
            return GeneLookup.from_file(predictor, tsv, average_missing=without)
    if annotation is not None:
        return GeneLookup.from_annotation(predictor, annotation, average_missing=without)
    if without:
        return GeneLookup(predictor, {}, None, average_missing=True)
    raise FloraBertError(f"{model_dir}: reads {len(predictor.gene_features)} gene-model features "
                         f"({', '.join(predictor.gene_features[:3])}, ...): give --annotation GFF (computed for "
                         "the record ids), --gene-features TABLE, gm_* columns in --tsv, or "
                         "--without-gene-features")
