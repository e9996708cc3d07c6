"""The deep path learns sequence with the default recipe: a planted motif whose effect depends on where it sits.

Half the genes carry CACGTGAC at -60..-53 (it raises ln TPM by 2.5); independently, half carry it at -250..-243
(no effect). Composition does not tell the groups apart and a position-blind motif count is confounded by the
decoy, so neither the wide path nor a model that ignores position explains the targets; the default stem model
fine-tuned with the default recipe must, and its positional importance must peak on the motif, not the decoy.
"""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

MOTIF, NEAR, FAR, LENGTH = "CACGTGAC", -60, -250, 300


def planted_set(root, genes: list, seqs: list, rows: list, layout: str):
    """Promoters cut with ``layout`` (``|``-joined windows), their TPM table and families, the dataset
    (``root/data``) and a tiny untrained stem model (``root/pre``: 2 layers x 32, bins of 16 bases)."""
    import torch

    from florabert.data.dataset import build_expression_dataset
    from florabert.genome.promoters import META_KEY
    from florabert.layout import Layout
    from florabert.modeling import FloraBertConfig, FloraBertForMaskedLM
    from florabert.tokenization import train_tokenizer

    lay = Layout.parse(layout)
    table = pa.table({"species": ["s"] * len(genes), "gene_id": genes, "chrom": ["c"] * len(genes),
                      "strand": ["+"] * len(genes), "sequence": seqs})
    pq.write_table(table.replace_schema_metadata({META_KEY: json.dumps(lay.to_dict()).encode()}),
                   root / "p.parquet")
    (root / "tpm.tsv").write_text("\n".join(rows) + "\n")
    (root / "fam.tsv").write_text("gene_id\tfamily_id\n" + "".join(f"{g}\t{g}\n" for g in genes))
    build_expression_dataset(root / "tpm.tsv", root / "p.parquet", root / "data", families=root / "fam.tsv",
                             log=lambda m: None)
    tok = train_tokenizer(None, kind="nucleotide", model_max_length=512)
    cfg = FloraBertConfig.from_tokenizer(tok.hf, max_length=512, hidden_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, intermediate_size=64, stem={"pool": 16},
                                         promoter_window=lay.to_dict(), type_vocab_size=len(lay))
    torch.manual_seed(0)
    FloraBertForMaskedLM(cfg).save_pretrained(root / "pre")
    tok.write_files(root / "pre")
    return root


@pytest.fixture(scope="module")
def decoy(tmp_path_factory):
    """Promoters (tss:-300:0), TPM, a dataset and a tiny untrained stem model (2 layers x 32)."""
    root = tmp_path_factory.mktemp("decoy")
    rng = np.random.default_rng(1)
    genes, seqs, carriers, rows = [], [], [], ["gene_id\tleaf"]
    for i in range(700):
        while True:
            s = "".join(rng.choice(list("ACGT"), LENGTH, p=[0.32, 0.18, 0.18, 0.32]))
            if MOTIF not in s:
                break
        near, far = i % 2 == 0, rng.random() < 0.5
        for k in [LENGTH + NEAR] * near + [LENGTH + FAR] * far:
            s = s[:k] + MOTIF + s[k + len(MOTIF):]
        genes.append(f"g{i:04d}")
        seqs.append(s)
        carriers.append(near)
        rows.append(f"g{i:04d}\t{np.exp(2.0 + 2.5 * near + rng.normal(0, 0.3)) - 1:.5f}")
    return planted_set(root, genes, seqs, rows, "tss:-300:0")


@pytest.mark.slow
def test_default_recipe_learns_where_the_motif_sits(decoy, tmp_path):
    from florabert.config import FinetuneConfig, load_config
    from florabert.explain.positional import positional_importance
    from florabert.training.finetune import finetune

    cfg = load_config(FinetuneConfig, overrides={"max_steps": 500, "eval_steps": 50, "logging_steps": 50})
    metrics = finetune(decoy / "pre", decoy / "data", tmp_path / "ft", cfg, log=print)
    r2 = metrics["test"]["test_r2_all"]
    wide = metrics["wide"]["validation_r2"]
    assert wide < 0.35  # composition tells the groups apart only in part (a second copy of the motif, or none)
    assert r2 > 0.8, f"test R² {r2:.3f}: the deep path did not learn the position-dependent motif"
    summary = positional_importance(tmp_path / "ft", decoy / "p.parquet", tmp_path / "pos", lengths=[4],
                                    samples=2, max_sequences=16, step=2, show_progress=False)
    peak = int(summary["peak_position"]["4"])
    assert NEAR - 4 <= peak <= NEAR + len(MOTIF), f"importance peaks at {peak}, not on the motif at {NEAR}"


def test_shifted_training_windows_reach_the_trainer(decoy, tmp_path):
    """shift_augment on a stem model: fine-tuning draws its batches from shifted rows. The decoy promoters hold
    no N, so an N in a training batch is a shifted window's gap. attention_dropout replaces the pre-trained
    model's dropout on the attention weights."""
    from transformers import TrainerCallback

    from florabert.config import FinetuneConfig, load_config
    from florabert.tokenization import DNATokenizer
    from florabert.training.finetune import finetune

    seen = []

    class Batches(TrainerCallback):
        def on_step_begin(self, args, state, control, train_dataloader=None, **kwargs):
            if not seen:
                seen.append(next(iter(train_dataloader))["input_ids"])

    log = []
    cfg = load_config(FinetuneConfig, overrides={"max_steps": 4, "eval_steps": 4, "shift_augment": 8,
                                                 "attention_dropout": 0.0, "wide_kmers": [], "wide_motifs": False})
    metrics = finetune(decoy / "pre", decoy / "data", tmp_path / "ft", cfg, log=log.append, callbacks=[Batches()])
    assert any("shifted by up to 8 bases" in m for m in log) and metrics["steps"] == 4
    pre = json.loads((decoy / "pre" / "config.json").read_text())["attention_probs_dropout_prob"]
    tuned = json.loads((tmp_path / "ft" / "config.json").read_text())["attention_probs_dropout_prob"]
    assert (pre, tuned) == (0.1, 0.0)  # attention_dropout reached the model
    n_id = DNATokenizer.load(decoy / "pre").hf.get_vocab()["N"]
    gaps = (seen[0] == n_id).sum(1)
    assert (gaps > 0).float().mean() > 0.8 and gaps.max() <= 8  # 1 in 17 windows draws shift 0


@pytest.fixture(scope="module")
def codon_phase(tmp_path_factory):
    """A promoter and a coding window (tss:-60:0,cds:0:+240); expression follows where in the codons the G and C
    sit: in half the genes at the third codon position (A/T at the first), in the other half at the first (A/T at
    the third). Composition is the same in both groups, and so is every pattern of bases up to a shift of one
    codon position: only a model that reads the coding window in frame tells them apart."""
    root = tmp_path_factory.mktemp("codon_phase")
    rng = np.random.default_rng(2)
    gc, at = np.array(list("GC")), np.array(list("AT"))
    genes, seqs, rows = [], [], ["gene_id\tleaf"]
    for i in range(400):
        third = i % 2 == 0
        codons = [(rng.choice(at) if third else rng.choice(gc)) + rng.choice(list("ACGT"))
                  + (rng.choice(gc) if third else rng.choice(at)) for _ in range(80)]
        promoter = "".join(rng.choice(list("ACGT"), 60))
        genes.append(f"g{i:04d}")
        seqs.append(promoter + "|" + "".join(codons))
        rows.append(f"g{i:04d}\t{np.exp(2.0 + 2.0 * third + rng.normal(0, 0.3)) - 1:.5f}")
    return planted_set(root, genes, seqs, rows, "tss:-60:0,cds:0:+240")


def test_the_readout_reads_the_coding_window_in_frame(codon_phase, tmp_path):
    """deep_readout: after fine-tuning, a ridge on each window's mean of the stem's first-layer features (per
    codon position in the coding window) joins the head. Here only the codon position of G/C carries the target:
    the read-out finds it, even from untrained filters after 8 steps, and earns the deep path's output; the saved
    model predicts as it scored."""
    from florabert.config import FinetuneConfig, load_config
    from florabert.data.dataset import load_expression_dataset
    from florabert.evaluation.metrics import r2
    from florabert.predict import Predictor
    from florabert.training.finetune import finetune

    cfg = load_config(FinetuneConfig, overrides={"max_steps": 8, "eval_steps": 8, "deep_readout": True,
                                                 "wide_kmers": [], "wide_motifs": False})
    metrics = finetune(codon_phase / "pre", codon_phase / "data", tmp_path / "ft", cfg, log=lambda m: None)
    info = metrics["head"]["readout"]
    assert info["validation_r2_head"] < 0.5 and info["validation_r2_readout"] > 0.8, info
    assert info["weight"] >= 0.7 and info["validation_r2"] >= info["validation_r2_readout"] - 1e-9
    predictor = Predictor(tmp_path / "ft")
    assert predictor.model.config.readout_weight == info["weight"] and hasattr(predictor.model, "readout")
    assert "ridge read-out of each window's mean" in (tmp_path / "ft" / "README.md").read_text()  # model card
    test = load_expression_dataset(codon_phase / "data").part("test")
    got = predictor.predict(test.column("sequence").to_pylist())
    want = np.array(test.column("labels").to_pylist())
    assert abs(r2(want, got) - metrics["test"]["test_r2_all"]) < 1e-3 and r2(want, got) > 0.8
    # under bf16 autocast (predict --bf16) the read-out still answers (its means are summed in fp32)
    rough = Predictor(tmp_path / "ft", bf16=True).predict(test.column("sequence").to_pylist())
    assert r2(want, rough) > r2(want, got) - 0.05
    # fine-tuned again from this model: its read-out is refitted from the head alone, not stacked on the old one
    again = finetune(tmp_path / "ft", codon_phase / "data", tmp_path / "again", cfg, log=lambda m: None)
    refit = again["head"]["readout"]
    assert refit["validation_r2_head"] < 0.5 and refit["validation_r2_readout"] > 0.8, refit
    assert again["test"]["test_r2_all"] > 0.8
