"""The explain group: positional importance, ISM, variants, attention, species."""

from __future__ import annotations

from pathlib import Path

import typer

from florabert.cli.app import FORCE, app, console, gene_list, model_path

explain_app = typer.Typer(rich_markup_mode=None,
                          help="Explain models: positional importance, ISM, variant effects, attention, "
                          "species embeddings.", no_args_is_help=True)
app.add_typer(explain_app, name="explain")
_MODEL = typer.Option(..., "--model", callback=model_path,
                      help="Fine-tuned model directory, or a bundled model's name (florabert models).")
_PROMOTERS = typer.Option(..., "--promoters", help="Promoters: .parquet/.tsv (florabert promoters) or FASTA.")
_GENES = typer.Option(None, "--genes", metavar="IDS", help="Gene ids to use (repeatable, or comma-separated).")
_REGION = typer.Option(None, "--region", help="START:END relative to the TSS (end exclusive), e.g. -300:0, or "
                       "LANDMARK:START:END for the windows around a tss, tts or cds landmark (tts:-100:+100). "
                       "[default: every base the model reads]")


@explain_app.command("positional")
def explain_positional(
    model: Path = _MODEL,
    promoters: Path = _PROMOTERS,
    out: Path = typer.Option(..., "--out", help="Output directory (CSV, heatmap PNG/SVG, summary.json)."),
    lengths: str = typer.Option("1,6", "--lengths", help="L-mer lengths: a range 1-6 or a list 1,2,4."),
    samples: int = typer.Option(2, "--samples", min=1, help="Random L-mers per position."),
    max_sequences: int = typer.Option(8, "--max-sequences", min=1, help="Promoters used (the first N)."),
    step: int = typer.Option(25, "--step", min=1, help="Test every STEP-th position (the default, 25, keeps a "
                             "gene-structure model under a minute on 2 cores; --step 1 for base resolution)."),
    region: str = _REGION,
    genes: list[str] = _GENES,
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Sequences per forward pass."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    bf16: bool = typer.Option(False, "--bf16", help="bf16 autocast (faster on CPUs with native bf16)."),
    force: bool = FORCE,
) -> None:
    """Mean |Δ prediction| when the L-mer at each TSS-relative position is replaced by a random one."""
    from florabert.explain.inputs import parse_lengths, parse_region
    from florabert.explain.positional import positional_importance

    s = positional_importance(model, promoters, out, lengths=parse_lengths(lengths), samples=samples,
                              max_sequences=max_sequences, region=parse_region(region), step=step,
                              genes=gene_list(genes), batch_size=batch_size, seed=seed, bf16=bf16,
                              force=force)
    peaks = ", ".join(f"L={L}: {p}" for L, p in s["peak_position"].items())
    console.print(f"{s['mutants']:,} mutants of {s['promoters']} promoters; peak position {peaks}",
                  highlight=False)
    console.print(f"-> {out}/positional_importance.csv, .png, .svg")


@explain_app.command("ism")
def explain_ism(
    model: Path = _MODEL,
    promoters: Path = _PROMOTERS,
    out: Path = typer.Option(..., "--out", help="Output directory (ism.tsv, one logo figure per gene)."),
    genes: list[str] = _GENES,
    max_sequences: int = typer.Option(1, "--max-sequences", min=1, help="Without --genes: the first N "
                                      "(each costs 3 mutants per base it reads: narrow with --region)."),
    region: str = _REGION,
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Sequences per forward pass."),
    bf16: bool = typer.Option(False, "--bf16", help="bf16 autocast (faster on CPUs with native bf16)."),
    force: bool = FORCE,
) -> None:
    """In-silico saturation mutagenesis: every single-base substitution, Δ per output."""
    from florabert.explain.inputs import parse_region
    from florabert.explain.ism import saturation_mutagenesis

    s = saturation_mutagenesis(model, promoters, out, genes=gene_list(genes), max_sequences=max_sequences,
                               region=parse_region(region), batch_size=batch_size, bf16=bf16,
                               force=force)
    for gid, g in s["genes"].items():
        console.print(f"{gid}: {g['positions']} positions, largest |Δ| {g['max_abs_delta']:.4f}, "
                      f"strongest position {g['peak_position']}", highlight=False)
    console.print(f"{s['mutants']:,} mutants scored and drawn in {s['seconds']:.1f} s "
                  f"({s['mutants_per_second']:,} per s, after start-up)", highlight=False)
    console.print(f"-> {out}/ism.tsv")


@explain_app.command("variants")
def explain_variants(
    model: Path = _MODEL,
    vcf: Path = typer.Option(..., "--vcf", help="VCF (plain, gzip or bgzip): SNVs and small indels."),
    genome: Path = typer.Option(..., "--genome", help="Genome FASTA the VCF refers to."),
    annotation: Path = typer.Option(..., "--annotation", help="GFF3/GTF: promoters cut as in training."),
    out: Path = typer.Option(..., "--out", help="Output directory (variants.tsv, variants_summary.json)."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Sequences per forward pass."),
    bf16: bool = typer.Option(False, "--bf16", help="bf16 autocast (faster on CPUs with native bf16)."),
    force: bool = FORCE,
) -> None:
    """Predicted expression change (alt - ref) of every variant in a promoter window, per output."""
    from florabert.explain.variants import variant_effects

    s = variant_effects(model, vcf, genome, annotation, out, batch_size=batch_size, bf16=bf16,
                        force=force)
    console.print(f"{s['alleles']:,} alleles: {s['in_promoters']:,} in promoter windows "
                  f"({s['variant_gene_pairs']:,} variant-gene pairs), {s['outside_promoters']:,} outside"
                  + (f", {s['symbolic_skipped']} symbolic skipped" if s["symbolic_skipped"] else ""),
                  highlight=False)
    if s["chromosomes_not_in_genome"]:
        console.print(f"[yellow]warning:[/] VCF chromosomes not in the genome: "
                      f"{', '.join(s['chromosomes_not_in_genome'][:5])}", highlight=False)
    console.print(f"-> {out}/variants.tsv")


@explain_app.command("attention")
def explain_attention(
    model: Path = typer.Option(..., "--model", callback=model_path,
                               help="Model directory (pre-trained or fine-tuned) or a bundled model's name."),
    promoters: Path = _PROMOTERS,
    out: Path = typer.Option(..., "--out", help="Output directory (.npz arrays + figures)."),
    genes: list[str] = _GENES,
    max_sequences: int = typer.Option(2, "--max-sequences", min=1, help="Without --genes: the first N."),
    force: bool = FORCE,
) -> None:
    """Attention of every layer and head for a few promoters, as arrays and a plot."""
    from florabert.explain.attention import attention_maps

    s = attention_maps(model, promoters, out, genes=gene_list(genes), max_sequences=max_sequences, force=force)
    for gid, shape in s.items():
        console.print(f"{gid}: {shape['layers']} layers x {shape['heads']} heads x {shape['tokens']} tokens",
                      highlight=False)
    console.print(f"-> {out}")


@explain_app.command("species")
def explain_species(
    model: Path = typer.Option(..., "--model", callback=model_path,
                               help="Pre-trained model directory (florabert pretrain) or a bundled model's name."),
    corpus: list[Path] = typer.Option(..., "--corpus", metavar="PATH",
                                      help="Corpus directory or promoter .parquet "
                                      "(repeatable); needs a species column with >= 2 species."),
    out: Path = typer.Option(..., "--out", help="Output directory (species_pca.png/.svg, TSV, summary)."),
    per_species: int = typer.Option(200, "--per-species", min=2, help="Promoters sampled per species."),
    k: int = typer.Option(4, "--k", min=2, max=8, help="k of the k-mer composition comparison."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Sequences per forward pass."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    force: bool = FORCE,
) -> None:
    """PCA of mean-pooled model embeddings per species, next to 1-mer and k-mer composition."""
    from florabert.explain.species import species_embeddings

    s = species_embeddings(model, corpus, out, per_species=per_species, k=k, batch_size=batch_size, seed=seed,
                           force=force)
    for name, info in s["representations"].items():
        console.print(f"{name:>22s}: silhouette {info['silhouette_cosine']:+.3f}", highlight=False)
    console.print(f"-> {out}/species_pca.png")


