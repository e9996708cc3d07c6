"""Fine-tuning on a planted-motif synthetic set: it must be learned; the unfreezing schedule is exact."""

import itertools
import json

import numpy as np
import pytest
import torch
from transformers import TrainerCallback

from florabert.config import FinetuneConfig, load_config
from florabert.modeling import FloraBertForExpression
from florabert.training.finetune import finetune


def cfg(**kw):
    base = {"max_steps": 300, "eval_steps": 50, "batch_size": 16, "learning_rate": 3e-3, "warmup_steps": 10,
            "unfreeze_every": 60, "early_stopping_patience": 20, "max_length": 64, "logging_steps": 25,
            "wide_kmers": [], "wide_motifs": False}  # the transformer alone; the wide path has its own tests
    return load_config(FinetuneConfig, overrides={**base, **kw})


def test_planted_motif_is_learned_and_the_model_round_trips(planted, tmp_path):
    # AdamW: LAMB's per-layer trust ratio makes a 0.1 M-parameter model learn too slowly for 300 steps
    metrics = finetune(planted / "pre", planted / "data", tmp_path / "ft",
                       cfg(optimizer="adamw", learning_rate=1e-3), log=lambda m: None)
    assert metrics["test"]["test_r2_all"] > 0.6  # constant-mean R² is ~0
    assert metrics["test"]["test_pearson_mean"] > 0.8
    out = tmp_path / "ft"
    model = FloraBertForExpression.from_pretrained(out).eval()
    assert model.config.targets == ["leaf", "root"]
    assert model.config.target_transform == {"kind": "log", "offset": 1.0}
    assert json.loads((out / "metrics.json").read_text())["test"]["test_r2_all"] == metrics["test"]["test_r2_all"]
    assert (out / "README.md").exists() and (out / "logs" / "loss.png").exists()
    assert json.loads((out / "metrics.json").read_text())["head"]["kept_start"] is False  # it learned the motif
    assert not (out / "checkpoints").exists() and not (out / "training_args.bin").exists()
    from florabert.tokenization import DNATokenizer

    tok = DNATokenizer.load(out)
    batch = tok(["ACGT" * 30, "ACGT" * 15 + "TATAAA" + "ACGT" * 6], padding=True, return_tensors="pt")
    again = FloraBertForExpression.from_pretrained(out).eval()
    with torch.no_grad():
        a, b = model(**batch).logits, again(**batch).logits
    assert torch.equal(a, b)
    assert a[1, 0] > a[0, 0] and a[1, 1] < a[0, 1]  # motif: leaf up, root down


def test_progressive_unfreezing_changes_exactly_the_unfrozen_parameters(planted, tmp_path):
    snaps = []

    class Snap(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            snaps.append((state.global_step, {n: p.detach().clone() for n, p in model.named_parameters()}))

    finetune(planted / "pre", planted / "data", tmp_path / "u",  # FloraBERT's recipe: frozen embeddings
             cfg(max_steps=8, unfreeze_every=3, unfreeze_layers=2, warmup_steps=1, eval_steps=8,
                 freeze_embeddings=True), log=lambda m: None, callbacks=[Snap()])

    def changed(prefix, a, b):
        return any(not torch.equal(snaps[a][1][n], snaps[b][1][n]) for n in snaps[a][1] if n.startswith(prefix))

    top = ("roberta.encoder.layer.2.", "roberta.encoder.layer.3.")
    low = ("roberta.encoder.layer.0.", "roberta.encoder.layer.1.")
    # snaps[i] is after step i+1; layers 2-3 join before the 4th update, layers 0-1 before the 7th
    assert changed("head.", 0, 1)
    assert not any(changed(p, 0, 2) for p in top) and all(changed(p, 2, 3) for p in top)
    assert not any(changed(p, 0, 5) for p in low) and all(changed(p, 5, 6) for p in low)
    assert not changed("roberta.embeddings.", 0, len(snaps) - 1)  # embeddings stay frozen


def test_embeddings_join_with_the_last_stage_when_not_frozen(planted, tmp_path):
    snaps, logs = [], []

    class Snap(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            snaps.append({n: p.detach().clone() for n, p in model.named_parameters() if "embeddings" in n})

    finetune(planted / "pre", planted / "data", tmp_path / "e",
             cfg(max_steps=8, unfreeze_every=3, warmup_steps=1, eval_steps=8, freeze_embeddings=False),
             log=logs.append, callbacks=[Snap()])
    assert "step 6: unfreezing embeddings" in logs
    assert all(torch.equal(snaps[0][n], snaps[5][n]) for n in snaps[0])
    assert any(not torch.equal(snaps[5][n], snaps[6][n]) for n in snaps[0])


def test_cli_finetune_and_errors(run_cli, planted, tmp_path):
    code, out, err = run_cli("finetune", "--model", planted / "pre", "--data", planted / "data", "--out",
                             tmp_path / "c", "--max-steps", 20, "--eval-steps", 10)
    assert code == 0, err
    assert "test: loss" in out or "test: loss" in err
    before = (tmp_path / "c" / "model.safetensors").read_bytes()
    code, _, err = run_cli("finetune", "--model", planted / "pre", "--data", planted / "data", "--out",
                           tmp_path / "c", "--max-steps", 5, "--eval-steps", 5)
    assert code == 1 and "holds a complete model" in err and "--force" in err  # hours of work: never replaced
    assert (tmp_path / "c" / "model.safetensors").read_bytes() == before
    (tmp_path / "shift.yaml").write_text("shift_augment: 4\n")  # shifts bases: a stem model's option
    code, _, err = run_cli("finetune", "--model", planted / "pre", "--data", planted / "data", "--out",
                           tmp_path / "c", "--max-steps", 5, "--force", "--config", tmp_path / "shift.yaml")
    assert code == 1 and "shift_augment: 4 needs a stem model" in err and "Traceback" not in err
    assert (tmp_path / "c" / "model.safetensors").read_bytes() == before
    code, _, err = run_cli("finetune", "--model", planted / "pre", "--data", planted / "data", "--out",
                           tmp_path / "c", "--max-steps", 5, "--eval-steps", 5, "--force")
    assert code == 0, err  # asked for: the earlier model is replaced as a whole
    assert json.loads((tmp_path / "c" / "metrics.json").read_text())["steps"] == 5
    assert not list(tmp_path.glob(".c.*"))
    code, _, err = run_cli("finetune", "--model", planted / "pre", "--data", planted / "data", "--out",
                           tmp_path / "c", "--max-steps", 5, "--resume")
    assert code == 0 and "complete" in err
    code, _, err = run_cli("finetune", "--model", planted / "pre", "--data", tmp_path, "--out", tmp_path / "x")
    assert code == 1 and "not an expression dataset" in err


@pytest.fixture(scope="module")
def tuned(planted, tmp_path_factory):
    out = tmp_path_factory.mktemp("tuned") / "m"
    finetune(planted / "pre", planted / "data", out, cfg(max_steps=10, eval_steps=10, optimizer="adamw"),
             log=lambda m: None)
    return out


def read_tsv(path):
    lines = path.read_text().splitlines()
    return lines[0].split("\t"), [ln.split("\t") for ln in lines[1:]]


def test_predict_fasta_tsv_and_genome_agree(run_cli, tuned, data_dir, tmp_path):
    import shutil

    from florabert.genome import extract_promoters, write_promoters
    from florabert.modeling import FloraBertForExpression

    model_dir = tmp_path / "m"
    shutil.copytree(tuned, model_dir)
    model = FloraBertForExpression.from_pretrained(model_dir)
    model.config.promoter_window = {"upstream": 5, "downstream": 0, "feature": "gene", "biotype": "protein_coding"}
    model.save_pretrained(model_dir)
    prom = extract_promoters(data_dir / "tiny.fa", data_dir / "tiny.gff3", upstream=5)
    write_promoters(prom.table, tmp_path / "p.fa")
    write_promoters(prom.table, tmp_path / "p.tsv")
    results = {}
    for kind, args in (("fasta", ["--fasta", tmp_path / "p.fa"]), ("tsv", ["--tsv", tmp_path / "p.tsv"]),
                       ("genome", ["--genome", data_dir / "tiny.fa", "--annotation", data_dir / "tiny.gff3"])):
        code, _, err = run_cli("predict", "--model", model_dir, "--out", tmp_path / f"{kind}.tsv", *args)
        assert code == 0, err
        results[kind] = read_tsv(tmp_path / f"{kind}.tsv")
    header, rows = results["fasta"]
    assert header == ["gene_id", "leaf", "root", "leaf_tpm", "root_tpm"]
    assert [r[0] for r in rows] == ["gPlus", "gMinus", "gChr2"]
    assert results["tsv"] == results["fasta"] == results["genome"]
    from florabert.tokenization import DNATokenizer

    tok = DNATokenizer.load(model_dir)
    with torch.no_grad():
        direct = model.eval()(**tok(["CCGGT"], return_tensors="pt")).logits[0].numpy()
    got = np.array([float(v) for v in rows[0][1:3]])
    assert np.allclose(got, direct, atol=1e-5)
    assert np.allclose([float(v) for v in rows[0][3:5]], np.clip(np.exp(got) - 1.0, 0, None), rtol=1e-4)


def test_predict_bad_input(run_cli, tuned, planted, tmp_path):
    (tmp_path / "empty.fa").write_text("")
    (tmp_path / "noseq.tsv").write_text("gene_id\tdna\ng1\tACGT\n")
    (tmp_path / "ok.fa").write_text(">a\nACGT\n")
    cases = [
        (["--fasta", tmp_path / "ok.fa", "--tsv", tmp_path / "noseq.tsv"], "exactly one input"),
        (["--fasta", tmp_path / "empty.fa"], "no FASTA records"),
        (["--tsv", tmp_path / "noseq.tsv"], "noseq.tsv:1: needs a 'sequence' column"),
        (["--genome", tmp_path / "ok.fa", "--annotation", tmp_path / "x.gff3"], "does not record"),
    ]
    for args, fragment in cases:
        code, _, err = run_cli("predict", "--model", tuned, "--out", tmp_path / "o.tsv", *args)
        assert code == 1 and fragment in err, (args, err)
        assert not (tmp_path / "o.tsv").exists()
    code, _, err = run_cli("predict", "--model", planted / "pre", "--out", tmp_path / "o.tsv",
                           "--fasta", tmp_path / "ok.fa")
    assert code == 1 and "not a fine-tuned expression model" in err


def test_incomplete_encoder_checkpoint_is_refused(run_cli, planted, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    bad = tmp_path / "bad"
    shutil.copytree(planted / "pre", bad)
    weights = load_file(bad / "model.safetensors")
    dropped = [k for k in weights if ".encoder.layer.0.attention" in k]
    save_file({k: v for k, v in weights.items() if k not in dropped}, bad / "model.safetensors",
              metadata={"format": "pt"})
    code, _, err = run_cli("finetune", "--model", bad, "--data", planted / "data", "--out", tmp_path / "o",
                           "--max-steps", "2")
    assert code == 1 and "encoder weights are incomplete" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_prediction_reads_the_window_the_model_was_fine_tuned_on(planted, tmp_path):
    from florabert.errors import FloraBertError
    from florabert.predict import Predictor

    out = tmp_path / "w"  # 6-mer tokens: 8 tokens with <s> </s> = the 36 bases nearest the TSS
    finetune(planted / "pre", planted / "data", out, cfg(max_steps=10, eval_steps=10, max_length=8,
                                                          optimizer="adamw"), log=lambda m: None)
    p = Predictor(out)
    assert p.config.input_length == 8 and p.max_length == 8
    rng = np.random.default_rng(1)
    seq = "".join(rng.choice(list("ACGT"), 120))
    far = "".join(rng.choice(list("ACGT"), 84)) + seq[84:]  # differs only 5' of the window
    near = seq[:100] + "".join(rng.choice(list("ACGT"), 20))  # differs inside it
    a, b, c = p.predict([seq, far, near])
    # the same window in one batch: equal up to float rounding (rows of a batch may round differently)
    assert np.abs(a - b).max() < 1e-5 and np.abs(a - c).max() > 1e-3
    with pytest.raises(FloraBertError, match="longer than"):
        finetune(planted / "pre", planted / "data", tmp_path / "x", cfg(max_length=100), log=lambda m: None)


def test_wide_path_starts_at_the_ridge_fit_and_round_trips(planted, tmp_path, run_cli):
    """Not stacked (wide_stack: false), the wide path starts at the ridge fit: before any step the model predicts
    exactly what ridge regression on the training genes' composition features predicts. Stacked (the default),
    the saved model is the validation-chosen blend of its parts and predicts from sequences alone."""
    from sklearn.linear_model import RidgeCV

    from florabert.data.dataset import load_expression_dataset
    from florabert.features import window_features
    from florabert.training.finetune import _tokenized, fit_wide

    data = load_expression_dataset(planted / "data")
    tok_dir = planted / "pre"
    from florabert.tokenization import DNATokenizer

    tok = DNATokenizer.load(tok_dir)
    parts = {p: _tokenized(data.part(p), tok, 64, False, [1, 2, 3], data.layout)
             for p in ("train", "validation")}
    n = len(parts["train"]["wide_features"][0])
    model = FloraBertForExpression.from_pretrained(tok_dir, num_labels=2, targets=["leaf", "root"],
                                                   wide_kmers=[1, 2, 3], wide_features=n).eval()
    info = fit_wide(model, parts, cfg(wide_stack=False), log=lambda m: None)
    x = np.asarray(parts["train"]["wide_features"], dtype=np.float64)
    y = np.asarray(parts["train"]["labels"])
    mean, std = x.mean(0), x.std(0)
    std[std == 0] = 1
    ridge = RidgeCV(alphas=np.logspace(-1, 6, 15), alpha_per_target=True).fit((x - mean) / std, y)
    seqs = data.part("validation").column("sequence").to_pylist()[:20]
    batch = tok(seqs, padding=True, return_tensors="pt")
    batch["wide_features"] = torch.from_numpy(window_features(seqs, [1, 2, 3]))
    with torch.no_grad():
        got = model(**batch).logits.numpy()
        model.head[-1].weight.zero_()  # the head's small random start is all that separates it from ridge
        exact = model(**batch).logits.numpy()
    want = ridge.predict((window_features(seqs, [1, 2, 3]) - mean) / std)
    assert np.allclose(exact, want, atol=1e-4) and np.abs(got - want).max() < 0.1
    assert info["validation_r2"] > 0.2  # TATAAA's 3-mers carry the planted signal
    with pytest.raises(ValueError, match="wide_features"):
        model(**{k: v for k, v in batch.items() if k != "wide_features"})
    # end to end with the defaults: wide on, predictions from sequences alone
    ft_cfg = cfg(wide_kmers=[1, 2, 3, 4], wide_motifs=True, max_steps=30, eval_steps=10, optimizer="adamw")
    metrics = finetune(planted / "pre", planted / "data", tmp_path / "ft", ft_cfg, log=lambda m: None)
    from florabert.features import n_motif_features

    # 1-4-mer frequencies of the one window, then the known motifs' best score and hit count per matrix
    assert metrics["wide"]["features"] == 340 + n_motif_features(data.layout)
    assert metrics["wide"]["groups"]["motifs"]["features"] == n_motif_features(data.layout)
    assert metrics["test"]["test_r2_all"] > 0.3
    # the blended wide path: LightGBM saved in its text format; predictions from the folder alone reproduce the
    # test metrics computed during training
    assert (tmp_path / "ft" / "wide_lgbm_0.txt").exists()
    weights = metrics["wide"]["blend_weights"]
    assert set(weights) == {"deep", "ridge", "trees"} and sum(weights.values()) == pytest.approx(1.0)
    assert metrics["wide"]["validation_r2_blend"] >= max(metrics["wide"][f"validation_r2_{k}"] for k in weights)
    from florabert.evaluation.metrics import r2
    from florabert.predict import Predictor

    test = data.part("test")
    again = r2(data.labels("test"), Predictor(tmp_path / "ft").predict(test.column("sequence").to_pylist()))
    assert again == pytest.approx(metrics["test"]["test_r2_all"], abs=1e-3)
    (tmp_path / "x.tsv").write_text("gene_id\tsequence\n" + "".join(f"s{i}\t{s}\n" for i, s in enumerate(seqs)))
    code, _, err = run_cli("predict", "--model", tmp_path / "ft", "--tsv", tmp_path / "x.tsv", "--out",
                           tmp_path / "p.tsv")
    assert code == 0, err
    assert len((tmp_path / "p.tsv").read_text().splitlines()) == 21


def test_a_run_that_ends_worse_than_its_start_returns_the_start(planted, tmp_path):
    """keep_better_start: a fine-tuning run thrown off by a far too large learning rate returns the model as it
    started (here the options: standardized states + probe; validation loss measured, not assumed; a run that
    learns keeps what it learned: test_planted_motif_is_learned...); the start's weights file does not outlive
    the run."""
    log = []
    bad = finetune(planted / "pre", planted / "data", tmp_path / "bad",
                   cfg(max_steps=20, eval_steps=10, learning_rate=5.0, warmup_steps=1, unfreeze_every=0,
                       early_stopping_min_steps=0, head_init="probe", head_standardize=True), log=log.append)
    head = json.loads((tmp_path / "bad" / "metrics.json").read_text())["head"]
    from florabert.predict import Predictor

    saved = Predictor(tmp_path / "bad").model  # the standardization the start was fitted with is saved
    assert head["pooled_sd_ratio"] > 0 and not torch.allclose(saved.pool_std, torch.ones_like(saved.pool_std))
    # the tuned loss is higher, or not a number if the run diverged that far
    assert head["kept_start"] and not head["validation_loss_tuned"] <= head["validation_loss_start"], head
    assert any("the model is the start" in m for m in log)
    assert bad["validation"]["validation_loss"] == pytest.approx(head["validation_loss_start"], rel=1e-5)
    assert not list(tmp_path.rglob("start_weights.*"))
    assert head["probe_train_r2"] > 0.1  # the start had learned something: the planted motif's carriers


def test_pad_collator_equals_the_transformers_collator():
    """The array collator fine-tuning uses gives the tensors DataCollatorWithPadding gives (left padding)."""
    import datasets
    from transformers import DataCollatorWithPadding

    from florabert.tokenization import train_tokenizer
    from florabert.training.batches import PadCollator, as_arrays

    tok = train_tokenizer(None, kind="nucleotide")
    rows = {"input_ids": [[0, 5, 6, 2], [0, 7, 2], [0, 8, 8, 8, 8, 2]],
            "labels": [[1.5, 2.0], [0.0, 3.25], [4.0, 1.0]], "length": [4, 3, 6]}
    ds = as_arrays(datasets.Dataset.from_dict(rows))
    ours = PadCollator(tok.hf.pad_token_id)([ds[i] for i in range(3)])
    theirs = DataCollatorWithPadding(tok.hf)([{k: v[i] for k, v in rows.items()} for i in range(3)])
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        assert ours[key].dtype == value.dtype, key
        assert torch.equal(ours[key], value), key


def test_shift_augment_moves_each_window_within_its_own_place():
    """Shifted rows: the special tokens stay where they were, each window's bases move by its own random shift
    in [-s, s] (the gap read as N), every shift in that range is drawn, and nothing else in the row changes."""
    import datasets

    from florabert.layout import Layout
    from florabert.tokenization import train_tokenizer
    from florabert.training.batches import Shifted, as_arrays

    tok = train_tokenizer(None, kind="nucleotide")
    tok.layout = Layout.parse("tss:-20:+10,tts:-8:+8")
    rng = np.random.default_rng(0)
    seqs = ["|".join("".join(rng.choice(list("ACGT"), n)) for n in (30, 16)) for _ in range(2)]
    ids = tok(seqs)["input_ids"]
    ds = as_arrays(datasets.Dataset.from_dict({"input_ids": ids, "labels": [[1.0], [2.0]]}))
    n_id, special = tok.hf.get_vocab()["N"], np.asarray(tok.hf.all_special_ids)
    shifted = Shifted(ds, 3, tok.hf.all_special_ids, n_id, seed=1)
    seen = set()
    for _ in range(60):
        for i in range(2):
            row, x = shifted[i], np.asarray(ids[i])
            y = row["input_ids"]
            assert row["labels"].tolist() == [float(i + 1)] and len(y) == len(x)
            fixed = np.isin(x, special)
            assert np.array_equal(np.isin(y, special), fixed) and np.array_equal(y[fixed], x[fixed])
            edges = np.flatnonzero(fixed)
            for a, b in zip(edges[:-1] + 1, edges[1:], strict=True):  # each window's bases
                w, v = x[a:b], y[a:b]
                s = next(s for s in range(-3, 4)
                         if np.array_equal(v, np.concatenate([[n_id] * s, w[:len(w) - s]]) if s >= 0
                                           else np.concatenate([w[-s:], [n_id] * -s])))
                seen.add(s)
    assert seen == set(range(-3, 4))
    assert np.array_equal(ds[0]["input_ids"], ids[0])  # the dataset itself is never changed


def test_cooldown_goes_back_to_the_best_checkpoint_and_anneals_to_zero(planted, tmp_path):
    lrs, said = {}, []

    class Rate(TrainerCallback):
        def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
            lrs[state.global_step] = optimizer.param_groups[0]["lr"]

    # a rate so large that the validation loss soon stops improving: early stopping's patience runs out
    metrics = finetune(planted / "pre", planted / "data", tmp_path / "c",
                       cfg(max_steps=400, eval_steps=5, early_stopping_patience=2, early_stopping_min_steps=0,
                           cooldown_steps=20, unfreeze_every=0, optimizer="adamw", learning_rate=0.05),
                       log=said.append, callbacks=[Rate()])
    line = next(m for m in said if "back to the best checkpoint" in m)
    start, best = int(line.split()[1].rstrip(":")), int(line.split("(step ")[1].split(")")[0])
    assert best < start and metrics["steps"] == start + 20 < 400  # the run ends when the cool-down does
    cool = [lrs[s] for s in range(start, start + 20)]
    assert all(a > b for a, b in itertools.pairwise(cool)) and cool[-1] < 0.06 * cool[0]
    assert cool[0] <= lrs[start - 1] + 1e-12  # it falls from where the rate was, never jumps up


def test_a_head_that_reads_the_wide_features_too(planted, tmp_path):
    """head_wide: the deep path's head reads the standardized wide features beside the pooled states; its deep
    part, saved on its own, keeps them as inputs (the ridge and trees at weight 0) and predicts what the full
    model's deep path does."""
    from florabert.data.dataset import load_expression_dataset
    from florabert.features import wide_inputs
    from florabert.predict import Predictor
    from florabert.training.wide import save_part

    metrics = finetune(planted / "pre", planted / "data", tmp_path / "ft",
                       cfg(wide_kmers=[1, 2], max_steps=10, eval_steps=10, unfreeze_every=0, optimizer="adamw",
                           head_wide=True), log=lambda m: None)
    model = Predictor(tmp_path / "ft").model
    n_wide = model.config.wide_features
    assert model.config.head_wide and n_wide == metrics["wide"]["features"] == 4 + 16
    assert "head also reads the wide features" in (tmp_path / "ft" / "README.md").read_text()
    assert model.head[0].in_features == FloraBertForExpression.pooled_size(model.config) > n_wide
    data = load_expression_dataset(planted / "data")
    seqs = data.part("test").column("sequence").to_pylist()[:8]
    tok = Predictor(tmp_path / "ft").tok
    batch = tok(seqs, padding=True, return_tensors="pt")
    batch["wide_features"] = torch.from_numpy(wide_inputs(seqs, [1, 2], data.layout, None)).float()
    with torch.no_grad():
        deep = model.deep(**batch)
        shifted = model.deep(**{**batch, "wide_features": batch["wide_features"] * 1.5})
    assert not torch.allclose(deep, shifted)  # the deep path reads them
    z = model.wide_inputs(batch["wide_features"])
    model.config.head_wide_dropout = 0.5  # dropout on the features the head reads, in training only
    with torch.no_grad():
        assert torch.equal(model.pooled(**batch)[:, -n_wide:], z)
        model.train()
        torch.manual_seed(0)
        dropped = model.pooled(**batch)[:, -n_wide:]
        model.eval()
    kept = dropped != 0
    assert 0.3 < kept[z != 0].float().mean() < 0.7 and torch.allclose(dropped[kept], 2 * z[kept])
    part = save_part(tmp_path / "ft", tmp_path / "deep_alone", "deep")
    alone = Predictor(part)
    assert alone.model.config.part_weights == (1.0, 0.0) and "wide features" in (part / "README.md").read_text()
    got = alone.predict(seqs)
    want = deep.numpy()
    assert np.allclose(got, want, atol=1e-4)


def test_the_schedule_and_its_cool_down_survive_a_resume():
    """The learning-rate schedule is a LambdaLR lambda object: the scheduler's saved state (what --resume loads)
    carries a cool-down that has begun."""
    from florabert.training.finetune import Schedule

    def scheduler(schedule):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        return torch.optim.lr_scheduler.LambdaLR(opt, schedule), schedule

    first, schedule = scheduler(Schedule(10, 1000))
    assert schedule(5) == 0.5 and schedule(10) == 1.0 and schedule(1000) == 0.0
    schedule.cool(505, 100)  # from the factor at step 505 (0.5) to 0 over 100 steps
    assert schedule(555) == pytest.approx(0.25) and schedule(605) == 0.0
    again, fresh = scheduler(Schedule(10, 1000))
    again.load_state_dict(first.state_dict())
    assert fresh.cool_from == 505 and fresh(555) == pytest.approx(0.25)


def test_the_head_learns_the_wide_features_after_the_bases(planted, tmp_path):
    """head_wide_after: once the deep path has fine-tuned on the bases, its head learns to read the
    wide features too, the encoder frozen. Here the root target also follows each promoter's GC content, which a
    10-step deep path has not learned: the widened head learns it from the composition features (validation R²
    up), and the model is saved as a head_wide model that predicts as it scored."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from florabert.data.dataset import load_expression_dataset
    from florabert.evaluation.evaluate import _gene_inputs
    from florabert.evaluation.metrics import r2
    from florabert.predict import Predictor

    data = tmp_path / "data"
    shutil.copytree(planted / "data", data)
    t = pq.read_table(data / "dataset.parquet")
    gc = np.array([(s.count("G") + s.count("C")) / len(s) for s in t.column("sequence").to_pylist()])
    labels = [[leaf, root + 20 * (g - 0.5)] for (leaf, root), g in zip(t.column("labels").to_pylist(), gc,
                                                                        strict=True)]
    t = t.set_column(t.column_names.index("labels"), "labels", pa.array(labels))
    pq.write_table(t, data / "dataset.parquet")
    metrics = finetune(planted / "pre", data, tmp_path / "ft",
                       cfg(wide_kmers=[1], max_steps=10, eval_steps=10, optimizer="adamw", wide_model="ridge",
                           head_wide_after=True),
                       log=lambda m: None)
    info = metrics["wide"]["head_wide_after"]
    assert info["epoch"] > 0 and info["validation_r2_after"] > info["validation_r2_before"] + 0.05
    predictor = Predictor(tmp_path / "ft")
    model = predictor.model
    assert model.config.head_wide and model.head[0].in_features == FloraBertForExpression.pooled_size(model.config)
    assert "learned after the bases" in (tmp_path / "ft" / "README.md").read_text()  # the model card says so
    d = load_expression_dataset(data)
    test = d.part("test")
    got = predictor.predict(test.column("sequence").to_pylist(), genes=_gene_inputs(tmp_path / "ft", predictor, d,
                                                                                        test))
    assert abs(r2(np.array(test.column("labels").to_pylist()), got) - metrics["test"]["test_r2_all"]) < 1e-3


def test_head_wide_without_wide_features_trains_on_the_bases(planted, tmp_path):
    """head_wide asks the head to read the wide features; with none (configs/deep_alone.yaml, or a dataset
    without them) the deep path trains on the bases alone instead of failing for want of features."""
    from florabert.predict import Predictor

    metrics = finetune(planted / "pre", planted / "data", tmp_path / "ft",
                       cfg(max_steps=4, eval_steps=4, head_wide=True), log=lambda m: None)
    model = Predictor(tmp_path / "ft").model
    assert metrics["steps"] == 4 and model.config.wide_features == 0 and not model.config.head_wide
