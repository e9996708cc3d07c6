"""`florabert demo`: the pipeline on the bundled real genomes, stage by stage, resumable.

Each stage writes into its own folder under ``out`` and, when it finished, a ``.done`` file with its
summary; a rerun skips finished stages (``force=True`` redoes them) and an interrupted stage restarts
cleanly. ``quick=True`` runs a smaller version of every stage (used by the tests).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from florabert.genome.bundled import bundled_genomes

A_THALIANA = "Arabidopsis thaliana"


def write_demo_manifest(path: Path) -> Path:
    """A corpus manifest listing the bundled genomes (A. thaliana chr1 + A. arenosa chr1-2)."""
    lines = ["genomes:"]
    for g in bundled_genomes():
        lines += [f"  - species: {g.species}", f"    fasta: {g.fasta}", f"    annotation: {g.gff}"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _stage(console: Console, title: str, stage_dir: Path, force: bool, run: Callable[[], dict]) -> dict:
    """Run ``run`` (which writes into ``stage_dir`` and returns a JSON-able summary) unless an earlier run
    finished this stage; returns the summary either way."""
    console.rule(f"[bold]{title}")
    done = stage_dir / ".done"
    if done.exists() and not force:
        console.print(f"already done: {stage_dir} (use --force to redo)")
    else:
        shutil.rmtree(stage_dir, ignore_errors=True)  # a half-finished earlier attempt starts over
        summary = run()
        stage_dir.mkdir(parents=True, exist_ok=True)
        done.write_text(json.dumps(summary, indent=2, default=str))
    return json.loads(done.read_text())


def run_demo(out: str | Path = "demo_out", *, quick: bool = False, force: bool = False,
             console: Console | None = None) -> dict:
    """Run every stage into ``out``; returns the stage summaries."""
    from florabert import bundled
    from florabert.config import FinetuneConfig, PretrainConfig, load_config
    from florabert.data.dataset import build_expression_dataset
    from florabert.evaluation.report import evaluate
    from florabert.genome.corpus import build_corpus, corpus_files
    from florabert.tokenization import length_stats, train_tokenizer
    from florabert.training.finetune import finetune
    from florabert.training.pretrain import pretrain

    console = console or Console(stderr=True)
    say = lambda m: console.print(m, highlight=False)  # noqa: E731
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    res: dict = {}
    corpus_dir, tok_dir, data_dir = out / "corpus", out / "tokenizer", out / "expression"
    ft_dir, eval_dir = out / "finetune", out / "evaluation"

    def corpus() -> dict:
        info = build_corpus(write_demo_manifest(out / "genomes.yaml"), corpus_dir, workers=2, log=say)
        return {"species": info["species"], "total": info["total"]}

    res["corpus"] = _stage(console, "1. promoters -> multi-species corpus", corpus_dir, force, corpus)
    for s in res["corpus"]["species"]:
        dropped = ", ".join(f"{k} {v}" for k, v in s["dropped"].items()) or "none"
        say(f"  {s['species']}: {s['genes_read']:,} genes read, {s['written']:,} promoters written, "
            f"dropped: {dropped}")

    def tokenizer() -> dict:
        # --quick: a smaller vocabulary trains faster; the pipeline shape is the same
        tok = train_tokenizer(corpus_dir, kind="bpe", vocab_size=1000 if quick else 5000, show_progress=False)
        tok.save(tok_dir)
        return length_stats(tok, corpus_dir, max_length=256)

    st = res["tokenizer"] = _stage(console, "2. BPE tokenizer trained on the corpus", tok_dir, force, tokenizer)
    say(f"  vocabulary {st['vocab_size']:,}; encoded promoter length with <s> </s>: mean {st['mean']:.1f}, "
        f"p95 {st['p95']:.0f}, max {st['max']}; {st['truncated']:,} of {st['sequences']:,} longer than 256")

    stage1, stage2 = out / "pretrain" / "stage1", out / "pretrain" / "stage2"
    for name, title, stage_dir, steps, extra, kwargs in (
        ("stage1", "3a. MLM pre-training, stage 1: both species", stage1, 60 if quick else 600, {}, {}),
        ("stage2", f"3b. MLM pre-training, stage 2: {A_THALIANA} only", stage2, 20 if quick else 200,
         {"learning_rate": 5e-4, "warmup_steps": 10}, {"init_from": stage1, "species": [A_THALIANA]}),
    ):
        cfg = load_config(PretrainConfig, preset="tiny", overrides={
            "max_steps": steps, "eval_steps": steps, "save_steps": steps, **extra})
        m = res[name] = _stage(console, title, stage_dir, force,
                               lambda cfg=cfg, d=stage_dir, kw=kwargs: pretrain(corpus_dir, tok_dir, d, cfg,
                                                                                log=say, **kw))
        say(f"  held-out MLM loss {m['eval_loss']:.3f} (perplexity {m['eval_perplexity']:.0f}, masked-token "
            f"accuracy {m['eval_masked_accuracy']:.3f}) -> {stage_dir}")

    def expression() -> dict:
        info = build_expression_dataset(
            bundled.path("arabidopsis_leaf_tpm_train.tsv"), corpus_files(corpus_dir, [A_THALIANA])[0], data_dir,
            families=bundled.path("arabidopsis_chr1_families.tsv"), log=say)
        return info["audit"]

    audit = res["expression"] = _stage(console, "4. expression dataset: A. thaliana leaf TPM, paralog-family "
                                       "split", data_dir, force, expression)
    say(f"  split: {audit['counts']}; families in train and test: {audit['families_in_train_and_test']}")

    steps = 40 if quick else 600
    ft_cfg = load_config(FinetuneConfig, overrides={"max_steps": steps, "eval_steps": steps // 4,
                                                    "unfreeze_every": steps // 3})
    m = res["finetune"] = _stage(console, "5. fine-tuning on leaf expression (14 runs), from the stage-2 model",
                                 ft_dir, force, lambda: finetune(stage2, data_dir, ft_dir, ft_cfg, log=say))
    t = m.get("test", {})
    say(f"  test genes: R² (all cells) {t.get('test_r2_all', float('nan')):.4f}, mean Pearson r "
        f"{t.get('test_pearson_mean', float('nan')):.4f} -> {ft_dir}")

    def evaluation() -> dict:
        baselines = ("const_mean", "kmer_linear", "motif_lgbm") if quick else (
            "const_mean", "kmer_linear", "kmer_lgbm", "motif_lgbm")
        rows = evaluate(data_dir, eval_dir, models=[ft_dir], baselines=baselines,
                        bootstrap=100 if quick else 1000, log=say)
        return {"all": [r for r in rows if r["tissue"] == "All"]}

    ev = res["evaluation"] = _stage(console, "6. evaluation on the held-out test genes: fine-tuned model vs "
                                    "baselines", eval_dir, force, evaluation)
    for r in ev["all"]:
        say(f"  {r['model']:>12s}: R² {r['r2']:+.4f} (95 % CI {r['r2_lo']:+.4f} to {r['r2_hi']:+.4f}), "
            f"Pearson {r['pearson']:.3f}")
    say(f"  report: {eval_dir / 'metrics.md'}")

    console.rule()
    say(f"demo finished in {time.perf_counter() - t0:.1f} s; outputs in {out}/")
    return res
