"""Task labels on the bundled A. thaliana chr1 against the annotation read independently (plain text parsing
here, not florabert's reader): no background window within 2 kb of any annotated TSS, no non-site on any
annotated exon-exon junction."""

import gzip
import itertools
import json
from collections import defaultdict

import pyarrow.parquet as pq
import pytest

from conftest import requires_bundled

pytestmark = [pytest.mark.realdata, pytest.mark.slow, requires_bundled]

PARTS = {"exon", "CDS", "five_prime_UTR", "three_prime_UTR", "intron", "start_codon", "stop_codon"}


@pytest.fixture(scope="module")
def tair10():
    from florabert.genome.cresschrom import bundled_genomes

    return next(g for g in bundled_genomes() if g.species == "Arabidopsis thaliana")


@pytest.fixture(scope="module")
def truth(tair10):
    """Every TSS (gene-level rows and every row with a Parent that is not a part: transcripts of any kind) and
    every exon-exon junction (exon rows grouped by Parent), 0-based."""
    tss, exons = set(), defaultdict(list)
    with gzip.open(tair10.gff, "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            c = line.rstrip("\n").split("\t")
            if len(c) != 9 or c[6] not in "+-":
                continue
            start, end = int(c[3]) - 1, int(c[4])
            attrs = dict(kv.split("=", 1) for kv in c[8].split(";") if "=" in kv)
            if c[2] == "exon":
                for parent in attrs.get("Parent", "").split(","):
                    exons[parent].append((start, end))
            elif c[2] not in PARTS and (c[2].endswith("gene") or "Parent" in attrs):
                tss.add(start if c[6] == "+" else end - 1)
    junctions = set()
    for pieces in exons.values():
        pieces.sort()
        for (_, a), (b, _) in itertools.pairwise(pieces):
            if b > a:
                junctions.update((a, b))
    return sorted(tss), junctions


def test_promoter_background_and_splice_non_sites_hold_against_the_gff(tair10, truth, tmp_path, run_cli):
    import bisect

    tss, junctions = truth
    code, _, err = run_cli("tasks", "--task", "promoter", "--genome", tair10.fasta, "--annotation", tair10.gff,
                           "--out", tmp_path / "promoter")
    assert code == 0, err
    rows = pq.read_table(tmp_path / "promoter" / "dataset.parquet").to_pylist()
    background = [r for r in rows if r["labels"] == [0.0]]
    assert len(background) > 5000
    near = [r for r in background if bisect.bisect_left(tss, r["start"] - 2000) < bisect.bisect_left(
        tss, r["end"] + 2000)]
    assert near == []
    positives = [r for r in rows if r["labels"] == [1.0]]
    assert all((r["start"] + 249 if r["strand"] == "+" else r["end"] - 250) in set(tss) for r in positives)
    audit = json.loads((tmp_path / "promoter" / "audit.json").read_text())
    assert audit["label_rules"]["background_rules"]["rejected"]["near_tss"] > 0

    code, _, err = run_cli("tasks", "--task", "splice", "--genome", tair10.fasta, "--annotation", tair10.gff,
                           "--out", tmp_path / "splice", "--all-transcripts")
    assert code == 0, err
    rows = pq.read_table(tmp_path / "splice" / "dataset.parquet").to_pylist()
    centre = [(r["start"] + 200, int(r["labels"][0])) for r in rows]
    assert not [p for p, label in centre if label == 0 and p in junctions]
    assert all(p in junctions for p, label in centre if label > 0)
    assert sum(label == 0 for _, label in centre) > 10_000
