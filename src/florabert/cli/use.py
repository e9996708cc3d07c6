"""Commands that use models: predict, evaluate, demo."""

from __future__ import annotations

from pathlib import Path

import typer

from florabert.cli.app import FORCE, app, console, gene_list


@app.command()
def predict(
    model: Path = typer.Option(..., "--model", help="Fine-tuned model directory (florabert finetune)."),
    out: Path = typer.Option(..., "--out", help="Output TSV."),
    fasta: Path = typer.Option(None, "--fasta", help="Promoter sequences (FASTA; record id = gene id)."),
    genome: Path = typer.Option(None, "--genome", help="Genome FASTA (with --annotation)."),
    annotation: Path = typer.Option(None, "--annotation", help="GFF3/GTF: with --genome, promoters are cut as in "
                                    "training; with --fasta/--tsv, the gene-model features of the record ids."),
    tsv: Path = typer.Option(None, "--tsv", help="TSV with gene_id and sequence columns (or one per window)."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Sequences per forward pass."),
    bf16: bool = typer.Option(False, "--bf16", help="bf16 autocast (faster on CPUs with native bf16)."),
    tracks: Path = typer.Option(None, "--tracks", help="Track sheet for a model fine-tuned with --tracks (with "
                                "--genome/--annotation): one column per tissue of the sheet."),
    gene_features: Path = typer.Option(None, "--gene-features", help="Table (TSV/CSV/Parquet) of gene_id and "
                                       "the gm_* gene-model columns, for a model that reads them."),
    without_gene_features: bool = typer.Option(False, "--without-gene-features", help="Predict genes whose "
                                               "gene-model features are not given at the training average "
                                               "(column gene_model says which)."),
    genes: list[str] = typer.Option(None, "--genes", metavar="IDS",
                                    help="Only these gene ids (comma-separated or repeated)."),
    force: bool = FORCE,
) -> None:
    """Predict expression (log and TPM per target) for promoters."""
    from florabert.predict import predict as run

    n = run(model, out, fasta=fasta, genome=genome, annotation=annotation, tsv=tsv, tracks=tracks,
            gene_features=gene_features, without_gene_features=without_gene_features, genes=gene_list(genes),
            batch_size=batch_size, bf16=bf16, force=force, log=lambda m: console.print(m, highlight=False))
    console.print(f"{n:,} predictions -> {out}")


@app.command()
def evaluate(
    data: Path = typer.Option(..., "--data", help="Dataset directory (florabert expression)."),
    out: Path = typer.Option(..., "--out", help="Report directory."),
    models: list[Path] = typer.Option(None, "--models", metavar="DIR...", help="Fine-tuned model directories "
                                      "(--models a/ b/ or --models a/ --models b/)."),
    baselines: str = typer.Option(",".join(("const_mean", "kmer_linear", "kmer_lgbm", "motif_lgbm")),
                                  "--baselines", help="Comma-separated baselines ('' for none): const_mean, "
                                  "kmer_linear, kmer_lgbm, motif_lgbm, cnn; NAME@N reads only the N bases nearest "
                                  "the TSS (kmer_linear@150)."),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples for the 95 % CIs "
                                  "(0: none)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the baselines and the bootstrap."),
    seeds: int = typer.Option(1, "--seeds", min=1, help="Refit seeded baselines (LightGBM, CNN) with N seeds; "
                              "metrics_seeds.csv gets mean ± sd."),
    force: bool = FORCE,
) -> None:
    """Score models and baselines on the test genes: metrics.csv/.md, predictions/, figures."""
    from florabert.evaluation.evaluate import evaluate as run

    rows = run(data, out, models=models or [], baselines=[b for b in baselines.split(",") if b],
               bootstrap=bootstrap, seed=seed, seeds=seeds, force=force,
               log=lambda m: console.print(m, highlight=False))
    for r in rows:
        if "mcc" in r:  # a classification task
            console.print(f"{r['model']:>20s}  MCC {r['mcc']:+.4f}  accuracy {r['accuracy']:.3f}  "
                          f"F1 {r['f1']:.3f}  AUROC {r['auroc']:.3f}", highlight=False)
        elif r["tissue"] == "All":
            console.print(f"{r['model']:>20s}  R² {r['r2']:+.4f}  Pearson {r['pearson']:.3f}  MSE {r['mse']:.4f}",
                          highlight=False)
    console.print(f"report -> {out}/metrics.md")


@app.command()
def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", help="Output directory."),
    quick: bool = typer.Option(False, "--quick", help="A smaller, faster run."),
    force: bool = typer.Option(False, "--force", help="Redo finished stages."),
) -> None:
    """Run the pipeline on the bundled real genomes (A. thaliana chr1, A. arenosa chr1-2)."""
    from florabert.demo import run_demo

    run_demo(out, quick=quick, force=force, console=console)


