"""Pre-training on a tiny model and a tiny structured corpus: learning, save/load, resume, two processes."""

import csv
import json
import math
import os
import random
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from florabert.config import PretrainConfig, load_config
from florabert.errors import FloraBertError
from florabert.tokenization import train_tokenizer

TINY = {"model.hidden_size": 64, "model.num_hidden_layers": 1, "model.num_attention_heads": 2,
        "model.intermediate_size": 128, "model.max_length": 128, "batch_size": 16, "logging_steps": 20,
        "learning_rate": 3e-3, "warmup_steps": 5, "eval_fraction": 0.1, "optimizer": "adamw"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Promoters made of a repeated 4-mer at a random phase: every base is predictable from context."""
    rng = random.Random(0)
    unit = "ACGT"
    seqs = [(unit * 30)[p:p + 100] for p in (rng.randrange(4) for _ in range(400))]
    root = tmp_path_factory.mktemp("ptcorpus")
    pq.write_table(pa.table({"species": ["s"] * 400, "gene_id": [f"g{i}" for i in range(400)],
                             "sequence": seqs}), root / "c.parquet")
    train_tokenizer(None, kind="nucleotide").save(root / "tok")
    return root / "c.parquet", root / "tok"


def cfg(**extra):
    return load_config(PretrainConfig, overrides={**TINY, **extra})


def digest(out):
    return (out / "logs" / "weights_rank0.sha256").read_text().strip()


def test_loss_falls_below_uniform_and_the_model_loads(corpus, tmp_path):
    from florabert.training.pretrain import pretrain

    data, tok = corpus
    metrics = pretrain(data, tok, tmp_path / "m", cfg(max_steps=400, eval_steps=200, save_steps=200),
                       log=lambda m: None)
    assert metrics["eval_loss"] < 0.5 * math.log(4)  # context beats base frequencies (~ln 4) by far
    assert metrics["eval_masked_accuracy"] > 0.8
    out = tmp_path / "m"
    for f in ("model.safetensors", "config.json", "tokenizer.json", "README.md", "config.yaml", "seed.txt",
              "metrics.json", "logs/log.csv", "logs/loss.png"):
        assert (out / f).exists(), f
    assert not (out / "training_args.bin").exists()
    with open(out / "logs" / "log.csv") as fh:
        losses = [float(r["loss"]) for r in csv.DictReader(fh) if r.get("loss")]
    assert losses[-1] < losses[0]

    from florabert.modeling import FloraBertForMaskedLM
    from florabert.tokenization import DNATokenizer
    from florabert.training.mlm_eval import heldout_mlm_loss, token_counts

    tok = DNATokenizer.load(out)
    train_seqs = pq.read_table(data).column("sequence").to_pylist()
    # unseen lengths, all phases; no longer than the training sequences: positions further from the
    # TSS than any training sequence reached have untrained position embeddings
    new = [("ACGT" * 40)[p:p + n] for p, n in zip((1, 2, 3, 0) * 10, range(60, 100), strict=True)]
    res = heldout_mlm_loss(FloraBertForMaskedLM.from_pretrained(out), tok, new,
                           unigram=token_counts(tok, train_seqs), masking=cfg().masking)
    assert res["masked_tokens"] > 100
    assert res["unigram_loss"] == pytest.approx(math.log(4), abs=0.05)  # four equally frequent bases
    assert res["model_loss"] < 0.5 * res["unigram_loss"]
    code = ("import florabert\nfrom transformers import AutoModelForMaskedLM, AutoTokenizer\n"
            f"m = AutoModelForMaskedLM.from_pretrained({str(out)!r})\n"
            f"t = AutoTokenizer.from_pretrained({str(out)!r})\n"
            "print(type(m).__name__, m.config.pad_token_id == t.pad_token_id == 1)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}, check=False)
    assert res.stdout.split() == ["FloraBertForMaskedLM", "True"], res.stderr[-1500:]


def test_stage_two_continues_from_stage_one(corpus, tmp_path):
    from florabert.training.pretrain import pretrain

    data, tok = corpus
    first = pretrain(data, tok, tmp_path / "s1", cfg(max_steps=40, eval_steps=40, save_steps=40),
                     log=lambda m: None)
    second = pretrain(data, tok, tmp_path / "s2", cfg(max_steps=4, eval_steps=4, save_steps=4,
                                                      learning_rate=1e-4, warmup_steps=1),
                      init_from=tmp_path / "s1", species=["s"], log=lambda m: None)
    assert second["eval_loss"] < first["eval_loss"] + 0.1  # starts from the trained weights, not scratch
    assert json.loads((tmp_path / "s2" / "metrics.json").read_text())["init_from"] == str(tmp_path / "s1")
    with pytest.raises(FloraBertError, match="not in this corpus"):
        pretrain(data, tok, tmp_path / "s3", cfg(max_steps=2), species=["Zea mays"], log=lambda m: None)


def _cli(data, tok, out, *extra):
    args = [sys.executable, "-m", "florabert", "pretrain", "--corpus", str(data), "--tokenizer", str(tok),
            "--out", str(out), "--max-steps", "16", "--save-steps", "4", "--eval-steps", "8", "--seed", "7",
            "--config", str(out.parent / "tiny.yaml"), *extra]
    return args


def test_killed_run_resumes_to_the_same_weights(corpus, tmp_path):
    data, tok = corpus
    (tmp_path / "tiny.yaml").write_text(
        "model: {hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, "
        "max_length: 128}\nbatch_size: 16\nlogging_steps: 4\nlearning_rate: 5.0e-3\nwarmup_steps: 5\n"
        "eval_fraction: 0.1\noptimizer: lamb\nmasking: {strategy: randommask, phases: 4, span_start: 2, "
        "span_step: 1}\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    full = subprocess.run(_cli(data, tok, tmp_path / "full"), capture_output=True, text=True, env=env,
                          check=False)
    assert full.returncode == 0, full.stderr[-2000:]
    assert "RandomMask: phase 2/4" in full.stderr

    proc = subprocess.Popen(_cli(data, tok, tmp_path / "killed"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    state = tmp_path / ".killed.partial" / "checkpoints" / "checkpoint-8" / "trainer_state.json"
    deadline = time.time() + 300
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (tmp_path / "killed").exists()  # nothing at --out until the run is complete
    resumed = subprocess.run(_cli(data, tok, tmp_path / "killed", "--resume"), capture_output=True, text=True,
                             env=env, check=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert digest(tmp_path / "killed") == digest(tmp_path / "full")
    assert not (tmp_path / ".killed.partial").exists()

    before = (tmp_path / "full" / "model.safetensors").stat().st_mtime_ns
    done = subprocess.run(_cli(data, tok, tmp_path / "full", "--resume"), capture_output=True, text=True,
                          env=env, check=False)
    assert done.returncode == 0 and "complete" in done.stderr, done.stderr[-2000:]
    assert (tmp_path / "full" / "model.safetensors").stat().st_mtime_ns == before  # untouched
    nothing = subprocess.run(_cli(data, tok, tmp_path / "other", "--resume"), capture_output=True, text=True,
                             env=env, check=False)
    assert nothing.returncode == 1 and "no unfinished run" in nothing.stderr


def test_resuming_from_any_checkpoint_gives_the_uninterrupted_weights(corpus, tmp_path):
    """A run resumed in the middle of an epoch trains on the batches the uninterrupted run trained on (the
    length-grouped order is seeded by the epoch, not drawn from the global generator at the epoch's start), and
    one resumed from its last checkpoint takes no extra step; on two threads, as users run it."""
    import shutil

    data, tok = corpus
    (tmp_path / "tiny.yaml").write_text(
        "model: {hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, "
        "max_length: 128}\nbatch_size: 64\nlogging_steps: 4\nlearning_rate: 5.0e-3\nwarmup_steps: 5\n"
        "eval_fraction: 0.1\noptimizer: adamw\n")  # 16 steps: 2-3 epochs
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    full = subprocess.run(_cli(data, tok, tmp_path / "full"), capture_output=True, text=True, env=env)
    assert full.returncode == 0, full.stderr[-2000:]
    checkpoints = tmp_path / "full" / "checkpoints"
    epochs = {int(p.name.split("-")[1]): json.loads((p / "trainer_state.json").read_text())["epoch"]
              for p in checkpoints.glob("checkpoint-*")}  # the last save_total_limit of them
    assert 16 in epochs and any(e > 1 and e % 1 for n, e in epochs.items() if n < 16), epochs  # inside epoch 2+
    for n in sorted(epochs):
        out = tmp_path / f"from{n}"
        shutil.copytree(checkpoints / f"checkpoint-{n}", tmp_path / f".from{n}.partial" / "checkpoints" /
                        f"checkpoint-{n}")
        resumed = subprocess.run(_cli(data, tok, out, "--resume"), capture_output=True, text=True, env=env)
        assert resumed.returncode == 0 and f"checkpoint-{n}" in resumed.stderr, resumed.stderr[-2000:]
        assert json.loads((out / "metrics.json").read_text())["steps"] == 16
        assert digest(out) == digest(tmp_path / "full"), f"resumed from checkpoint-{n}"


@pytest.mark.slow
def test_two_processes_train_data_parallel_and_agree(corpus, tmp_path):
    data, tok = corpus
    (tmp_path / "tiny.yaml").write_text(
        "model: {hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, "
        "max_length: 128}\nbatch_size: 8\neval_fraction: 0.1\n")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533"]
    cmd = torchrun + _cli(data, tok, tmp_path / "ddp")[1:]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    logs = tmp_path / "ddp" / "logs"
    r0, r1 = (logs / "weights_rank0.sha256").read_text(), (logs / "weights_rank1.sha256").read_text()
    assert r0 == r1
    assert json.loads((tmp_path / "ddp" / "metrics.json").read_text())["environment"]["world_size"] == 2


def test_sample_windows_from_a_genome(data_dir):
    from florabert.training.mlm_eval import sample_windows

    chr1 = "ACGTACGTAACCGGTTAACCGGGGRYTTTTACACACACGT"
    windows = sample_windows(data_dir / "tiny.fa", n=20, length=12, seed=3, max_n_fraction=0.5)
    assert len(windows) == 20 and all(len(w) == 12 for w in windows)
    assert all(w in chr1.upper() or w in "TTTTAAAACCCCGGGG" for w in windows)
    assert windows == sample_windows(data_dir / "tiny.fa", n=20, length=12, seed=3, max_n_fraction=0.5)


def test_streaming_corpus_trains_and_saves(corpus, tmp_path):
    from florabert.training.pretrain import pretrain

    data, tok = corpus
    metrics = pretrain(data, tok, tmp_path / "st", cfg(max_steps=6, eval_steps=6, save_steps=6, streaming=True),
                       log=lambda m: None)
    assert math.isfinite(metrics["eval_loss"])
    assert (tmp_path / "st" / "model.safetensors").exists()
    assert json.loads((tmp_path / "st" / "metrics.json").read_text())["eval_sequences"] > 0
