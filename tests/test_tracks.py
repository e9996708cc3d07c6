"""EBERT tracks: sheets, readers, strand-aware token alignment, the epigenetic channel, and training.

The synthetic genome has random DNA, so expression can only be predicted from the tracks: per gene and
tissue an activity ``a`` drawn independently, the tissue's track in the gene's promoter follows ``a`` (in one
of several shapes), and TPM = exp(1 + 2a + noise) - 1.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from florabert.errors import FloraBertError, InputError
from florabert.tracks import TrackSet, aggregate, coords_from_table, load_sheet

UP = 60  # promoter length
SPACING = 400


def gene_layout(n: int):
    """(gene id, strand, TSS) of n genes alternating strands; + genes start at the TSS, - genes end there."""
    return [(f"g{i:03d}", "+" if i % 2 == 0 else "-", i * SPACING + 200) for i in range(n)]


def write_genome(root, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    chrom = "".join(rng.choice(list("ACGT"), n * SPACING + 400))
    lines80 = "\n".join(chrom[i:i + 80] for i in range(0, len(chrom), 80))
    (root / "genome.fa").write_text(f">chr1\n{lines80}\n")
    lines = ["##gff-version 3"]
    for gid, strand, tss in gene_layout(n):
        start, end = (tss + 1, tss + 100) if strand == "+" else (tss - 99, tss)  # GFF 1-based inclusive
        lines.append(f"chr1\tt\tgene\t{start}\t{end}\t.\t{strand}\t.\tID={gid};gene_biotype=protein_coding")
    (root / "genes.gff3").write_text("\n".join(lines) + "\n")
    return len(chrom)


def window(strand: str, tss: int) -> tuple[int, int]:
    """Genome [start, end) of the UP-base promoter (TSS = the gene start on its strand)."""
    return (tss - UP, tss) if strand == "+" else (tss, tss + UP)


def distance_to_tss(strand: str, tss: int, pos: np.ndarray) -> np.ndarray:
    """Bases from each genome position to the TSS end of the promoter (1 = the base next to the TSS)."""
    return tss - pos if strand == "+" else pos - tss + 1


SHAPES = {
    "peak": lambda d: np.exp(-((d - 10) / 8.0) ** 2),  # narrow peak 10 bp upstream of the TSS
    "plateau": lambda d: np.ones_like(d, dtype=float),  # flat over the whole promoter
    "distal": lambda d: (d > 35).astype(float),  # only the 5' part of the promoter
}


def write_bedgraph(path, n: int, activity: np.ndarray, shape: str, *, floor: float = 0.2):
    rows = []
    for (_gid, strand, tss), a in zip(gene_layout(n), activity, strict=True):
        lo, hi = window(strand, tss)
        pos = np.arange(lo, hi)
        vals = floor + 10.0 * a * SHAPES[shape](distance_to_tss(strand, tss, pos))
        rows += [f"chr1\t{p}\t{p + 1}\t{v:.5f}" for p, v in zip(pos, vals, strict=True)]
    path.write_text("track type=bedGraph\n" + "\n".join(rows) + "\n")


def write_states(path, n: int, activity: np.ndarray):
    rows = []
    for (_gid, strand, tss), a in zip(gene_layout(n), activity, strict=True):
        lo, hi = window(strand, tss)
        rows.append(f"chr1\t{lo}\t{hi}\t{'active' if a > 0.5 else 'repressed'}")
    path.write_text("\n".join(rows) + "\n")


def build_synthetic(root, *, n: int = 300, shape: str = "peak", seed: int = 0, states: bool = False):
    """Genome, promoters, TPM (leaf, root), dataset, track sheet, and a tiny untrained model (pre/)."""
    from florabert.data.dataset import build_expression_dataset
    from florabert.genome.promoters import extract_promoters, write_promoters
    from florabert.modeling import FloraBertConfig, FloraBertForMaskedLM
    from florabert.tokenization import train_tokenizer

    rng = np.random.default_rng(seed + 1)
    write_genome(root, n, seed)
    prom = extract_promoters(root / "genome.fa", root / "genes.gff3", upstream=UP, species="synth")
    write_promoters(prom.table, root / "p.parquet")
    activity = {t: rng.uniform(0, 1, n) for t in ("leaf", "root")}
    tracks = []
    for t, a in activity.items():
        if states:
            write_states(root / f"{t}.bed", n, a)
            tracks.append({"tissue": t, "mark": "chromhmm", "file": f"{t}.bed"})
            a = (a > 0.5).astype(float)
            activity[t] = a
        else:
            write_bedgraph(root / f"{t}.bedGraph", n, a, shape)
            tracks.append({"tissue": t, "mark": "ATAC", "file": f"{t}.bedGraph"})
    import yaml

    (root / "tracks.yaml").write_text(yaml.safe_dump({"tracks": tracks}))
    genes = [g for g, _, _ in gene_layout(n)]
    tpm = {t: np.exp(1.0 + 2.0 * a + rng.normal(0, 0.05, n)) - 1 for t, a in activity.items()}
    (root / "tpm.tsv").write_text("gene_id\tleaf\troot\n" + "".join(
        f"{g}\t{tpm['leaf'][i]:.5f}\t{tpm['root'][i]:.5f}\n" for i, g in enumerate(genes)))
    (root / "fam.tsv").write_text("gene_id\tfamily_id\n" + "".join(f"{g}\t{g}\n" for g in genes))
    build_expression_dataset(root / "tpm.tsv", root / "p.parquet", root / "data", families=root / "fam.tsv",
                             seed=seed, log=lambda m: None)
    tok = train_tokenizer(None, kind="kmer", k=3, stride=3)
    cfg = FloraBertConfig.from_tokenizer(tok.hf, max_length=24, hidden_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, intermediate_size=64)
    torch.manual_seed(seed)
    FloraBertForMaskedLM(cfg).save_pretrained(root / "pre")
    tok.write_files(root / "pre")
    return root


def ft_config(seed: int = 0, **kw):
    from florabert.config import FinetuneConfig, load_config

    return load_config(FinetuneConfig, overrides={
        "max_steps": 400, "eval_steps": 50, "batch_size": 32, "learning_rate": 3e-3, "warmup_steps": 20,
        "unfreeze_every": 100, "early_stopping_patience": 4, "max_length": 24, "logging_steps": 50,
        "optimizer": "adamw", "seed": seed, **kw})


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return build_synthetic(tmp_path_factory.mktemp("synth"))


# ------------------------------------------------------------------------------------------ sheet + readers


def test_sheet_errors_name_the_line(tmp_path):
    (tmp_path / "a.bedGraph").write_text("chr1\t0\t10\t1.0\n")
    (tmp_path / "b.txt").write_text("chr1\t0\t10\t1.0\n")
    sheet = tmp_path / "s.yaml"
    leaf = "tracks:\n  - {tissue: leaf, mark: ATAC, file: a.bedGraph}\n"
    cases = [
        (leaf + "  - {tissue: root, mark: ATAC, file: nope.bw}\n",
         r"s.yaml:3: .*nope.bw: file not found"),
        ("tracks:\n  - {tissue: leaf, mark: ATAC, file: b.txt}\n", r"s.yaml:2: b.txt: cannot tell the kind"),
        ("tracks:\n  - {tissue: leaf, file: a.bedGraph}\n", r"s.yaml:2: track without mark"),
        (leaf + "  - {tissue: leaf, mark: ATAC, file: a.bedGraph}\n",
         r"s.yaml:3: tissue 'leaf' has mark 'ATAC' twice"),
        (leaf + "  - {tissue: root, mark: K4, file: a.bedGraph}\n",
         r"tissue 'leaf' has no K4 track; every tissue needs the same marks"),
        ("tracks: []\n", r"non-empty 'tracks' list"),
        ("normalize: zscore\n" + leaf, r"normalize must be"),
    ]
    for text, pattern in cases:
        sheet.write_text(text)
        with pytest.raises(InputError, match=pattern):
            load_sheet(sheet)


@pytest.mark.parametrize("line,pattern", [
    ("chr1\t5\tx\t1.0", r"b.bedGraph:3: start/end '5'/'x' are not integers"),
    ("chr1\t5\t9", r"b.bedGraph:3: expected chrom, start, end, value \(found 3 fields\)"),
    ("chr1\t5\t9\tnan", r"b.bedGraph:3: value 'nan' is not finite"),
    ("chr1\t9\t5\t1", r"b.bedGraph:3: bad interval 9-5"),
    ("chr1\t8\t12\t1", r"b.bedGraph:3: interval chr1:8-12 overlaps the one at line 2"),
])
def test_bedgraph_errors_name_file_and_line(tmp_path, line, pattern):
    (tmp_path / "b.bedGraph").write_text(f"track type=bedGraph\nchr1\t0\t10\t1.0\n{line}\n")
    (tmp_path / "s.yaml").write_text("tracks:\n  - {tissue: leaf, mark: ATAC, file: b.bedGraph}\n")
    with pytest.raises(InputError, match=pattern):
        TrackSet.open(tmp_path / "s.yaml")


def test_bigwig_and_bedgraph_give_the_same_features(tmp_path):
    """pyBigWig writes the same intervals as a bedGraph: both readers give identical normalized per-base
    values (and the same track mean), missing data reading as 0."""
    import pyBigWig

    starts, ends, vals = [10, 30, 31, 60], [20, 31, 40, 90], [2.0, 5.0, 0.5, 1.5]
    (tmp_path / "a.bedGraph").write_text("".join(f"chr1\t{s}\t{e}\t{v}\n" for s, e, v in zip(starts, ends, vals,
                                                                                           strict=True)))
    bw = pyBigWig.open(str(tmp_path / "a.bw"), "w")
    bw.addHeader([("chr1", 200), ("chr2", 50)])
    bw.addEntries(["chr1"] * 4, starts, ends=ends, values=vals)
    bw.close()
    mean = (10 * 2.0 + 5.0 + 9 * 0.5 + 30 * 1.5) / 50
    out = {}
    for name in ("a.bedGraph", "a.bw"):
        (tmp_path / "s.yaml").write_text(f"tracks:\n  - {{tissue: leaf, mark: ATAC, file: {name}}}\n")
        ts = TrackSet.open(tmp_path / "s.yaml")
        assert ts.readers[("leaf", "ATAC")].mean == pytest.approx(mean)
        coords = coords_from_table(_table([("chr1", "+", 0, 100)]))
        out[name] = ts.bases("leaf", coords[0])[0][:, 0]
    np.testing.assert_allclose(out["a.bedGraph"], out["a.bw"], rtol=1e-6)
    raw = np.zeros(100)
    for s, e, v in zip(starts, ends, vals, strict=True):
        raw[s:e] = v
    np.testing.assert_allclose(out["a.bw"], np.log1p(raw / mean), rtol=1e-6)


def _table(rows):
    import pyarrow as pa

    return pa.table({"chrom": [r[0] for r in rows], "strand": [r[1] for r in rows], "start": [r[2] for r in rows],
                     "end": [r[3] for r in rows], "sequence": ["A" * (r[3] - r[2]) for r in rows]})


# --------------------------------------------------------------------------------------------- alignment


@pytest.mark.parametrize("kind,k,stride", [("kmer", 6, 6), ("kmer", 4, 1), ("nucleotide", 1, 1), ("kmer", 3, 3)])
def test_a_track_rising_toward_the_tss_rises_toward_the_tss_on_both_strands(tmp_path, kind, k, stride):
    """The track = distance-from-window-edge, growing toward each gene's TSS (left to right for + genes,
    right to left in genome coordinates for - genes). Promoters cut by florabert promoters from a GFF;
    per-token features (mean over each token's bases) must rise along the tokens (5' -> TSS) for both,
    equal the hand-computed means, and match between the two strands."""
    from florabert.genome.promoters import extract_promoters
    from florabert.tokenization import train_tokenizer

    n = 4
    write_genome(tmp_path, n)
    rows = []
    for _gid, strand, tss in gene_layout(n):
        lo, hi = window(strand, tss)
        for p in range(lo, hi):
            rows.append((p, float(UP + 1 - distance_to_tss(strand, tss, np.array([p]))[0])))  # 1 .. UP at the TSS
    (tmp_path / "t.bedGraph").write_text("".join(f"chr1\t{p}\t{p + 1}\t{v}\n" for p, v in sorted(rows)))
    (tmp_path / "s.yaml").write_text("normalize: none\ntracks:\n  - {tissue: leaf, mark: ATAC, file: t.bedGraph}")
    ts = TrackSet.open(tmp_path / "s.yaml")
    prom = extract_promoters(tmp_path / "genome.fa", tmp_path / "genes.gff3", upstream=UP).table
    assert prom.column("strand").to_pylist() == ["+", "-", "+", "-"]
    tok = train_tokenizer(None, kind=kind, k=k, stride=stride)
    per_base_expected = np.arange(1, UP + 1, dtype=float)  # 5' end ... base next to the TSS
    features = []
    for c, seq in zip(coords_from_table(prom), prom.column("sequence").to_pylist(), strict=True):
        np.testing.assert_array_equal(ts.bases("leaf", c)[0][:, 0], per_base_expected)
        ids = tok(seq, truncation=True, max_length=12)["input_ids"]
        values, _ = ts.tokens(tok, ids, "leaf", c)
        start, end = tok.base_spans(ids, len(seq))
        real = start < end
        v = values[real, 0]
        assert np.all(np.diff(v) > 0), (c.strand, v)
        np.testing.assert_allclose(v, [per_base_expected[s:e].mean() for s, e in zip(start[real], end[real],
                                                                                      strict=True)], rtol=1e-6)
        assert values[~real].sum() == 0  # <s>, </s>
        features.append(values)
    np.testing.assert_allclose(features[0], features[1])  # + and - strand promoters see the same ramp


def test_padded_windows_and_state_majority(tmp_path):
    """A window clipped at the chromosome start (--edge pad) gets its N padding as "no data" on the 5' side;
    per token, the most frequent state wins."""
    from florabert.tokenization import train_tokenizer

    (tmp_path / "s.bed").write_text("chr1\t0\t4\tB\nchr1\t4\t10\tA\n")
    (tmp_path / "s.yaml").write_text("tracks:\n  - {tissue: leaf, mark: hmm, file: s.bed}\n")
    ts = TrackSet.open(tmp_path / "s.yaml")
    assert ts.layout == {"signals": [], "states": {"hmm": ["A", "B"]}, "tissues": ["leaf"]}
    c = coords_from_table(_table([("chr1", "+", 0, 10)]))[0]
    c.length = 15  # 5 bases of N padding before the chromosome start
    _, st = ts.bases("leaf", c)
    assert st[:, 0].tolist() == [0] * 5 + [2] * 4 + [1] * 6
    tok = train_tokenizer(None, kind="kmer", k=3, stride=3)
    ids = tok("N" * 5 + "ACGTACGTAC")["input_ids"]
    _, tok_states = aggregate(tok, ids, np.zeros((15, 0)), st)
    assert tok_states[:, 0].tolist() == [0, 0, 0, 2, 1, 1, 0]  # NNN, NN+B, BBB... majority per 3 bases


def test_no_shared_chromosome_and_unknown_states_are_errors(synth, tmp_path):
    (tmp_path / "x.bedGraph").write_text("chrZ\t0\t10\t1\n")
    (tmp_path / "s.yaml").write_text("tracks:\n  - {tissue: leaf, mark: ATAC, file: x.bedGraph}\n")
    import pyarrow.parquet as pq

    ts = TrackSet.open(tmp_path / "s.yaml")
    with pytest.raises(InputError, match=r"no promoter chromosome \(e.g. 'chr1'\) is in the tracks"):
        ts.check_chromosomes(coords_from_table(pq.read_table(synth / "p.parquet")))
    (tmp_path / "x.bed").write_text("chr1\t0\t10\tweird\n")
    (tmp_path / "s.yaml").write_text("tracks:\n  - {tissue: leaf, mark: hmm, file: x.bed}\n")
    with pytest.raises(InputError, match=r"x.bed: states weird of mark 'hmm' are not known to the model"):
        TrackSet.open(tmp_path / "s.yaml", layout={"signals": [], "states": {"hmm": ["A", "B"]}})
    with pytest.raises(InputError, match=r"the model reads signals \['ATAC'\]"):
        TrackSet.open(tmp_path / "s.yaml", layout={"signals": ["ATAC"], "states": {}})


# ------------------------------------------------------------------------------------------------- model


def test_no_tracks_is_exactly_the_plain_model_and_tracks_change_the_output(tmp_path):
    from florabert.modeling import FloraBertConfig, FloraBertForExpression, FloraBertForMaskedLM

    base = dict(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                pad_token_id=1, bos_token_id=0, eos_token_id=2, max_position_embeddings=40, num_labels=1)
    ids = torch.tensor([[0, 5, 6, 7, 8, 2]])
    for cls in (FloraBertForMaskedLM, FloraBertForExpression):
        torch.manual_seed(0)
        plain = cls(FloraBertConfig(**base)).eval()
        torch.manual_seed(0)
        empty = cls(FloraBertConfig(**base, tracks={})).eval()
        assert plain.state_dict().keys() == empty.state_dict().keys()
        assert torch.equal(plain(ids).logits, empty(ids).logits)
        with pytest.raises(ValueError, match="no epigenetic channel"):
            plain(ids, track_values=torch.zeros(1, 6, 1))
    layout = {"signals": ["ATAC", "K4"], "states": {"hmm": ["A", "B", "C"]}, "tissues": ["leaf"]}
    model = FloraBertForExpression(FloraBertConfig(**base, tracks=layout)).eval()
    extra = {k for k in model.state_dict() if "tracks" in k}
    assert extra == {"roberta.embeddings.tracks.signals.weight", "roberta.embeddings.tracks.states.0.weight"}
    assert model.roberta.embeddings.tracks.states[0].weight[0].abs().sum() == 0  # "no data" adds nothing
    v, s = torch.rand(1, 6, 2), torch.tensor([[[0], [1], [2], [3], [1], [0]]])
    y = model(ids, track_values=v, track_states=s).logits
    assert not torch.allclose(y, model(ids, track_values=v * 5, track_states=s).logits)
    assert not torch.allclose(y, model(ids, track_values=v, track_states=(s + 1) % 4).logits)
    with pytest.raises(ValueError, match="reads epigenetic tracks"):
        model(ids)
    model.save_pretrained(tmp_path / "m")
    again = FloraBertForExpression.from_pretrained(tmp_path / "m").eval()
    assert again.config.tracks == layout
    torch.testing.assert_close(again(ids, track_values=v, track_states=s).logits, y)


# ---------------------------------------------------------------------------------------------- training


def r2(metrics):
    return metrics["test"]["test_r2_all"]


@pytest.mark.parametrize("shape,seed", [("peak", 0), ("distal", 1), ("plateau", 2)])
def test_label_only_in_the_track_is_learned_with_the_channel_not_without(tmp_path, shape, seed):
    from florabert.training.finetune import finetune

    root = build_synthetic(tmp_path, n=240, shape=shape, seed=seed)
    cfg = ft_config(seed, max_steps=200)  # with the channel: test R² 0.95-0.97 by step 200 for all three shapes
    with_tracks = finetune(root / "pre", root / "data", tmp_path / "ebert", cfg, tracks=root / "tracks.yaml",
                           log=lambda m: None)
    plain = finetune(root / "pre", root / "data", tmp_path / "plain", cfg, log=lambda m: None)
    assert r2(with_tracks) > 0.6, r2(with_tracks)
    assert r2(plain) < 0.1, r2(plain)


def test_discrete_states_are_learned(tmp_path):
    from florabert.training.finetune import finetune

    root = build_synthetic(tmp_path, n=240, seed=3, states=True)
    m = finetune(root / "pre", root / "data", tmp_path / "ebert", ft_config(3), tracks=root / "tracks.yaml",
                 log=lambda m: None)
    assert r2(m) > 0.8, r2(m)


def test_cli_pretrain_finetune_predict_with_tracks(run_cli, synth, tmp_path):
    """EBERT end to end on the CLI: pre-train on (promoter, tissue state) pairs, fine-tune from it, predict
    from genome + annotation + sheet; predictions follow the activity the tracks carry."""
    from florabert.predict import Predictor

    (tmp_path / "cfg.yaml").write_text(
        "model: {hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, "
        "max_length: 24}\nwarmup_steps: 2\neval_fraction: 0.2\n")
    code, out, err = run_cli("pretrain", "--corpus", synth / "p.parquet", "--tokenizer", synth / "pre", "--out",
                             tmp_path / "pre", "--config", tmp_path / "cfg.yaml", "--max-steps", "6",
                             "--save-steps", "6", "--eval-steps", "6", "--batch-size", "16", "--tracks",
                             synth / "tracks.yaml", "--mask-tracks", "0.5", "--bf16", "off")
    assert code == 0, out + err
    cfg = json.loads((tmp_path / "pre" / "config.json").read_text())
    assert cfg["tracks"]["signals"] == ["ATAC"] and cfg["tracks"]["tissues"] == ["leaf", "root"]
    assert "EBERT" in (tmp_path / "pre" / "README.md").read_text()

    code, out, err = run_cli("finetune", "--model", tmp_path / "pre", "--data", synth / "data", "--out",
                             tmp_path / "plainft")
    assert code == 1 and "pre-trained with epigenetic tracks; give --tracks SHEET" in out + err
    (tmp_path / "ft.yaml").write_text("max_steps: 300\neval_steps: 50\nlearning_rate: 0.003\noptimizer: adamw\n"
                                      "unfreeze_every: 100\nmax_length: 24\nwarmup_steps: 20\n")
    code, out, err = run_cli("finetune", "--model", tmp_path / "pre", "--data", synth / "data", "--out",
                             tmp_path / "ft", "--config", tmp_path / "ft.yaml", "--tracks", synth / "tracks.yaml")
    assert code == 0, out + err
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["targets"] == ["leaf", "root"]

    code, out, err = run_cli("predict", "--model", tmp_path / "ft", "--genome", synth / "genome.fa",
                             "--annotation", synth / "genes.gff3", "--out", tmp_path / "pred.tsv")
    assert code == 1 and "reads epigenetic tracks; give --tracks SHEET" in out + err
    assert not (tmp_path / "pred.tsv").exists()
    code, out, err = run_cli("predict", "--model", tmp_path / "ft", "--fasta", tmp_path / "none.fa", "--tracks",
                             synth / "tracks.yaml", "--out", tmp_path / "pred.tsv")
    assert code == 1 and "--genome with --annotation" in out + err
    code, out, err = run_cli("predict", "--model", tmp_path / "ft", "--genome", synth / "genome.fa",
                             "--annotation", synth / "genes.gff3", "--tracks", synth / "tracks.yaml", "--out",
                             tmp_path / "pred.tsv")
    assert code == 0, out + err
    with open(tmp_path / "pred.tsv") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert list(rows[0]) == ["gene_id", "leaf", "root", "leaf_tpm", "root_tpm"] and len(rows) == 300
    truth = {}
    with open(synth / "tpm.tsv") as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            truth[r["gene_id"]] = r
    for tissue in ("leaf", "root"):
        pred = np.array([float(r[tissue]) for r in rows])
        obs = np.log1p([float(truth[r["gene_id"]][tissue]) for r in rows])
        assert np.corrcoef(pred, obs)[0, 1] > 0.8
    with pytest.raises(FloraBertError, match="reads epigenetic tracks"):
        Predictor(tmp_path / "ft").predict(["ACGT" * 10])
    code, out, err = run_cli("predict", "--model", tmp_path / "ft", "--genome", synth / "genome.fa",
                             "--annotation", synth / "genes.gff3", "--tracks", tmp_path / "missing.yaml",
                             "--out", tmp_path / "pred.tsv")
    assert code == 1 and "missing.yaml: file not found" in out + err and "Traceback" not in out + err
    assert (tmp_path / "pred.tsv").exists()  # the earlier output is kept


def test_tracks_profile_peaks_where_the_tracks_peak(run_cli, synth, tmp_path):
    """The synthetic peak sits 10 bp upstream of every TSS on both strands: the profile's maximum must be at
    position -10 for both tissues (a strand mix-up would smear it or move it to -51)."""
    code, out, err = run_cli("tracks", "profile", "--tracks", synth / "tracks.yaml", "--promoters",
                             synth / "p.parquet", "--out", tmp_path / "prof")
    assert code == 0, out + err
    assert "300 promoters; with any data: leaf: ATAC 300; root: ATAC 300" in out + err
    with open(tmp_path / "prof" / "profile.tsv") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for tissue in ("leaf", "root"):
        curve = {int(r["position"]): float(r["value"]) for r in rows if r["tissue"] == tissue}
        assert sorted(curve) == list(range(-UP, 0))
        assert max(curve, key=curve.get) == -10
    assert (tmp_path / "prof" / "profile.png").stat().st_size > 10_000


def test_tracks_are_read_per_window_of_a_multi_window_layout(run_cli, tmp_path):
    """One signal base 5 bp past every gene's 3' end (on its strand): in a tss:-20:0,tts:0:+20 table the
    profile peaks at TTS +5 on both strands and is flat in the TSS window; tokens see it in window 2 only."""
    from florabert.genome import extract_promoters, write_promoters
    from florabert.tokenization import train_tokenizer

    n = 20
    write_genome(tmp_path, n)
    rows = []
    for _gid, strand, tss in gene_layout(n):
        start, end = (tss, tss + 100) if strand == "+" else (tss - 100, tss)  # 0-based gene
        p = end + 5 if strand == "+" else start - 6
        rows.append(f"chr1\t{p}\t{p + 1}\t5\n")
    (tmp_path / "leaf.bedGraph").write_text("".join(rows))
    (tmp_path / "tracks.yaml").write_text("tracks:\n  - {tissue: leaf, mark: ATAC, file: leaf.bedGraph}\n")
    table = extract_promoters(tmp_path / "genome.fa", tmp_path / "genes.gff3", layout="tss:-20:0,tts:0:+20").table
    write_promoters(table, tmp_path / "p.parquet")
    code, out, err = run_cli("tracks", "profile", "--tracks", tmp_path / "tracks.yaml", "--promoters",
                             tmp_path / "p.parquet", "--out", tmp_path / "prof")
    assert code == 0, out + err
    with open(tmp_path / "prof" / "profile.tsv") as fh:
        prof = list(csv.DictReader(fh, delimiter="\t"))
    tts = {int(r["position"]): float(r["value"]) for r in prof if r["window"] == "tts:0:+20"}
    tss = {int(r["position"]): float(r["value"]) for r in prof if r["window"] == "tss:-20:0"}
    assert sorted(tts) == list(range(20)) and sorted(tss) == list(range(-20, 0))
    assert max(tts, key=tts.get) == 5 and tts[5] > 0 and max(tss.values()) == 0
    tok = train_tokenizer(None, kind="nucleotide")
    from florabert.layout import Layout

    tok.layout = Layout.parse("tss:-20:0,tts:0:+20")
    ts = TrackSet.open(tmp_path / "tracks.yaml")
    coords = coords_from_table(table)
    for seq, c in zip(table.column("sequence").to_pylist(), coords, strict=True):
        ids = tok(seq)["input_ids"]
        values, _ = ts.tokens(tok, ids, "leaf", c)
        hot = np.flatnonzero(values[:, 0] > 0).tolist()
        assert hot == [1 + 20 + 1 + 5]  # <s>, 20 TSS-window bases, </s>, then TTS +0..+4
