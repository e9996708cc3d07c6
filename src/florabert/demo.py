"""`florabert demo`: the pipeline on the bundled real genomes, stage by stage, resumable.

Each stage writes into its own folder under ``out`` and, when it finished, a ``.done`` file with its
summary and the settings it ran with; a rerun skips the stages finished with the same settings (``force=True``
redoes them all; a stage redone redoes every later one) and an interrupted stage restarts cleanly.
``quick=True`` runs a smaller version of every stage (used by the tests).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from florabert.genome.cresschrom import bundled_genomes
from florabert.outputs import OutputError, claim_dir, marker, write_marker

A_THALIANA = "Arabidopsis thaliana"
DONE_FORMAT = 8  # bump when a stage's summary or settings change: older .done files then mean "redo"
# The demo's layout: windows around the TSS (promoter + 5' UTR and start of the gene, then the rest of the
# first kilobase), around the gene's 3' end, and the first 3 kb of the spliced CDS. Ridge regression on their
# composition, fitted on the demo's training genes: test R² 0.38 vs 0.08 for the 150 bases before the TSS and
# 0.02 for FloraBERT's kilobase (benchmarks/check_accuracy.py; the README's accuracy table).
DEMO_LAYOUT = "tss:-150:+300,tss:+300:+1000,tts:-500:+500,cds:0:+3000"
# FloraBERT's input for comparison: the 150 bases before the TSS (inside the demo's first window, so evaluate
# scores both models on the same genes and windows)
PROMOTER_LAYOUT = "tss:-150:0"
DEMO_PRETRAIN_STEPS = (100, 50)  # stage 1 (both species), stage 2 (A. thaliana); the stem reads ~5 kb per gene
DEMO_BATCH = 16  # genes per pre-training step (5 kb each)
# fine-tuning: 600 steps of 32 genes (about 6 epochs of the 3,155 training genes), validation every 50 steps; the
# deep path alone peaks at 400-600 steps on these genes (README "The deep path on real genes")
DEMO_FINETUNE_STEPS = 600
DEMO_FINETUNE_BATCH = 32
# the models the demo evaluates: the full model and its two parts, each saved as a model of its own
DEMO_MODELS = ("finetune", "deep_alone", "wide_alone")
# what evaluate fits next to the models: the wide path's groups alone show what each feature group carries
DEMO_BASELINES = ("const_mean", "kmer_linear", "composition", "gene_model", "wide",
                  "kmer_linear@" + PROMOTER_LAYOUT)


def write_demo_manifest(path: Path, *, unannotated: bool = False) -> Path:
    """A corpus manifest listing the bundled genomes (A. thaliana chr1 + A. arenosa chr1-2); ``unannotated``
    adds the assemblies without annotation (A. lyrata chr1-2, a second A. arenosa), tiled for pre-training."""
    from florabert.genome.cresschrom import UNANNOTATED, unannotated_genome

    lines = ["genomes:"]
    for g in bundled_genomes():
        lines += [f"  - species: {g.species}", f"    fasta: {g.fasta}", f"    annotation: {g.gff}"]
    for species in UNANNOTATED if unannotated else ():
        lines += [f"  - species: {species}", f"    fasta: {unannotated_genome(species)}"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _flat(settings: dict, prefix: str = "") -> dict:
    """Nested settings as one level: ``{"config": {"max_steps": 600}}`` -> ``{"config.max_steps": 600}``."""
    out = {}
    for k, v in settings.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


class _Stages:
    """Runs the demo's stages in order. A stage is skipped when an earlier run finished it with the same
    settings (the options it ran with, as JSON) and no stage before it was redone; otherwise it runs afresh.
    So a changed default, a ``--quick`` demo followed by a full one, or a removed ``.done`` redoes that stage
    and everything after it, which reads what it wrote."""

    def __init__(self, console: Console, force: bool):
        self.console, self.redo = console, force

    def __call__(self, title: str, stage_dir: Path, settings: dict, run: Callable[[], dict]) -> dict:
        """Run ``run`` (which writes into ``stage_dir`` and returns a JSON-able summary) unless it need not;
        returns the summary either way."""
        self.console.rule(f"[bold]{title}")
        settings = json.loads(json.dumps(settings, default=str))
        done = stage_dir / ".done"
        earlier = json.loads(done.read_text()) if done.exists() else None
        if earlier and not self.redo:
            if earlier.get("demo_format") != DONE_FORMAT:
                self.console.print(f"{stage_dir} was finished by an older florabert: redoing it")
            elif earlier.get("settings") != settings:
                before, now = _flat(earlier.get("settings") or {}), _flat(settings)
                changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
                self.console.print(f"{stage_dir} was finished with other settings ({', '.join(changed)}): "
                                   "redoing it", highlight=False)
            else:
                self.console.print(f"already done: {stage_dir} (use --force to redo)")
                return earlier
        if stage_dir.exists() and not (done.exists() or marker(stage_dir)) and any(stage_dir.iterdir()):
            raise OutputError(f"{stage_dir}: holds files florabert did not write; the demo needs this folder")
        shutil.rmtree(stage_dir, ignore_errors=True)  # a half-finished earlier attempt starts over
        self.redo = True  # every later stage reads what this one writes
        t0 = time.perf_counter()
        summary = run()
        summary["seconds"] = round(time.perf_counter() - t0, 1)
        summary["demo_format"], summary["settings"] = DONE_FORMAT, settings
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
    from florabert.training.finetune import finetune, summary
    from florabert.training.pretrain import pretrain
    from florabert.training.wide import save_part

    console = console or Console(stderr=True)
    say = lambda m: console.print(m, highlight=False)  # noqa: E731
    out = Path(out)
    claim_dir(out, "demo", force=force)  # finished stages of an earlier demo are kept (see _Stages)
    out.mkdir(parents=True, exist_ok=True)
    if not marker(out):
        write_marker(out, "demo")
    t0 = time.perf_counter()
    res: dict = {}
    stage = _Stages(console, force)
    corpus_dir, data_dir = out / "corpus", out / "expression"
    ft_dir, eval_dir = out / "finetune", out / "evaluation"

    def corpus() -> dict:
        info = build_corpus(write_demo_manifest(out / "genomes.yaml"), corpus_dir, workers=2, layout=DEMO_LAYOUT,
                            log=say)
        return {"species": info["species"], "total": info["total"]}

    res["corpus"] = stage("1. gene windows -> multi-species corpus", corpus_dir, {"layout": DEMO_LAYOUT}, corpus)
    for s in res["corpus"]["species"]:
        dropped = ", ".join(f"{k} {v}" for k, v in s["dropped"].items()) or "none"
        say(f"  {s['species']}: {s['genes_read']:,} genes read, {s['written']:,} promoters written, "
            f"dropped: {dropped}")

    stage1, stage2 = out / "pretrain" / "stage1", out / "pretrain" / "stage2"
    for name, title, stage_dir, steps, extra, kwargs in (
        ("stage1", "2a. MLM pre-training, stage 1: both species", stage1, 10 if quick else DEMO_PRETRAIN_STEPS[0],
         {}, {}),
        ("stage2", f"2b. MLM pre-training, stage 2: {A_THALIANA} only", stage2,
         5 if quick else DEMO_PRETRAIN_STEPS[1],
         {"learning_rate": 5e-4, "warmup_steps": 10}, {"init_from": stage1, "species": [A_THALIANA]}),
    ):
        cfg = load_config(PretrainConfig, preset="tiny", overrides={
            "max_steps": steps, "eval_steps": steps, "save_steps": steps, "batch_size": DEMO_BATCH, **extra})
        m = res[name] = stage(title, stage_dir, {"config": dataclasses.asdict(cfg), **kwargs},
                               lambda cfg=cfg, d=stage_dir, kw=kwargs: {
                                   **pretrain(corpus_dir, None, d, cfg, log=say, **kw), "steps": cfg.max_steps})
        say(f"  held-out MLM loss {m['eval_loss']:.3f} nats per masked base (perplexity "
            f"{m['eval_perplexity']:.2f}, accuracy {m['eval_masked_accuracy']:.3f}) -> {stage_dir}")

    def expression() -> dict:
        tpm = bundled.path("arabidopsis_leaf_tpm_train.tsv")
        if quick:  # the first 500 genes of the table: every later stage on a tenth of the genes
            lines = tpm.read_text().splitlines(keepends=True)
            tpm = out / "tpm_quick.tsv"
            tpm.write_text("".join(lines[:501]))
        info = build_expression_dataset(
            tpm, corpus_files(corpus_dir, [A_THALIANA])[0], data_dir,
            families=bundled.path("arabidopsis_chr1_families.tsv"), log=say)
        return info["audit"]

    audit = res["expression"] = stage("3. expression dataset: A. thaliana leaf TPM, paralog-family split",
                                      data_dir, {"quick": quick}, expression)
    say(f"  split: {audit['counts']}; families in train and test: {audit['families_in_train_and_test']}")

    steps = 20 if quick else DEMO_FINETUNE_STEPS
    ft_cfg = load_config(FinetuneConfig, overrides={
        "max_steps": steps, "eval_steps": max(steps // 12, 10), "warmup_steps": max(steps // 12, 10),
        "batch_size": DEMO_FINETUNE_BATCH, "early_stopping_min_steps": 0,
        "cooldown_steps": 0})  # the rate already falls to 0 by the last step

    def fine_tune() -> dict:
        metrics = finetune(stage2, data_dir, ft_dir, ft_cfg, log=say)
        for part in ("deep", "wide"):  # the parts the blend averages, each a model of its own
            save_part(ft_dir, out / f"{part}_alone", part)
        return metrics

    m = res["finetune"] = stage("4. fine-tuning on leaf expression (14 runs): the deep path, then the wide path "
                                "(composition, gene model) and LightGBM blended in", ft_dir,
                                {"config": dataclasses.asdict(ft_cfg)}, fine_tune)
    t = summary(m, "test")
    say(f"  test genes: R² (all cells) {t.get('r2_all', float('nan')):.4f}, mean Pearson r "
        f"{t.get('pearson_mean', float('nan')):.4f} -> {ft_dir} (its parts: {out / 'deep_alone'}, "
        f"{out / 'wide_alone'})")

    def evaluation() -> dict:
        rows = evaluate(data_dir, eval_dir, models=[out / name for name in DEMO_MODELS], baselines=DEMO_BASELINES,
                        bootstrap=ev_settings["bootstrap"], log=say)
        return {"all": [r for r in rows if r["tissue"] == "All"]}

    ev_settings = {"models": DEMO_MODELS, "baselines": DEMO_BASELINES, "bootstrap": 100 if quick else 1000}
    ev = res["evaluation"] = stage("5. evaluation on the held-out test genes: fine-tuned models vs baselines",
                                   eval_dir, ev_settings, evaluation)
    for r in ev["all"]:
        say(f"  {r['model']:>24s}: R² {r['r2']:+.4f} (95 % CI {r['r2_lo']:+.4f} to {r['r2_hi']:+.4f}), "
            f"Pearson {r['pearson']:.3f}")
    say(f"  report: {eval_dir / 'metrics.md'}")

    def positional() -> dict:
        import pyarrow.parquet as pq

        from florabert.data.dataset import load_expression_dataset

        test = load_expression_dataset(data_dir).part("test")
        pq.write_table(test.slice(0, 4 if quick else 8), out / "explain" / "test_promoters.parquet")
        # the deep path alone: what a model of the bases looks at (the full model's blend may weigh it little)
        return positional_importance(out / "deep_alone", out / "explain" / "test_promoters.parquet", pos_dir,
                                     samples=2,
                                     lengths=(1, 3, 6), step=50 if quick else 40, max_sequences=8,
                                     show_progress=False)

    pos_dir, sp_dir = out / "explain" / "positional", out / "explain" / "species"
    pos_dir.parent.mkdir(exist_ok=True)
    pi = res["positional"] = stage("6a. positional importance of the deep path: L-mers replaced along test "
                                   "genes' windows", pos_dir, {"quick": quick}, positional)
    say(f"  {pi['mutants']:,} mutants of {pi['promoters']} test genes; strongest position per L-mer length: "
        f"{', '.join(f'{L}: {p}' for L, p in pi['peak_position'].items())} -> {pos_dir}")
    per_species = 50 if quick else 200
    sp = res["species"] = stage("6b. species embeddings from the stage-1 model vs k-mer composition", sp_dir,
                                {"per_species": per_species},
                                lambda: species_embeddings(stage1, corpus_dir, sp_dir, per_species=per_species))
    for name, info in sp["representations"].items():
        say(f"  {name:>22s}: silhouette {info['silhouette_cosine']:+.3f} (1 = species fully separated)")

    total = time.perf_counter() - t0
    html_path, _ = write_demo_report(out, res, total, quick=quick)
    console.rule()
    say(f"demo finished in {total:.1f} s; report: {html_path} (and report.md)")
    return res


def verdict(rows: list[dict], paired: list[dict], wide_fit: dict | None = None) -> str:
    """Plain sentences: which model wins on the test genes and what each part adds (``paired``: evaluate's
    paired.csv rows; ``wide_fit``: the full model's ``metrics.json`` "wide" entry, its blend)."""
    r2 = {r["model"]: float(r["r2"]) for r in rows}
    best = max(r2, key=r2.get)
    parts = [f"Best on the test genes: {best} (R² {r2[best]:.4f})."]
    pairs = {(p["model"], p["versus"]): p for p in paired}
    for other, what in (("wide_alone", "its wide path alone (ridge and LightGBM on composition, JASPAR motifs "
                                       "and gene model)"),
                        ("deep_alone", "its deep path alone (the bases of the windows, nothing else)")):
        d = pairs.get(("finetune", other))
        if d:
            diff, lo, hi = (float(d[k]) for k in ("difference", "difference_lo", "difference_hi"))
            sure = "beyond" if lo > 0 or hi < 0 else "within"
            parts.append(f"The full model scores {diff:+.4f} R² against {what}, {float(d['r2_versus']):.4f} "
                         f"(paired 95 % CI {lo:+.4f} to {hi:+.4f}: {sure} the noise of the test genes).")
    w = (wide_fit or {}).get("blend_weights")
    if w:
        parts.append("The blend chosen on the validation genes weighs "
                     + ", ".join(f"{k} {v:.1f}" for k, v in w.items()) + ".")
    if "composition" in r2 and "gene_model" in r2 and "wide" in r2:
        parts.append(f"Ridge on composition alone reaches {r2['composition']:.4f}, on the gene model alone "
                     f"{r2['gene_model']:.4f}, on both {r2['wide']:.4f}.")
    return " ".join(parts)


# Over 80 lines on purpose: one report section per stage, in order; splitting would scatter one page's text.
def write_demo_report(out: Path, res: dict, total: float, *, quick: bool = False) -> tuple[Path, Path]:
    """report.html + report.md from the stage summaries and the files the stages wrote."""
    import csv

    from florabert.htmlreport import Section, write_report
    from florabert.training.finetune import summary

    n_targets = len(json.loads((out / "expression" / "targets.json").read_text())["targets"])
    secs = lambda k: f"{res[k].get('seconds', 0):.0f} s" if res.get(k, {}).get("seconds") else "earlier run"  # noqa: E731
    stages = [("1. gene windows -> corpus", "corpus"), ("2a. pre-training stage 1", "stage1"),
              ("2b. pre-training stage 2", "stage2"), ("3. expression dataset", "expression"),
              ("4. fine-tuning (gene structure)", "finetune"),
              ("5. evaluation", "evaluation"),
              ("6a. positional importance", "positional"), ("6b. species embeddings", "species")]
    overview = Section("Pipeline", [
        "FloraBERT's pipeline on real data bundled with the package, reading the gene's structure instead of "
        f"the promoter alone: the windows {DEMO_LAYOUT} (around the TSS, around the gene's 3' end, and the "
        "spliced coding sequence from the start codon) of every protein-coding gene of Arabidopsis thaliana "
        "chromosome 1 and Arabidopsis arenosa chromosomes 1-2, with the gene-model features of the annotation "
        "(exons, introns, UTRs, isoforms, neighbours); masked-LM pre-training of the stem model (a convolutional "
        "stem over every base, attention over 16-base bins) on both species, then on A. thaliana; fine-tuning on "
        f"leaf expression (ln(TPM + 1), {n_targets} RNA-seq runs) with a paralog-family-aware split: the deep "
        "path on the bases, then the wide path (ridge on window composition and gene model) and LightGBM on the "
        "same features, blended with weights chosen on the validation genes; the deep path alone and the wide "
        "path alone saved as models of their own; evaluation of all three on held-out test genes against "
        "baselines that read the same windows; explanations."
        + (" This was a --quick run: every stage is smaller." if quick else "")],
        tables=[(["stage", "time"], [[name, secs(key)] for name, key in stages]
                 + [["all stages", f"{sum(res[k].get('seconds', 0) for _, k in stages):.0f} s"],
                    ["this invocation (stages already done are skipped)", f"{total:.0f} s"]])])
    corpus = Section("1. Gene windows and corpus", tables=[(
        ["species", "genes read", "genes written", "dropped"],
        [[s["species"], s["genes_read"], s["written"],
          ", ".join(f"{k} {v}" for k, v in s["dropped"].items()) or "-"] for s in res["corpus"]["species"]])])
    pre = Section("2. Pre-training (masked bases)", [
        "The stem model reads single bases; 15 % of the bases are masked and predicted from their bin's hidden "
        "state and the stem's features around them. A model that learned no context stays at the base "
        "composition's entropy (about 1.35 nats here)."], tables=[(
            ["stage", "data", "steps", "held-out MLM loss (nats)", "perplexity", "masked-base accuracy"],
            [[k, "both species" if k == "stage1" else "A. thaliana", res[k].get("steps", ""),
              res[k]["eval_loss"], res[k]["eval_perplexity"], res[k]["eval_masked_accuracy"]]
             for k in ("stage1", "stage2")])],
        figures=[(out / "pretrain" / k / "logs" / "loss.png", f"MLM loss, {k}") for k in ("stage1", "stage2")])
    audit = res["expression"]
    ft = summary(res["finetune"], "test")
    wide = res["finetune"].get("wide") or {}
    groups = wide.get("groups") or {}
    alone = {k: wide.get(f"validation_r2_{k}") for k in ("deep", "ridge", "trees")}
    fine = Section("3-4. Expression data and fine-tuning", [
        f"Genes per split: {', '.join(f'{k} {v:,}' for k, v in audit['counts'].items())}; gene families shared "
        f"by train and test: {audit['families_in_train_and_test']}. The deep path fine-tunes alone on the "
        "targets; the ridge and LightGBM are fitted on the same training genes; the weights of the three are "
        "chosen on the validation genes. Validation R² alone: "
        + ", ".join(f"{k} {v:.4f}" for k, v in alone.items() if v is not None)
        + f"; blended {wide.get('validation_r2_blend', float('nan')):.4f}. Full model on the test genes: R² "
        f"{ft.get('r2_all', float('nan')):.4f}, mean Pearson r {ft.get('pearson_mean', float('nan')):.4f}."],
        tables=[(["wide-path feature group", "features", "validation R² alone", "validation R² without it"],
                 [[k, v["features"], v["validation_r2_alone"], v["validation_r2_without"]]
                  for k, v in groups.items()])] if groups else [],
        figures=[(out / "finetune" / "logs" / "loss.png", "fine-tuning loss of the deep path")])
    ev_dir = out / "evaluation"
    with open(ev_dir / "metrics.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["tissue"] == "All"]
    with open(ev_dir / "paired.csv", newline="") as fh:
        paired = list(csv.DictReader(fh))
    ev = Section("5. Evaluation on held-out test genes", [
        "All test cells together (tissue 'All'); 95 % bootstrap confidence intervals over test genes. Per-run "
        "numbers are in evaluation/metrics.csv and metrics.md, paired differences in paired.csv. `finetune` is "
        "the full model (deep path, ridge and LightGBM blended), `deep_alone` its deep path alone (the bases of "
        "the windows), `wide_alone` its wide path alone (ridge and LightGBM on composition, JASPAR motifs and "
        "gene model); "
        "`composition`, `gene_model` and `wide` are ridge on the wide path's feature groups alone, fitted on the "
        f"training genes; baselines without `@` read the gene-structure windows, `@{PROMOTER_LAYOUT}` "
        "FloraBERT's 150 promoter bases. The runs (ERR3333392 ... ERR3333425) are ENA accessions of A. thaliana "
        "leaf RNA-seq samples from the TPM table published with deepCRE (Peleke et al. 2024); the bundled data "
        "has no per-run sample sheet (condition, replicate), so the runs are named by accession.",
        verdict(rows, paired, json.loads((out / "finetune" / "metrics.json").read_text()).get("wide"))],
        tables=[(["model", "R²", "R² 95 % CI", "Pearson r", "Spearman r", "MSE (log)", "MAE (TPM)"],
                 [[r["model"], float(r["r2"]), f"{float(r['r2_lo']):+.4f} to {float(r['r2_hi']):+.4f}",
                   float(r["pearson"]), float(r["spearman"]), float(r["mse"]), float(r["mae_tpm"])]
                  for r in rows])],
        figures=[(ev_dir / "r2_per_tissue.png", "R² per RNA-seq run and model"),
                 (ev_dir / "normalized_mse.png", "MSE per run, divided by the worst model's (lower is better)"),
                 (ev_dir / "predicted_vs_observed.png", "predicted vs observed ln(TPM + 1), test genes")])
    pi, sp = res["positional"], res["species"]
    explain = Section("6. Explanations", [
        f"Positional importance of the deep path alone (the model of the bases): mean |Δ predicted ln TPM| when "
        f"the L-mer at each position (counted from each window's landmark; -1 is the base before it) is replaced "
        f"by a random L-mer, over {pi['promoters']} test genes, every {pi['step']} bp, {pi['samples']} random "
        "L-mers each. "
        "Species embeddings: mean-pooled hidden states of the stage-1 model, next to 1-mer and k-mer "
        "composition; silhouette (cosine) measures how well each separates the species (A. thaliana and A. "
        "arenosa are sister species: little separation is expected). Known motifs: the JASPAR plant matrices "
        "whose best sites in these genes' windows carry the most positional importance, against the same sites "
        "moved to random places of the same windows (200 permutations; p one-sided)."],
        tables=[(["representation", "dimensions", "silhouette"],
                 [[n, i["dimensions"], i["silhouette_cosine"]] for n, i in sp["representations"].items()]),
                (["known motif (JASPAR plants)", "family", "sites", "importance on sites",
                  "at random places", "ratio", "p (permutations)"],
                 [[f"{r['tf']} ({r['matrix_id']})", r["family"], r["sites"], r["importance_on_sites"],
                   r["importance_by_chance"], r["ratio"], r["p_value"]] for r in pi.get("motifs", [])[:8]])],
        figures=[(out / "explain" / "positional" / "positional_importance.png", "positional importance"),
                 (out / "explain" / "species" / "species_pca.png", "species PCA")])
    return write_report(out, "florabert demo report", [overview, corpus, pre, fine, ev, explain])
