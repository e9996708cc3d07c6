"""`florabert demo`: the pipeline on the bundled real genomes, stage by stage, resumable.

Each stage writes into its own folder under ``out`` and a ``.done`` marker when it finished; a rerun
skips finished stages (``force=True`` redoes them). Stages land here as the pipeline grows.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console

from florabert.genome.bundled import bundled_genomes


def _stage_done(path: Path) -> bool:
    return (path / ".done").exists()


def _mark_done(path: Path, info: dict) -> None:
    (path / ".done").write_text(json.dumps(info, indent=2))


def write_demo_manifest(path: Path) -> Path:
    """A corpus manifest listing the bundled genomes (A. thaliana chr1 + A. arenosa chr1-2)."""
    lines = ["genomes:"]
    for g in bundled_genomes():
        lines += [f"  - species: {g.species}", f"    fasta: {g.fasta}", f"    annotation: {g.gff}"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def run_demo(out: str | Path = "demo_out", *, quick: bool = False, force: bool = False,
             console: Console | None = None) -> dict:
    """Run every available stage into ``out``; returns a dict of stage results."""
    from florabert.genome.corpus import build_corpus

    console = console or Console(stderr=True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results: dict = {}

    corpus_dir = out / "corpus"
    console.rule("[bold]1. promoters -> multi-species corpus")
    if _stage_done(corpus_dir) and not force:
        console.print(f"already done: {corpus_dir} (use --force to redo)")
        results["corpus"] = json.loads((corpus_dir / "manifest.json").read_text())
    else:
        manifest = write_demo_manifest(out / "genomes.yaml")
        info = build_corpus(manifest, corpus_dir, workers=2, log=lambda m: console.print(m, highlight=False))
        _mark_done(corpus_dir, {"total": info["total"]})
        results["corpus"] = info
    for s in results["corpus"]["species"]:
        dropped = ", ".join(f"{k} {v}" for k, v in s["dropped"].items()) or "none"
        console.print(f"  {s['species']}: {s['genes_read']:,} genes read, {s['written']:,} promoters "
                      f"written, dropped: {dropped}", highlight=False)

    tok_dir = out / "tokenizer"
    console.rule("[bold]2. BPE tokenizer (vocabulary 5,000) trained on the corpus")
    from florabert.tokenization import length_stats, train_tokenizer

    if _stage_done(tok_dir) and not force:
        console.print(f"already done: {tok_dir} (use --force to redo)")
    else:
        t1 = time.perf_counter()
        # --quick: a smaller vocabulary trains faster; the pipeline shape is the same
        tok = train_tokenizer(corpus_dir, kind="bpe", vocab_size=1000 if quick else 5000, show_progress=False)
        tok.save(tok_dir)
        st = length_stats(tok, corpus_dir, max_length=256)
        _mark_done(tok_dir, {"seconds": time.perf_counter() - t1, "lengths": st})
    st = json.loads((tok_dir / ".done").read_text())["lengths"]
    results["tokenizer"] = st
    console.print(f"  vocabulary {st['vocab_size']:,}; encoded promoter length with <s> </s>: mean "
                  f"{st['mean']:.1f}, p95 {st['p95']:.0f}, max {st['max']}; {st['truncated']:,} of "
                  f"{st['sequences']:,} longer than 256", highlight=False)

    # 3. pre-training: stage 1 on both species, stage 2 on A. thaliana only
    from florabert.config import PretrainConfig, load_config
    from florabert.training.pretrain import pretrain

    steps = {"stage1": 60 if quick else 600, "stage2": 20 if quick else 200}
    for stage, title, kwargs in (
        ("stage1", "3a. MLM pre-training, stage 1: both species", {}),
        ("stage2", "3b. MLM pre-training, stage 2: Arabidopsis thaliana only",
         {"init_from": out / "pretrain" / "stage1", "species": ["Arabidopsis thaliana"]}),
    ):
        stage_dir = out / "pretrain" / stage
        console.rule(f"[bold]{title}")
        if _stage_done(stage_dir) and not force:
            console.print(f"already done: {stage_dir} (use --force to redo)")
        else:
            import shutil

            shutil.rmtree(stage_dir, ignore_errors=True)  # an interrupted stage restarts cleanly
            cfg = load_config(PretrainConfig, preset="tiny", overrides={
                "max_steps": steps[stage], "eval_steps": steps[stage], "save_steps": steps[stage],
                **({"learning_rate": 5e-4, "warmup_steps": 10} if stage == "stage2" else {})})
            pretrain(corpus_dir, tok_dir, stage_dir, cfg, log=lambda m: console.print(m, highlight=False),
                     **kwargs)
            _mark_done(stage_dir, json.loads((stage_dir / "metrics.json").read_text())["metrics"])
        m = json.loads((stage_dir / ".done").read_text())
        results[stage] = m
        console.print(f"  held-out MLM loss {m['eval_loss']:.3f} (perplexity {m['eval_perplexity']:.0f}, "
                      f"masked-token accuracy {m['eval_masked_accuracy']:.3f}) -> {stage_dir}", highlight=False)

    # 4. expression dataset (bundled A. thaliana leaf TPM, family-aware split) and 5. fine-tuning
    from florabert import bundled
    from florabert.data.dataset import build_expression_dataset
    from florabert.genome.corpus import corpus_files

    data_dir = out / "expression"
    console.rule("[bold]4. expression dataset: A. thaliana leaf TPM, paralog-family split")
    if _stage_done(data_dir) and not force:
        console.print(f"already done: {data_dir} (use --force to redo)")
    else:
        info = build_expression_dataset(
            bundled.path("arabidopsis_leaf_tpm_train.tsv"), corpus_files(corpus_dir, ["Arabidopsis thaliana"])[0],
            data_dir, families=bundled.path("arabidopsis_chr1_families.tsv"),
            log=lambda m: console.print(m, highlight=False))
        _mark_done(data_dir, info["audit"])
    audit = json.loads((data_dir / ".done").read_text())
    results["expression"] = audit
    console.print(f"  split: {audit['counts']}; families in train and test: {audit['families_in_train_and_test']}",
                  highlight=False)

    ft_dir = out / "finetune"
    console.rule("[bold]5. fine-tuning on leaf expression (14 runs), from the stage-2 model")
    if _stage_done(ft_dir) and not force:
        console.print(f"already done: {ft_dir} (use --force to redo)")
    else:
        import shutil

        from florabert.config import FinetuneConfig
        from florabert.training.finetune import finetune

        shutil.rmtree(ft_dir, ignore_errors=True)
        steps = 40 if quick else 600
        cfg = load_config(FinetuneConfig, overrides={"max_steps": steps, "eval_steps": steps // 4 or 1,
                                                     "unfreeze_every": steps // 3 or 1})
        m = finetune(out / "pretrain" / "stage2", data_dir, ft_dir, cfg,
                     log=lambda x: console.print(x, highlight=False))
        _mark_done(ft_dir, m)
    m = json.loads((ft_dir / ".done").read_text())
    results["finetune"] = m
    t = m.get("test", {})
    console.print(f"  test genes: R² (all cells) {t.get('test_r2_all', float('nan')):.4f}, mean Pearson r "
                  f"{t.get('test_pearson_mean', float('nan')):.4f} -> {ft_dir}", highlight=False)

    eval_dir = out / "evaluation"
    console.rule("[bold]6. evaluation on the held-out test genes: fine-tuned model vs baselines")
    if _stage_done(eval_dir) and not force:
        console.print(f"already done: {eval_dir} (use --force to redo)")
    else:
        from florabert.evaluation.report import evaluate

        rows = evaluate(data_dir, eval_dir, models=[ft_dir],
                        baselines=("const_mean", "kmer_linear", "motif_lgbm") if quick else
                        ("const_mean", "kmer_linear", "kmer_lgbm", "motif_lgbm"),
                        bootstrap=100 if quick else 1000, log=lambda m: console.print(m, highlight=False))
        _mark_done(eval_dir, {"all": [r for r in rows if r["tissue"] == "All"]})
    summary = json.loads((eval_dir / ".done").read_text())["all"]
    results["evaluation"] = summary
    for r in summary:
        console.print(f"  {r['model']:>12s}: R² {r['r2']:+.4f} (95 % CI {r['r2_lo']:+.4f} to {r['r2_hi']:+.4f}), "
                      f"Pearson {r['pearson']:.3f}", highlight=False)
    console.print(f"  report: {eval_dir / 'metrics.md'}", highlight=False)

    console.rule()
    console.print(f"demo finished in {time.perf_counter() - t0:.1f} s; outputs in {out}/")
    return results
