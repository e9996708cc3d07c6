import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from florabert.data.dataset import build_expression_dataset, load_expression_dataset
from florabert.data.expression import read_tpm
from florabert.data.splits import group_split, kmer_similarity
from florabert.errors import InputError


@pytest.fixture(autouse=True)
def no_mmseqs(request, monkeypatch):
    """MMseqs2 is slow to start; only the test that is about it may find it."""
    if "mmseqs" not in request.node.name:
        monkeypatch.setenv("PATH", "/nonexistent")


@pytest.fixture
def promoters(tmp_path):
    rng = np.random.default_rng(0)
    genes = [f"G{i:03d}" for i in range(60)]
    seqs = ["".join(rng.choice(list("ACGT"), 120)) for _ in genes]
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"species": ["sp"] * 60, "gene_id": genes, "chrom": ["c1"] * 30 + ["c2"] * 30,
                             "strand": ["+"] * 60, "sequence": seqs}), path)
    return path, genes


def write_tpm(path, genes, samples=("s1", "s2", "s3")):
    rng = np.random.default_rng(1)
    lines = ["gene_id\t" + "\t".join(samples)]
    lines += [g + "\t" + "\t".join(f"{v:.3f}" for v in rng.gamma(1.0, 10.0, len(samples))) for g in genes]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_log_targets_and_join_report(promoters, tmp_path):
    prom, genes = promoters
    tpm = write_tpm(tmp_path / "tpm.tsv", [*genes[:50], "EXTRA1"])
    info = build_expression_dataset(tpm, prom, tmp_path / "d", offset=1.0, log=lambda m: None)
    assert info["genes"] == 50 and info["only_tpm"] == 1 and info["only_promoters"] == 10
    ds = load_expression_dataset(tmp_path / "d")
    raw = read_tpm(tpm)
    row = raw.genes.index("G007")
    got = ds.table.filter(pa.compute.equal(ds.table.column("gene_id"), "G007")).column("labels")[0].as_py()
    assert got == pytest.approx([math.log(v + 1.0) for v in raw.tpm[row]], rel=1e-6)
    assert ds.targets == ["s1", "s2", "s3"] and ds.transform == {"kind": "log", "offset": 1.0}
    unmatched = (tmp_path / "d" / "unmatched.tsv").read_text()
    assert "EXTRA1\ttpm" in unmatched and "G055\tpromoters" in unmatched


def test_sample_sheet_averages_replicates_then_logs(promoters, tmp_path):
    prom, genes = promoters
    tpm = write_tpm(tmp_path / "tpm.tsv", genes, samples=("a1", "a2", "b1", "x"))
    (tmp_path / "sheet.tsv").write_text("sample\ttissue\na1\tleaf\na2\tleaf\nb1\troot\n")
    msgs = []
    build_expression_dataset(tpm, prom, tmp_path / "d", samples=tmp_path / "sheet.tsv", offset=0.5,
                             log=msgs.append)
    ds = load_expression_dataset(tmp_path / "d")
    raw = read_tpm(tpm)
    i = raw.genes.index(ds.table.column("gene_id")[0].as_py())
    leaf, root = ds.table.column("labels")[0].as_py()
    assert ds.targets == ["leaf", "root"]
    assert leaf == pytest.approx(math.log(raw.tpm[i, :2].mean() + 0.5), rel=1e-6)
    assert root == pytest.approx(math.log(raw.tpm[i, 2] + 0.5), rel=1e-6)
    assert any("not in the sample sheet" in m and "x" in m for m in msgs)


def test_family_split_never_straddles_and_audit_says_so(promoters, tmp_path):
    prom, genes = promoters
    tpm = write_tpm(tmp_path / "tpm.tsv", genes)
    fams = {g: f"F{i // 4}" for i, g in enumerate(genes)}  # families of 4
    (tmp_path / "fam.tsv").write_text("gene_id\tfamily_id\n" + "".join(f"{g}\t{f}\n" for g, f in fams.items()))
    build_expression_dataset(tpm, prom, tmp_path / "d", families=tmp_path / "fam.tsv", log=lambda m: None)
    ds = load_expression_dataset(tmp_path / "d")
    parts = {}
    for fam, part in zip(ds.table.column("family").to_pylist(), ds.table.column("split").to_pylist(),
                         strict=True):
        parts.setdefault(fam, set()).add(part)
    assert all(len(p) == 1 for p in parts.values())
    audit = json.loads((tmp_path / "d" / "audit.json").read_text())
    assert audit["families_in_train_and_test"] == 0 and audit["method"] == "family table"
    assert audit["counts"]["test"] == pytest.approx(18, abs=4)  # 30 % of 60, whole families
    sim_rows = (tmp_path / "d" / "audit_similarity.tsv").read_text().splitlines()[1:]
    assert len(sim_rows) == audit["counts"]["test"]


def test_random_fallback_is_loud(promoters, tmp_path):
    prom, genes = promoters
    msgs = []
    build_expression_dataset(write_tpm(tmp_path / "t.tsv", genes), prom, tmp_path / "d", log=msgs.append)
    assert any("RANDOM" in m for m in msgs)
    audit = json.loads((tmp_path / "d" / "audit.json").read_text())
    assert audit["method"] == "random" and "RANDOM SPLIT" in audit["warning"]


def test_imposed_split_and_chromosome_holdout(promoters, tmp_path):
    prom, genes = promoters
    tpm = write_tpm(tmp_path / "t.tsv", genes)
    (tmp_path / "split.tsv").write_text("gene_id\tsplit\n" + "".join(
        f"{g}\t{'test' if i < 10 else 'train'}\n" for i, g in enumerate(genes[:40])))
    build_expression_dataset(tpm, prom, tmp_path / "d1", split=tmp_path / "split.tsv", log=lambda m: None)
    d1 = load_expression_dataset(tmp_path / "d1")
    assert d1.table.num_rows == 40 and set(d1.part("test").column("gene_id").to_pylist()) == set(genes[:10])
    build_expression_dataset(tpm, prom, tmp_path / "d2", holdout_chromosomes=["c2"], log=lambda m: None)
    d2 = load_expression_dataset(tmp_path / "d2")
    assert set(d2.part("test").column("chrom").to_pylist()) == {"c2"}
    assert d2.part("test").num_rows == 30 and d2.part("validation").num_rows == 3


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("gene_id\ts1\nG000\t-1\n", "t.tsv:2 (column 's1'): TPM cannot be negative"),
        ("gene_id\ts1\nG000\tnan\n", "t.tsv:2 (column 's1'): TPM must be finite"),
        ("gene_id\ts1\nG000\thigh\n", "t.tsv:2 (column 's1'): TPM must be a number"),
        ("gene_id\ts1\nG000\t1\nG000\t2\n", "t.tsv:3: duplicate gene id 'G000'"),
        ("gene_id\ts1\ts2\nG000\t1\n", "t.tsv:2: expected 3 fields, found 2"),
        ("gene_id\ts1\nNOPE\t1\n", "no gene id in common"),
    ],
)
def test_bad_tpm_tables(promoters, tmp_path, body, fragment):
    prom, _ = promoters
    (tmp_path / "t.tsv").write_text(body)
    with pytest.raises(InputError) as err:
        build_expression_dataset(tmp_path / "t.tsv", prom, tmp_path / "d", log=lambda m: None)
    assert fragment in str(err.value)
    assert not (tmp_path / "d").exists()


def test_cli_bad_input_is_one_line(run_cli, promoters, tmp_path):
    prom, _ = promoters
    (tmp_path / "t.tsv").write_text("gene_id\ts1\nG000\t-3\n")
    code, _, err = run_cli("expression", "--tpm", tmp_path / "t.tsv", "--promoters", prom, "--out", tmp_path / "d")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "negative" in err


def test_group_split_fractions_and_kmer_similarity():
    genes = [f"g{i}" for i in range(1000)]
    parts = group_split(genes, {g: g for g in genes}, test_fraction=0.3, validation_fraction=0.1, seed=1)
    counts = {p: list(parts.values()).count(p) for p in ("train", "validation", "test")}
    assert counts == {"test": 300, "validation": 70, "train": 630}
    best, where = kmer_similarity(["ACGTACGTAC", "TTTTTTTTTT"], ["ACGTACGTAC", "GGGGGGGGGG", "TTTTTTTTTA"], k=3)
    assert best[0] == pytest.approx(1.0) and where[0] == 0
    assert where[1] == 2 and 0 < best[1] < 1


@pytest.mark.skipif(__import__("shutil").which("mmseqs") is None, reason="mmseqs2 not installed")
def test_mmseqs_families_group_near_identical_promoters(promoters, tmp_path):
    from florabert.data.splits import mmseqs_families

    rng = np.random.default_rng(5)
    base = ["".join(rng.choice(list("ACGT"), 300)) for _ in range(6)]
    seqs = {f"p{i}": s for i, s in enumerate(base)}
    seqs.update({f"copy{i}": s[:150] + ("A" if s[150] != "A" else "C") + s[151:] for i, s in enumerate(base)})
    fam = mmseqs_families(seqs)
    assert all(fam[f"copy{i}"] == fam[f"p{i}"] for i in range(6))  # one mismatch in 300: same family
    assert len({fam[f"p{i}"] for i in range(6)}) == 6  # unrelated random promoters: separate
