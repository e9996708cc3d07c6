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

from florabert.genome.cresschrom import bundled_genomes
from florabert.outputs import OutputError, claim_dir, marker, write_marker

A_THALIANA = "Arabidopsis thaliana"
DONE_FORMAT = 5  # bump when a stage's summary or settings change: older .done files then mean "redo"
# The demo's layout: windows around the TSS (promoter + 5' UTR and start of the gene, then the rest of the
# first kilobase), around the gene's 3' end, and the first 3 kb of the spliced CDS. Ridge regression on their
# composition, fitted on the demo's training genes: test R² 0.38 vs 0.08 for the 150 bases before the TSS and
# 0.02 for FloraBERT's kilobase (benchmarks/check_accuracy.py; the README's accuracy table).
DEMO_LAYOUT = "tss:-150:+300,tss:+300:+1000,tts:-500:+500,cds:0:+3000"
PROMOTER_LAYOUT = "tss:-150:0"  # FloraBERT's input, cut to the 150 bases that carry most of its k-mer signal
# The transformer reads the 150 bases of each window nearest its anchor as 3-mers (52 tokens with <s> </s>);
# the wide path reads every base of every window.
DEMO_BASES = 150
DEMO_TOKENS = DEMO_BASES // 3 + 2  # non-overlapping 3-mers + <s> </s>, per window
# A fresh head under LAMB moves by ~learning_rate x its own (small) norm per step: 1e-3 leaves it at the
# training mean after 600 steps; 1e-2 with the embeddings joining the layers learns.
DEMO_FINETUNE = {"learning_rate": 1e-2, "freeze_embeddings": False}
DEMO_PRETRAIN_STEPS = (300, 100)  # stage 1 (both species), stage 2 (A. thaliana)
DEMO_FINETUNE_STEPS = 400


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
    finished = done.exists() and json.loads(done.read_text()).get("demo_format") == DONE_FORMAT
    if finished and not force:
        console.print(f"already done: {stage_dir} (use --force to redo)")
    else:
        if done.exists() and not force:
            console.print(f"{stage_dir} was finished by an older florabert: redoing it")
        if stage_dir.exists() and not (done.exists() or marker(stage_dir)) and any(stage_dir.iterdir()):
            raise OutputError(f"{stage_dir}: holds files florabert did not write; the demo needs this folder")
        shutil.rmtree(stage_dir, ignore_errors=True)  # a half-finished earlier attempt starts over
        t0 = time.perf_counter()
        summary = run()
        summary["seconds"] = round(time.perf_counter() - t0, 1)
        summary["demo_format"] = DONE_FORMAT
        stage_dir.mkdir(parents=True, exist_ok=True)
        done.write_text(json.dumps(summary, indent=2, default=str))
    return json.loads(done.read_text())


# Over 80 lines on purpose: one stage after another, top to bottom, as the README tells the pipeline; each closure
# is a stage.
def run_demo(out: str | Path = "demo_out", *, quick: bool = False, force: bool = False,
             console: Console | None = None) -> dict:
    """Run every stage into ``out``; returns the stage summaries."""
    from florabert import bundled
    from florabert.config import FinetuneConfig, PretrainConfig, load_config
    from florabert.data.dataset import build_expression_dataset
    from florabert.evaluation.evaluate import evaluate
    from florabert.explain.positional import positional_importance
    from florabert.explain.species import species_embeddings
    from florabert.genome.corpus import build_corpus, corpus_files
    from florabert.genome.promoters import extract_promoters, write_promoters
    from florabert.layout import Layout
    from florabert.tokenization import length_stats, train_tokenizer
    from florabert.training.finetune import finetune, summary
    from florabert.training.pretrain import pretrain

    console = console or Console(stderr=True)
    say = lambda m: console.print(m, highlight=False)  # noqa: E731
    out = Path(out)
    claim_dir(out, "demo", force=force)  # finished stages of an earlier demo are kept (see _stage)
    out.mkdir(parents=True, exist_ok=True)
    if not marker(out):
        write_marker(out, "demo")
    t0 = time.perf_counter()
    res: dict = {}
    corpus_dir, tok_dir, data_dir = out / "corpus", out / "tokenizer", out / "expression"
    ft_dir, eval_dir = out / "finetune", out / "evaluation"

    def corpus() -> dict:
        info = build_corpus(write_demo_manifest(out / "genomes.yaml"), corpus_dir, workers=2, layout=DEMO_LAYOUT,
                            log=say)
        return {"species": info["species"], "total": info["total"]}

    res["corpus"] = _stage(console, "1. gene windows -> multi-species corpus", corpus_dir, force, corpus)
    for s in res["corpus"]["species"]:
        dropped = ", ".join(f"{k} {v}" for k, v in s["dropped"].items()) or "none"
        say(f"  {s['species']}: {s['genes_read']:,} genes read, {s['written']:,} promoters written, "
            f"dropped: {dropped}")

    def tokenizer() -> dict:
        tok = train_tokenizer(corpus_dir, kind="kmer", k=3, stride=3, show_progress=False)
        tok.save(tok_dir)
        tok.layout = Layout.parse(DEMO_LAYOUT)
        return length_stats(tok, corpus_dir, max_length=DEMO_TOKENS)

    st = res["tokenizer"] = _stage(console, "2. 3-mer tokenizer (non-overlapping, TSS-anchored)", tok_dir, force,
                                   tokenizer)
    say(f"  vocabulary {st['vocab_size']:,}; the transformer reads the {DEMO_BASES} bases of each window nearest "
        f"its anchor ({DEMO_TOKENS} tokens with <s> </s>; {st['truncated_fraction']:.0%} of the windows are "
        "longer); the wide path reads every base")

    stage1, stage2 = out / "pretrain" / "stage1", out / "pretrain" / "stage2"
    for name, title, stage_dir, steps, extra, kwargs in (
        ("stage1", "3a. MLM pre-training, stage 1: both species", stage1, 60 if quick else DEMO_PRETRAIN_STEPS[0],
         {}, {}),
        ("stage2", f"3b. MLM pre-training, stage 2: {A_THALIANA} only", stage2,
         20 if quick else DEMO_PRETRAIN_STEPS[1],
         {"learning_rate": 5e-4, "warmup_steps": 10}, {"init_from": stage1, "species": [A_THALIANA]}),
    ):
        cfg = load_config(PretrainConfig, preset="tiny", overrides={
            "max_steps": steps, "eval_steps": steps, "save_steps": steps, "model.max_length": DEMO_TOKENS,
            **extra})
        m = res[name] = _stage(console, title, stage_dir, force,
                               lambda cfg=cfg, d=stage_dir, kw=kwargs: {
                                   **pretrain(corpus_dir, tok_dir, d, cfg, log=say, **kw), "steps": cfg.max_steps})
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

    prom_data = out / "expression_promoter"

    def promoter_dataset() -> dict:
        at = next(g for g in bundled_genomes() if g.species == A_THALIANA)
        table = extract_promoters(at.fasta, at.gff, species=A_THALIANA, layout=PROMOTER_LAYOUT).table
        write_promoters(table, out / "promoters_at.parquet")
        info = build_expression_dataset(bundled.path("arabidopsis_leaf_tpm_train.tsv"),
                                        out / "promoters_at.parquet", prom_data, split=data_dir / "split.tsv",
                                        families=bundled.path("arabidopsis_chr1_families.tsv"), log=say)
        return info["audit"]

    res["expression_promoter"] = _stage(console, f"4b. the same genes and split, FloraBERT's input only "
                                        f"({PROMOTER_LAYOUT})", prom_data, force, promoter_dataset)

    steps = 40 if quick else DEMO_FINETUNE_STEPS
    ft_prom_dir = out / "finetune_promoter"
    for key, title, d, data, extra in (
        ("finetune", "5. fine-tuning on leaf expression (14 runs): gene structure, transformer + wide path",
         ft_dir, data_dir, {}),
        ("finetune_promoter", "5b. fine-tuning FloraBERT's way: the promoter, the transformer alone",
         ft_prom_dir, prom_data, {"wide_kmers": []}),
    ):
        ft_cfg = load_config(FinetuneConfig, overrides={"max_steps": steps, "eval_steps": steps // 4,
                                                        "unfreeze_every": steps // 3, **DEMO_FINETUNE, **extra})
        m = res[key] = _stage(console, title, d, force,
                              lambda c=ft_cfg, d=d, data=data: finetune(stage2, data, d, c, log=say))
        t = summary(m, "test")
        say(f"  test genes: R² (all cells) {t.get('r2_all', float('nan')):.4f}, mean Pearson r "
            f"{t.get('pearson_mean', float('nan')):.4f} -> {d}")

    def evaluation() -> dict:
        prom = f"@{PROMOTER_LAYOUT}"  # the same baselines on FloraBERT's input
        # kmer_lgbm is left out: on these windows (4 x 1,024 5-mer counts) it takes 5 minutes for R² 0.32
        # (benchmarks/check_accuracy.py), below kmer_linear's 0.34
        baselines = ("const_mean", "kmer_linear", "motif_lgbm", "kmer_linear" + prom)
        rows = evaluate(data_dir, eval_dir, models=[ft_dir, ft_prom_dir], baselines=baselines,
                        bootstrap=100 if quick else 1000, log=say)
        return {"all": [r for r in rows if r["tissue"] == "All"]}

    ev = res["evaluation"] = _stage(console, "6. evaluation on the held-out test genes: fine-tuned model vs "
                                    "baselines", eval_dir, force, evaluation)
    for r in ev["all"]:
        say(f"  {r['model']:>12s}: R² {r['r2']:+.4f} (95 % CI {r['r2_lo']:+.4f} to {r['r2_hi']:+.4f}), "
            f"Pearson {r['pearson']:.3f}")
    say(f"  report: {eval_dir / 'metrics.md'}")

    def positional() -> dict:
        import pyarrow.parquet as pq

        from florabert.data.dataset import load_expression_dataset

        test = load_expression_dataset(data_dir).part("test").select(["gene_id", "species", "sequence"])
        table = test.slice(0, 4 if quick else 8)
        pq.write_table(table, out / "explain" / "test_promoters.parquet")
        return positional_importance(ft_dir, out / "explain" / "test_promoters.parquet", pos_dir, samples=2,
                                     step=25 if quick else 10, max_sequences=8)

    pos_dir, sp_dir = out / "explain" / "positional", out / "explain" / "species"
    pos_dir.parent.mkdir(exist_ok=True)
    pi = res["positional"] = _stage(console, "7a. positional importance: L-mers replaced along test promoters",
                                    pos_dir, force, positional)
    say(f"  {pi['mutants']:,} mutants of {pi['promoters']} test promoters; strongest position per L-mer "
        f"length: {', '.join(f'{L}: {p}' for L, p in pi['peak_position'].items())} -> {pos_dir}")
    sp = res["species"] = _stage(console, "7b. species embeddings from the stage-1 model vs k-mer composition",
                                 sp_dir, force, lambda: species_embeddings(stage1, corpus_dir, sp_dir,
                                                                           per_species=50 if quick else 200))
    for name, info in sp["representations"].items():
        say(f"  {name:>22s}: silhouette {info['silhouette_cosine']:+.3f} (1 = species fully separated)")

    total = time.perf_counter() - t0
    html_path, _ = write_demo_report(out, res, total, quick=quick)
    console.rule()
    say(f"demo finished in {total:.1f} s; report: {html_path} (and report.md)")
    return res


def verdict(rows: list[dict]) -> str:
    """One plain sentence: which model wins on the test genes, and by how much."""
    r2 = {r["model"]: float(r["r2"]) for r in rows}
    best = max(r2, key=r2.get)
    model, base = r2.get("finetune"), r2.get("kmer_linear")
    parts = [f"Best on the test genes: {best} (R² {r2[best]:.4f})."]
    if model is not None and base is not None:
        parts.append(f"The gene-structure model {'beats' if model > base else 'does not beat'} ridge on k-mer "
                     f"counts of the same windows ({model:.4f} vs {base:.4f})")
    if model is not None and "finetune_promoter" in r2:
        parts.append(f"and reaches {model - r2['finetune_promoter']:+.4f} R² over FloraBERT's promoter-only "
                     f"model ({r2['finetune_promoter']:.4f}).")
    return " ".join(parts)


# Over 80 lines on purpose: one report section per stage, in order; splitting would scatter one page's text.
def write_demo_report(out: Path, res: dict, total: float, *, quick: bool = False) -> tuple[Path, Path]:
    """report.html + report.md from the stage summaries and the files the stages wrote."""
    import csv

    from florabert.htmlreport import Section, write_report

    n_targets = len(json.loads((out / "expression" / "targets.json").read_text())["targets"])
    secs = lambda k: f"{res[k].get('seconds', 0):.0f} s" if res.get(k, {}).get("seconds") else "earlier run"  # noqa: E731
    stages = [("1. gene windows -> corpus", "corpus"), ("2. 3-mer tokenizer", "tokenizer"),
              ("3a. pre-training stage 1", "stage1"), ("3b. pre-training stage 2", "stage2"),
              ("4. expression dataset", "expression"), ("4b. promoter-only dataset", "expression_promoter"),
              ("5. fine-tuning (gene structure)", "finetune"),
              ("5b. fine-tuning (promoter only)", "finetune_promoter"),
              ("6. evaluation", "evaluation"), ("7a. positional importance", "positional"),
              ("7b. species embeddings", "species")]
    overview = Section("Pipeline", [
        "FloraBERT's pipeline on real data bundled with the package, reading the gene's structure instead of "
        f"the promoter alone: the windows {DEMO_LAYOUT} (around the TSS, around the gene's 3' end, and the "
        "spliced coding sequence from the start codon) of every protein-coding gene of Arabidopsis thaliana "
        "chromosome 1 and Arabidopsis arenosa chromosomes 1-2; a 3-mer tokenizer; masked-LM pre-training on "
        "both species, then on A. thaliana; fine-tuning on leaf expression "
        f"(ln(TPM + 1), {n_targets} RNA-seq runs) with a paralog-family-aware split: the gene-structure model "
        "(transformer + the ridge-fitted wide path on the windows' composition) and, for comparison, "
        f"FloraBERT's own (the transformer alone on the promoter, {PROMOTER_LAYOUT}); evaluation on held-out "
        "test genes against baselines that read the same windows; explanations."
        + (" This was a --quick run: every stage is smaller." if quick else "")],
        tables=[(["stage", "time"], [[name, secs(key)] for name, key in stages]
                 + [["all stages", f"{sum(res[k].get('seconds', 0) for _, k in stages):.0f} s"],
                    ["this invocation (stages already done are skipped)", f"{total:.0f} s"]])])
    corpus = Section("1. Promoters and corpus", tables=[(
        ["species", "genes read", "promoters written", "dropped"],
        [[s["species"], s["genes_read"], s["written"],
          ", ".join(f"{k} {v}" for k, v in s["dropped"].items()) or "-"] for s in res["corpus"]["species"]])])
    st = res["tokenizer"]
    tok = Section("2. Tokenizer", [
        f"Non-overlapping 3-mers read from each window's anchor outwards ({st['vocab_size']:,} tokens with "
        f"specials and N-containing 3-mers). The transformer reads the {DEMO_BASES} bases of each window nearest "
        f"its anchor ({st['max_length']} tokens per window with its special tokens; "
        f"{st['truncated_fraction']:.0%} of the windows are longer); the wide path reads every base."])
    pre = Section("3. Pre-training (masked language model)", tables=[(
        ["stage", "data", "steps", "held-out MLM loss (nats)", "perplexity", "masked-token accuracy"],
        [[k, "both species" if k == "stage1" else "A. thaliana", res[k].get("steps", ""),
          res[k]["eval_loss"], res[k]["eval_perplexity"], res[k]["eval_masked_accuracy"]]
         for k in ("stage1", "stage2")])],
        figures=[(out / "pretrain" / k / "logs" / "loss.png", f"MLM loss, {k}") for k in ("stage1", "stage2")])
    audit = res["expression"]
    from florabert.training.finetune import summary

    ft, fp = summary(res["finetune"], "test"), summary(res["finetune_promoter"], "test")
    wide = res["finetune"].get("wide") or {}
    fine = Section("4-5. Expression data and fine-tuning", [
        f"Genes per split: {', '.join(f'{k} {v:,}' for k, v in audit['counts'].items())}; gene families shared "
        f"by train and test: {audit['families_in_train_and_test']}; the promoter-only dataset has the same genes "
        "and split. Gene-structure model, test genes: R² over all cells "
        f"{ft.get('r2_all', float('nan')):.4f}, "
        f"mean Pearson r {ft.get('pearson_mean', float('nan')):.4f} (its wide path alone, before "
        f"fine-tuning: validation R² {wide.get('validation_r2', float('nan')):.4f}). FloraBERT's promoter-only "
        f"model: R² {fp.get('r2_all', float('nan')):.4f}, mean Pearson r "
        f"{fp.get('pearson_mean', float('nan')):.4f}."],
        figures=[(out / "finetune" / "logs" / "loss.png", "fine-tuning loss, gene-structure model"),
                 (out / "finetune_promoter" / "logs" / "loss.png", "fine-tuning loss, promoter-only model")])
    ev_dir = out / "evaluation"
    with open(ev_dir / "metrics.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["tissue"] == "All"]
    ev = Section("6. Evaluation on held-out test genes", [
        "All test cells together (tissue 'All'); 95 % bootstrap confidence intervals over test genes. Per-tissue "
        "numbers are in evaluation/metrics.csv and metrics.md. `finetune` is the gene-structure model, "
        f"`finetune_promoter` FloraBERT's (transformer alone on {PROMOTER_LAYOUT}); baselines without `@` read "
        f"the gene-structure windows, `@{PROMOTER_LAYOUT}` the promoter only.", verdict(rows)],
        tables=[(["model", "R²", "R² 95 % CI", "Pearson r", "Spearman r", "MSE (log)", "MAE (TPM)"],
                 [[r["model"], float(r["r2"]), f"{float(r['r2_lo']):+.4f} to {float(r['r2_hi']):+.4f}",
                   float(r["pearson"]), float(r["spearman"]), float(r["mse"]), float(r["mae_tpm"])]
                  for r in rows])],
        figures=[(ev_dir / "normalized_mse.png", "MSE per tissue, divided by the worst model's (lower is better)"),
                 (ev_dir / "r2_per_tissue.png", "R² per tissue"),
                 (ev_dir / "predicted_vs_observed.png", "predicted vs observed ln(TPM + 1), test genes")])
    pi, sp = res["positional"], res["species"]
    explain = Section("7. Explanations", [
        f"Positional importance: mean |Δ predicted ln TPM| when the L-mer at each position (counted from the "
        f"TSS; -1 is the base next to it) is replaced by a random L-mer, over {pi['promoters']} test promoters, "
        f"every {pi['step']} bp, {pi['samples']} random L-mers each. Species embeddings: mean-pooled hidden "
        "states of the stage-1 model, next to 1-mer and k-mer composition; silhouette (cosine) measures how "
        "well each separates the species (A. thaliana and A. arenosa are sister species: little separation is "
        "expected)."],
        tables=[(["representation", "dimensions", "silhouette"],
                 [[n, i["dimensions"], i["silhouette_cosine"]] for n, i in sp["representations"].items()])],
        figures=[(out / "explain" / "positional" / "positional_importance.png", "positional importance"),
                 (out / "explain" / "species" / "species_pca.png", "species PCA")])
    return write_report(out, "florabert demo report", [overview, corpus, tok, pre, fine, ev, explain])
