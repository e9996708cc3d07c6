"""Commands that use models: predict, evaluate, demo."""

from __future__ import annotations

from pathlib import Path

import typer

from florabert.cli.app import FORCE, app, console, gene_list, model_path


@app.command()
def predict(
    model: Path = typer.Option(..., "--model", callback=model_path,
                               help="Fine-tuned model directory, or a bundled model's name (florabert models)."),
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
    models: list[Path] = typer.Option(None, "--models", metavar="DIR...", callback=model_path,
                                      help="Fine-tuned model directories or bundled models' names "
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
    force: bool = typer.Option(False, "--force", help="Redo finished stages (one finished "
                               "with other settings is redone anyway)."),
) -> None:
    """Run the pipeline on the bundled real genomes (A. thaliana chr1, A. arenosa chr1-2)."""
    from florabert.demo import run_demo

    run_demo(out, quick=quick, force=force, console=console)




@app.command()
def models() -> None:
    """List the models bundled with the package (usable as --model NAME, no training or download needed)."""
    import json

    from rich.table import Table

    from florabert.bundled import models as bundled

    found = bundled()
    if not found:
        console.print("no bundled models in this installation")
        return
    table = Table(title="bundled models (--model NAME)", title_justify="left")
    for col in ("name", "windows", "outputs", "test R² [95 % CI]", "folder"):
        table.add_column(col)
    for name, folder in found.items():
        config = json.loads((folder / "config.json").read_text())
        card = json.loads((folder / "card.json").read_text()) if (folder / "card.json").exists() else {}
        r2 = card.get("test_r2")
        table.add_row(name, (config.get("promoter_window") or {}).get("layout", "-"),
                      f"{len(config.get('targets', []))} ({', '.join(config.get('targets', [])[:2])}, ...)",
                      f"{r2:.3f} [{card['test_r2_lo']:.3f}-{card['test_r2_hi']:.3f}]" if r2 is not None else "-",
                      str(folder))
    from rich.console import Console

    Console(width=200).print(table)


@app.command()
def motifs(
    genome: Path = typer.Option(..., "--genome", help="Genome FASTA."),
    annotation: Path = typer.Option(..., "--annotation", help="GFF3/GTF."),
    out: Path = typer.Option(..., "--out", help="Output folder (best_hits.parquet, matrices.tsv, summary.json)."),
    model: Path = typer.Option(None, "--model", callback=model_path,
                               help="Scan the windows this model reads (a folder or a bundled model's name)."),
    layout: str = typer.Option(None, "--layout", help="Or scan these windows (e.g. tss:-1000:0)."),
    all_matrices: bool = typer.Option(False, "--all-matrices", help="Every plant matrix of JASPAR CORE (927), "
                                      "not the non-redundant set (328 clusters)."),
    threshold: float = typer.Option(0.85, "--threshold", min=0.0, max=1.0, help="A hit: relative score at "
                                    "least this (0 = the worst possible site, 1 = the best)."),
    force: bool = FORCE,
) -> None:
    """Scan every gene's windows with JASPAR's plant TF matrices: best site per gene and matrix."""
    from florabert.motifs.genome import scan_genome

    scan_genome(genome, annotation, out, model=model, layout=layout, all_matrices=all_matrices,
                threshold=threshold, force=force, log=lambda m: console.print(m, highlight=False))
