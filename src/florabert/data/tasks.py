"""Labelled sequence-classification tasks built from a genome and its annotation (the plant analogue of GUE),
in the dataset format ``finetune --problem classification`` and ``evaluate`` read.

Tasks (labels are class indices; ``classes`` in targets.json names them):

- ``promoter`` (GUE's prom_300): 300-bp windows ``[TSS - 249, TSS + 51)`` on the gene's strand, so the TSS is
  base 250 of every positive (index 249); negatives: as many windows of the same length drawn from the genome
  on either strand, at least ``min_distance`` bases from every annotated TSS, matched to the positives' GC
  distribution (ten GC bins). Classes: ``background``, ``promoter``.
- ``splice``: 400-bp windows centred on exon boundaries of the coding sequence (the boundary lies between
  bases 200 and 201 on the gene's strand): donors (exon | GT...), acceptors (...AG | exon), and non-sites:
  GT/AG dinucleotides inside the same genes that are not annotated boundaries, as many as the mean of the two
  site classes. Classes: ``none``, ``donor``, ``acceptor``.
- ``expression``: genes in the top vs the bottom ``quantile`` of mean ln(TPM + 1) over the table's samples
  (deepCRE's framing; the middle is left out), on the windows of a promoter table (any layout, e.g. the
  gene-structure one). Classes: ``low``, ``high``.

Leakage rules (as ``florabert expression``): examples of one group never straddle train/test — the gene
family (``families`` table) of the gene an example comes from, else the gene; background windows are
grouped by 1-Mb genome block. ``holdout_chromosomes``: test = those chromosomes. A cross-species split: build
the test set from another genome with ``test_genome``/``test_annotation`` (every example of the first genome
is train/validation, every one of the second is test). Each dataset gets ``audit.json`` (sizes, class
balance per part, groups shared by parts) next to it.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter

import numpy as np

from florabert.errors import FloraBertError, InputError

TASKS = ("promoter", "splice", "expression")
CLASSES = {"promoter": ["background", "promoter"], "splice": ["none", "donor", "acceptor"],
           "expression": ["low", "high"]}
_COMP = str.maketrans("ACGTN", "TGCAN")


def _rc(s: str) -> str:
    return s.translate(_COMP)[::-1]


def _genome(path) -> dict[str, str]:
    from florabert.genome.fasta import iter_fasta

    return {name: seq.decode("ascii").upper() for name, seq in iter_fasta(path)}


def _genes(annotation, *, cds: bool = False):
    from florabert.genome.annotation import read_annotation

    genes = read_annotation(annotation, cds=cds).genes
    if not genes:
        raise InputError(annotation, "no protein-coding genes")
    return genes


def _gc(s: str) -> float:
    acgt = sum(s.count(b) for b in "ACGT")
    return (s.count("G") + s.count("C")) / acgt if acgt else 0.0


def promoter_examples(genome, annotation, *, length: int = 300, upstream: int = 249, min_distance: int = 2000,
                      avoid_genes: bool = False, seed: int = 0, stats: dict | None = None) -> list[dict]:
    """Positive TSS windows and GC-matched background windows (see the module docstring). A background window
    lies at least ``min_distance`` bases from the TSS of every gene and every transcript of the annotation, of
    any biotype (pseudogenes, lncRNAs, tRNAs, alternative transcripts), and with ``avoid_genes`` outside every
    gene body too. ``stats`` (a dict) receives how many candidate windows each rule rejected."""
    from florabert.genome.landmarks import read_landmarks

    seqs = _genome(genome)
    genes = [g for g in _genes(annotation) if g.chrom in seqs]
    rows, gcs = [], []
    for g in genes:
        chrom = seqs[g.chrom]
        lo, hi = (g.tss - upstream, g.tss - upstream + length) if g.strand == "+" else (
            g.tss + upstream + 1 - length, g.tss + upstream + 1)
        if lo < 0 or hi > len(chrom):
            continue
        s = chrom[lo:hi] if g.strand == "+" else _rc(chrom[lo:hi])
        if s.count("N") > length // 10:
            continue
        rows.append({"id": g.gene_id, "gene": g.gene_id, "chrom": g.chrom, "strand": g.strand, "start": lo,
                     "end": hi, "sequence": s, "label": 1, "group": None})
        gcs.append(_gc(s))
    if not rows:
        raise InputError(annotation, "no TSS window fits inside its sequence")
    marks = read_landmarks(annotation)
    tss = {c: np.asarray(marks.tss.get(c, []), dtype=np.int64) for c in seqs}
    bodies = {c: _Intervals(marks.bodies.get(c, [])) for c in seqs}
    bins = np.clip((np.asarray(gcs) * 10).astype(int), 0, 9)
    want = Counter(bins.tolist())
    rng = random.Random(seed)
    chroms = [c for c in seqs if len(seqs[c]) > length]
    weights = [len(seqs[c]) for c in chroms]
    got: Counter = Counter()
    rejected: Counter = Counter()
    tries, n, positives = 0, 0, len(rows)
    while n < positives and tries < 200 * positives:
        tries += 1
        c = rng.choices(chroms, weights)[0]
        lo = rng.randrange(0, len(seqs[c]) - length)
        hi = lo + length
        near = tss[c]  # any TSS in [lo - d, hi + d): the window is closer than d to it
        if np.searchsorted(near, hi + min_distance) > np.searchsorted(near, lo - min_distance):
            rejected["near_tss"] += 1
            continue
        if avoid_genes and bodies[c].overlaps(lo, hi):
            rejected["in_gene"] += 1
            continue
        strand = rng.choice("+-")
        s = seqs[c][lo:hi] if strand == "+" else _rc(seqs[c][lo:hi])
        if s.count("N") > length // 10:
            rejected["too_many_n"] += 1
            continue
        b = min(int(_gc(s) * 10), 9)
        if got[b] >= want.get(b, 0):
            rejected["gc_bin_full"] += 1
            continue
        got[b] += 1
        n += 1
        rows.append({"id": f"bg{n:06d}:{c}:{lo}{strand}", "gene": None, "chrom": c, "strand": strand, "start": lo,
                     "end": hi, "sequence": s, "label": 0, "group": f"block:{c}:{lo // 1_000_000}"})
    if stats is not None:
        stats.update({"background_rules": {"min_distance_to_any_tss": min_distance, "outside_genes": avoid_genes,
                                           "annotated_tss": sum(len(v) for v in marks.tss.values()),
                                           "candidates_drawn": tries, "accepted": n,
                                           "rejected": dict(sorted(rejected.items()))}})
    return rows


class _Intervals:
    """Sorted [start, end) intervals: does a window overlap any of them?"""

    def __init__(self, intervals: list[tuple[int, int]]):
        self.starts = np.asarray([s for s, _ in intervals], dtype=np.int64)
        ends = np.asarray([e for _, e in intervals], dtype=np.int64)
        self.max_end = np.maximum.accumulate(ends) if len(ends) else ends  # running max over intervals by start

    def overlaps(self, lo: int, hi: int) -> bool:
        k = int(np.searchsorted(self.starts, hi))  # intervals starting before hi
        return k > 0 and int(self.max_end[k - 1]) > lo


def splice_examples(genome, annotation, *, flank: int = 200, all_transcripts: bool = False, seed: int = 0,
                    stats: dict | None = None) -> list[dict]:
    """Donor, acceptor and non-site windows (see the module docstring). Sites: the exon boundaries of each
    protein-coding gene's chosen CDS, or with ``all_transcripts`` every exon-exon junction of every transcript
    (UTR introns and non-coding transcripts included). Non-sites avoid every annotated junction of every
    transcript. ``stats`` receives the counts."""
    from florabert.genome.landmarks import read_landmarks

    seqs = _genome(genome)
    marks = read_landmarks(annotation)
    junctions = marks.junctions
    rows, sites = [], set()

    def window(c: str, p: int, strand: str) -> str | None:
        chrom = seqs[c]
        if p - flank < 0 or p + flank > len(chrom):
            return None
        s = chrom[p - flank:p + flank]
        return s if strand == "+" else _rc(s)

    def add_site(gene: str, c: str, p: int, strand: str, kind: str) -> None:
        s = window(c, p, strand)
        if s is None or (c, p) in sites:
            return
        sites.add((c, p))
        rows.append({"id": f"{gene}:{kind}:{p}", "gene": gene, "chrom": c, "strand": strand,
                     "start": p - flank, "end": p + flank, "sequence": s,
                     "label": 1 if kind == "donor" else 2, "group": None})

    genes = [g for g in _genes(annotation, cds=True) if g.chrom in seqs and len(g.cds) > 1]
    if all_transcripts:
        for c, p, strand, kind, gene in marks.sites:
            if c in seqs:
                add_site(gene, c, p, strand, kind)
    else:
        for g in genes:
            for (_, a), (b, _) in itertools.pairwise(g.cds):  # intron [a, b) between two pieces
                add_site(g.gene_id, g.chrom, a, g.strand, "donor" if g.strand == "+" else "acceptor")
                add_site(g.gene_id, g.chrom, b, g.strand, "acceptor" if g.strand == "+" else "donor")
    if not rows:
        raise InputError(annotation, "no spliced coding sequences (genes with two or more CDS pieces)")
    rng = random.Random(seed)
    want = len(rows) // 2
    n = 0
    rejected: Counter = Counter()
    for _ in range(50 * want):
        if n >= want:
            break
        g = rng.choice(genes)
        p = rng.randrange(g.start + 2, g.end - 2)
        if (g.chrom, p) in sites:
            rejected["already_used"] += 1
            continue
        chrom = seqs[g.chrom]
        di = chrom[p:p + 2] if g.strand == "+" else _rc(chrom[p - 2:p])  # the 2 bases 3' of p on the strand
        before = _rc(chrom[p:p + 2]) if g.strand == "-" else chrom[p - 2:p]  # the 2 bases 5' of p
        if di != "GT" and before != "AG":
            rejected["no_gt_ag"] += 1
            continue
        if p in junctions.get(g.chrom, ()):
            rejected["on_annotated_junction"] += 1
            continue
        s = window(g.chrom, p, g.strand)
        if s is None:
            rejected["off_edge"] += 1
            continue
        sites.add((g.chrom, p))
        n += 1
        rows.append({"id": f"{g.gene_id}:none:{p}", "gene": g.gene_id, "chrom": g.chrom, "strand": g.strand,
                     "start": p - flank, "end": p + flank, "sequence": s, "label": 0, "group": None})
    if stats is not None:
        stats.update({"site_rules": {"sites_from": "every transcript" if all_transcripts else "the chosen CDS",
                                     "annotated_junctions": marks.counts["junctions"], "non_sites": n,
                                     "rejected": dict(sorted(rejected.items()))}})
    return rows


def expression_examples(tpm, promoters, *, quantile: float = 1 / 3, gene_column: str | None = None) -> list[dict]:
    """Top vs bottom ``quantile`` of mean ln(TPM + 1) on a promoter table's windows."""
    from florabert.data.expression import log_transform, read_tpm
    from florabert.genome.promoters import read_promoters

    if not 0 < quantile <= 0.5:
        raise FloraBertError(f"--quantile must be in (0, 0.5] (got {quantile:g})")
    table = read_tpm(tpm, gene_column=gene_column)
    prom = read_promoters(promoters)
    seq = dict(zip(prom.column("gene_id").to_pylist(), prom.column("sequence").to_pylist(), strict=True))
    meta = {c: dict(zip(prom.column("gene_id").to_pylist(), prom.column(c).to_pylist(), strict=True))
            for c in ("chrom", "strand") if c in prom.column_names}
    genes = [g for g in table.genes if g in seq]
    if len(genes) < 10:
        raise InputError(promoters, f"only {len(genes)} genes in common with {tpm}")
    idx = {g: i for i, g in enumerate(table.genes)}
    level = log_transform(table.tpm[[idx[g] for g in genes]], 1.0).mean(axis=1)
    lo, hi = np.quantile(level, quantile), np.quantile(level, 1 - quantile)
    return [{"id": g, "gene": g, "chrom": meta.get("chrom", {}).get(g), "strand": meta.get("strand", {}).get(g),
             "start": None, "end": None, "sequence": seq[g], "label": int(v >= hi), "group": None}
            for g, v in zip(genes, level, strict=True) if v <= lo or v >= hi]


def build_task(task: str, out, *, genome=None, annotation=None, tpm=None, promoters=None, families=None,
               test_genome=None, test_annotation=None, holdout_chromosomes=None, test_fraction: float = 0.2,
               validation_fraction: float = 0.1, max_examples: int | None = None, length: int | None = None,
               min_distance: int = 2000, outside_genes: bool = False, all_transcripts: bool = False,
               seed: int = 0, force: bool = False, log=print) -> dict:
    """Build one task's dataset into ``out`` (the ``--out`` rule of :mod:`florabert.outputs`); returns its
    audit. ``length``: window length in bases for the promoter task (300; the TSS stays 51 bases from the 3'
    end) and the splice task (400, centred on the boundary). ``min_distance``/``outside_genes``: the promoter
    task's background rules; ``all_transcripts``: splice sites from every transcript (see
    :func:`promoter_examples`, :func:`splice_examples`)."""
    from florabert.data.splits import group_split, read_families
    from florabert.outputs import claim_dir

    if task not in TASKS:
        raise FloraBertError(f"unknown task {task!r} (tasks: {', '.join(TASKS)})")
    if length is not None and length < (60 if task == "promoter" else 4):
        raise FloraBertError(f"--length {length} is too short for the {task} task")
    if not 0 < test_fraction < 1 or not 0 <= validation_fraction < 1:
        raise FloraBertError("--test-fraction must be in (0, 1) and --validation-fraction in [0, 1)")
    if min_distance < 0:
        raise FloraBertError(f"--min-distance must be >= 0 (got {min_distance})")
    claim_dir(out, "tasks", force=force)
    rules: dict = {}

    def examples(g, a):
        if task == "expression":
            if tpm is None or promoters is None:
                raise FloraBertError("the expression task needs --tpm and --promoters (a promoter table)")
            return expression_examples(tpm, promoters)
        if g is None or a is None:
            raise FloraBertError(f"the {task} task needs --genome and --annotation")
        if task == "promoter":
            sizes = {"length": length, "upstream": length - 51} if length else {}
            return promoter_examples(g, a, seed=seed, min_distance=min_distance, avoid_genes=outside_genes,
                                     stats=rules.setdefault("test" if rules else "train", {}), **sizes)
        return splice_examples(g, a, seed=seed, all_transcripts=all_transcripts,
                               stats=rules.setdefault("test" if rules else "train", {}),
                               **({"flank": length // 2} if length else {}))

    rows = _subsample(examples(genome, annotation), max_examples, seed)
    fam = read_families(families, sorted({r["gene"] for r in rows if r["gene"]})) if families else {}
    for r in rows:
        r["group"] = r["group"] or (f"family:{fam[r['gene']]}" if r["gene"] in fam else f"gene:{r['gene']}")
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise FloraBertError("duplicate example ids (a gene listed twice?)")
    groups = {r["id"]: r["group"] for r in rows}
    if test_genome is not None:
        test_rows = _subsample(examples(test_genome, test_annotation), max_examples, seed)
        for r in test_rows:
            r["id"], r["group"] = f"test:{r['id']}", f"test:{r['group'] or r['gene']}"
        split = group_split(ids, groups, test_fraction=1e-9, validation_fraction=validation_fraction, seed=seed)
        split = {k: ("validation" if v == "test" else v) for k, v in split.items()}
        split.update({r["id"]: "test" for r in test_rows})
        rows += test_rows
        groups.update({r["id"]: r["group"] for r in test_rows})
        method = "cross-species (test = the second genome)"
    elif holdout_chromosomes:
        from florabert.data.splits import holdout_split

        split = holdout_split(ids, {r["id"]: r["chrom"] for r in rows}, set(holdout_chromosomes),
                              validation_fraction=validation_fraction, seed=seed)
        method = f"chromosomes {', '.join(holdout_chromosomes)} held out"
    else:
        split = group_split(ids, groups, test_fraction=test_fraction, validation_fraction=validation_fraction,
                            seed=seed)
        method = "families" if families else "genes (no family table: each gene its own group)"
    audit = task_audit(rows, split, groups, task, method)
    if rules:
        audit["label_rules"] = rules if test_genome is not None else rules["train"]
        for name, r in (rules.items() if test_genome is not None else [("", rules["train"])]):
            for key in ("background_rules", "site_rules"):
                if key in r:
                    rej = ", ".join(f"{k} {v:,}" for k, v in r[key]["rejected"].items()) or "none"
                    log(f"{task}{' (' + name + ' genome)' if name else ''}: candidate windows rejected: {rej}")
    for part in ("train", "test"):
        if not audit["counts"].get(part):
            raise FloraBertError(f"the {task} task has no {part} examples (split: {method})")
    _write_task(out, task, rows, split, audit, promoters=promoters, length=length, seed=seed, force=force)
    log(f"{task}: {len(rows):,} examples; " + "; ".join(
        f"{p} {n:,} ({', '.join(f'{c} {k:,}' for c, k in audit['classes'][p].items())})"
        for p, n in audit["counts"].items()))
    return audit


def _write_task(out, task: str, rows: list[dict], split: dict, audit: dict, *, promoters, length, seed: int,
                force: bool) -> None:
    """The task's dataset folder: dataset.parquet, targets.json (classes, layout), audit.json, split.tsv."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from florabert.outputs import output_dir

    cols = {"gene_id": [r["id"] for r in rows], "chrom": [r["chrom"] for r in rows],
            "strand": [r["strand"] for r in rows], "start": [r["start"] for r in rows],
            "end": [r["end"] for r in rows], "sequence": [r["sequence"] for r in rows],
            "family": [r["group"] for r in rows], "split": [split[r["id"]] for r in rows],
            "labels": [[float(r["label"])] for r in rows]}
    from florabert.layout import Layout

    if task == "promoter":
        window = Layout.parse(f"tss:-{(length or 300) - 51}:+51").to_dict()
    else:  # splice windows are centred on the exon boundary, which models read as a TSS-like landmark
        half = (length or 400) // 2
        window = Layout.parse(f"tss:-{half}:+{half}").to_dict()
    if task == "expression":
        from florabert.genome.promoters import read_promoters, window_settings

        window = window_settings(read_promoters(promoters))
    meta = {"targets": ["class"], "classes": CLASSES[task], "problem": "classification", "task": task,
            "transform": {"kind": "class"}, "promoter_window": window, "seed": seed,
            "landmark": {"promoter": "the TSS (base 250 of 300)", "splice": "the exon boundary (the window's "
                         "centre), stored as a tss landmark", "expression": "the promoter table's"}[task]}
    with output_dir(out, "tasks", force=force) as tmp:
        pq.write_table(pa.table(cols), tmp / "dataset.parquet")
        (tmp / "targets.json").write_text(json.dumps(meta, indent=2) + "\n")
        (tmp / "audit.json").write_text(json.dumps(audit, indent=2) + "\n")
        (tmp / "split.tsv").write_text("gene_id\tsplit\n"
                                       + "".join(f"{r['id']}\t{split[r['id']]}\n" for r in rows))


def _subsample(rows: list[dict], n: int | None, seed: int) -> list[dict]:
    """At most ``n`` examples, drawn at random (seeded), class proportions kept in expectation."""
    if n is None or len(rows) <= n:
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), n))
    return [rows[i] for i in keep]


def task_audit(rows, split: dict, groups: dict, task: str, method: str) -> dict:
    """Sizes, class balance per part and the groups (families, genes, blocks, chromosomes) shared by parts."""
    names = CLASSES[task]
    parts = ("train", "validation", "test")
    classes = {p: {names[c]: n for c, n in sorted(Counter(r["label"] for r in rows
                                                          if split[r["id"]] == p).items())} for p in parts}
    where: dict[str, set] = {}
    for r in rows:
        where.setdefault(groups[r["id"]], set()).add(split[r["id"]])
    return {"task": task, "method": method, "examples": len(rows),
            "counts": {p: sum(classes[p].values()) for p in parts if classes[p]},
            "classes": {p: classes[p] for p in parts if classes[p]},
            "groups_in_train_and_test": sum(1 for s in where.values() if {"train", "test"} <= s),
            "groups_in_train_and_validation": sum(1 for s in where.values() if {"train", "validation"} <= s)}


__all__ = ["CLASSES", "TASKS", "build_task", "expression_examples", "promoter_examples", "splice_examples",
           "task_audit"]
