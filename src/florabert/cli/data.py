"""Commands that make data: promoters, corpus, tokenizer, expression, tasks."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

from florabert.cli.app import (
    FORCE,
    LAYOUT_HELP,
    Edge,
    Feature,
    app,
    check_layout_options,
    console,
    print_summary,
)
from florabert.errors import FloraBertError


@app.command()
def promoters(
    genome: Path = typer.Option(..., "--genome", help="Genome FASTA (plain, .gz or bgzip)."),
    annotation: Path = typer.Option(..., "--annotation", help="GFF3 or GTF (plain or .gz)."),
    out: Path = typer.Option(..., "--out", help="Output: .parquet, .tsv or .fa (by extension)."),
    species: str = typer.Option(None, help="Species label stored in every row [default: FASTA name]."),
    upstream: int = typer.Option(1000, min=0, help="Bases 5' of the TSS."),
    downstream: int = typer.Option(0, min=0, help="Bases from the TSS on (into the transcript)."),
    feature: Feature = typer.Option(Feature.gene, help="TSS from the gene start, or from one chosen "
                                    "mRNA/transcript per gene (canonical tag, else longest)."),
    biotype: str = typer.Option("protein_coding", help="Keep genes of this biotype ('all' keeps every gene)."),
    id_attribute: str = typer.Option(None, help="Attribute holding the gene id [default: gene_id, "
                                     "locus_tag, or ID without its gene:/gene- prefix]."),
    edge: Edge = typer.Option(Edge.drop, help="Windows running off a sequence end: drop, or pad with N."),
    clip_neighbors: bool = typer.Option(False, "--clip-neighbors", help="Cut each window where it runs "
                                        "into another gene (FloraBERT's option)."),
    layout: str = typer.Option(None, "--layout", help=LAYOUT_HELP),
    gene_model: bool = typer.Option(True, "--gene-model/--no-gene-model", help="Add the gene-model feature "
                                    "columns gm_* (exons, introns, UTRs, isoforms, neighbours; README)."),
    force: bool = FORCE,
) -> None:
    """Extract gene windows (one row per gene): TSS-anchored promoters, or any layout of windows around the
    TSS and the TTS."""
    from florabert.genome.promoters import check_output, extract_promoters, write_promoters

    check_layout_options(layout, upstream, downstream)
    check_output(out, force=force)
    result = extract_promoters(genome, annotation, species=species, upstream=upstream,
                               downstream=downstream, layout=layout, feature=feature.value, biotype=biotype,
                               id_attribute=id_attribute, edge=edge.value, clip_neighbors=clip_neighbors,
                               gene_model=gene_model)
    write_promoters(result.table, out, force=force)
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    if result.ambiguous:
        console.print(f"{result.ambiguous:,} promoters hold IUPAC ambiguity codes (R, Y, ...): kept as they are; "
                      "tokenizers and models read them as N", highlight=False)
    print_summary([result.summary()], out)


@app.command()
def corpus(
    manifest: Path = typer.Option(..., "--manifest", help="YAML listing genomes (species, fasta, annotation)."),
    out: Path = typer.Option(..., "--out", help="Output directory for Parquet shards + manifest.json."),
    workers: int = typer.Option(0, min=0, help="Parallel processes; 0 = one per core.", show_default=True),
    cache: Path = typer.Option(None, help="Download cache (kept when the corpus is rebuilt). [default: "
                               "OUT/downloads]"),
    upstream: int = typer.Option(1000, min=0, help="Bases 5' of the TSS (as florabert promoters)."),
    downstream: int = typer.Option(0, min=0, help="Bases from the TSS on (as florabert promoters)."),
    biotype: str = typer.Option("protein_coding", help="Keep genes of this biotype ('all': every gene)."),
    edge: Edge = typer.Option(Edge.drop, help="A window running off a sequence end: drop the gene, or pad "
                              "with N."),
    clip_neighbors: bool = typer.Option(False, "--clip-neighbors", help="Cut windows where they run into "
                                        "another gene (as florabert promoters)."),
    layout: str = typer.Option(None, "--layout", help=LAYOUT_HELP),
    dedup: bool = typer.Option(False, "--dedup", help="Drop promoters whose sequence already occurs "
                               "anywhere earlier in the corpus."),
    shard_rows: int = typer.Option(50_000, min=1, help="Rows per Parquet shard."),
    force: bool = FORCE,
) -> None:
    """Build a multi-species promoter corpus (Parquet shards) from a genome manifest."""
    from florabert.genome.corpus import build_corpus

    check_layout_options(layout, upstream, downstream)
    info = build_corpus(manifest, out, workers=workers or None, cache=cache, upstream=upstream,
                        downstream=downstream, biotype=biotype, edge=edge.value,
                        clip_neighbors=clip_neighbors, layout=layout, dedup=dedup, shard_rows=shard_rows,
                        force=force,
                        log=lambda msg: console.print(msg, highlight=False))
    print_summary(info["species"], out)
    if dedup:
        console.print(f"dropped {info['duplicates_dropped']:,} duplicate sequences across the corpus")


tokenizer_app = typer.Typer(rich_markup_mode=None,
                            help="Train and inspect DNA tokenizers (BPE, k-mer, nucleotide).",
                            no_args_is_help=True)
app.add_typer(tokenizer_app, name="tokenizer")


class Kind(str, Enum):
    bpe = "bpe"
    kmer = "kmer"
    nucleotide = "nucleotide"


@tokenizer_app.command("train")
def tokenizer_train(
    corpus: Path = typer.Option(None, "--corpus", help="Corpus: a Parquet file or a shard directory "
                                "(needed for BPE)."),
    kind: Kind = typer.Option(Kind.bpe, "--kind", help="bpe (FloraBERT), kmer, or nucleotide."),
    out: Path = typer.Option(..., "--out", help="Output directory (loads with AutoTokenizer)."),
    vocab_size: int = typer.Option(5000, "--vocab-size", min=16, help="BPE vocabulary incl. specials."),
    k: int = typer.Option(6, "--k", min=1, max=8, help="k-mer length."),
    stride: int = typer.Option(None, "--stride", min=1, help="k-mer stride: 1 = overlapping, k = non-overlapping "
                               "[default: k]."),
    max_length: int = typer.Option(256, "--max-length", min=8, help="model_max_length stored in the tokenizer."),
    species: list[str] = typer.Option(None, "--species", metavar="SPECIES",
                                      help="Train on these species only (repeatable)."),
    force: bool = FORCE,
) -> None:
    """Build a tokenizer and save it with save_pretrained."""
    from florabert.outputs import claim_dir
    from florabert.tokenization import train_tokenizer

    claim_dir(out, "tokenizer train", force=force)
    tok = train_tokenizer(corpus, kind=kind.value, vocab_size=vocab_size, k=k, stride=stride,
                          model_max_length=max_length, species=species or None)
    tok.save(out, force=force)
    console.print(f"{kind.value} tokenizer, vocabulary {len(tok.hf):,} -> {out}", highlight=False)
    if corpus is not None:
        _print_length_stats(tok, corpus, max_length, species)


@tokenizer_app.command("stats")
def tokenizer_stats(
    tokenizer: Path = typer.Option(..., "--tokenizer", help="Tokenizer directory."),
    corpus: Path = typer.Option(..., "--corpus", help="Corpus: a Parquet file or a shard directory."),
    max_length: int = typer.Option(256, "--max-length", min=1, help="Count promoters longer than this."),
    species: list[str] = typer.Option(None, "--species", metavar="SPECIES",
                                      help="Only these species (repeatable)."),
) -> None:
    """Encoded length distribution of a corpus's promoters, and how many would be truncated."""
    from florabert.tokenization import DNATokenizer

    _print_length_stats(DNATokenizer.load(tokenizer), corpus, max_length, species)


def _print_length_stats(tok, corpus: Path, max_length: int, species) -> None:
    from rich.table import Table

    from florabert.tokenization import length_stats

    st = length_stats(tok, corpus, max_length=max_length, species=species or None)
    out = Console()
    out.print(f"encoded lengths (with <s> </s>) of {st['sequences']:,} promoters, vocabulary {st['vocab_size']:,}",
              highlight=False)
    table = Table()
    for col in ("mean", "median", "p95", "min", "max", f"> {max_length}"):
        table.add_column(col, justify="right")
    table.add_row(f"{st['mean']:.1f}", f"{st['median']:.0f}", f"{st['p95']:.0f}", str(st["min"]),
                  str(st["max"]), f"{st['truncated']:,} ({100 * st['truncated_fraction']:.1f} %)")
    out.print(table)


@app.command()
def expression(
    tpm: Path = typer.Option(..., "--tpm", help="TPM table, genes x samples (TSV, or .csv)."),
    promoters: Path = typer.Option(..., "--promoters", help="Promoter table (.parquet/.tsv) from `promoters`."),
    out: Path = typer.Option(..., "--out", help="Output dataset directory."),
    samples: Path = typer.Option(None, "--samples", help="Sample sheet (sample, tissue): average replicates."),
    families: str = typer.Option(None, "--families", help="gene -> family TSV, or 'mmseqs' to cluster "
                                 "promoters [default: mmseqs when installed, else a random split]."),
    split: Path = typer.Option(None, "--split", help="Impose a split: TSV gene_id, split."),
    offset: float = typer.Option(1.0, "--offset", help="Targets are ln(TPM + offset)."),
    gene_column: str = typer.Option(None, "--gene-column", help="Gene id column [default: the first]."),
    test_fraction: float = typer.Option(0.3, "--test-fraction", help="Share of the genes (whole families) in "
                                        "the test part."),
    validation_fraction: float = typer.Option(0.1, "--validation-fraction", help="Of the non-test genes."),
    holdout_chromosome: list[str] = typer.Option(None, "--holdout-chromosome", metavar="CHROM",
                                                 help="Test = these chromosomes (repeatable)."),
    holdout_species: list[str] = typer.Option(None, "--holdout-species", metavar="SPECIES",
                                              help="Test = these species (repeatable)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split."),
    force: bool = FORCE,
) -> None:
    """Build a fine-tuning dataset: log expression joined to promoters, a leakage-free split, its audit."""
    from florabert.data.dataset import build_expression_dataset

    info = build_expression_dataset(
        tpm, promoters, out, samples=samples, families=families, split=split, offset=offset,
        gene_column=gene_column, test_fraction=test_fraction, validation_fraction=validation_fraction,
        holdout_chromosomes=holdout_chromosome or None, holdout_species=holdout_species or None, seed=seed,
        force=force,
        log=lambda m: console.print(m, highlight=False))
    a = info["audit"]
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(a["counts"].items()))
    sim = a.get("test_kmer_similarity", {})
    console.print(f"{info['genes']:,} genes x {len(info['targets'])} targets ({', '.join(info['targets'][:6])}"
                  f"{', ...' if len(info['targets']) > 6 else ''}); split by {a['method']}: {counts}; families in "
                  f"train and test: {a['families_in_train_and_test']}; test k-mer similarity to train: median "
                  f"{sim.get('median', float('nan')):.3f}, max {sim.get('max', float('nan')):.3f} -> {out}",
                  highlight=False)


class TaskName(str, Enum):
    promoter = "promoter"
    splice = "splice"
    expression = "expression"


@app.command()
def tasks(
    task: TaskName = typer.Option(..., "--task", help="promoter (TSS windows vs GC-matched background), splice "
                                  "(donor / acceptor / non-site), expression (high vs low expressed genes)."),
    out: Path = typer.Option(..., "--out", help="Output dataset directory (finetune --problem classification)."),
    genome: Path = typer.Option(None, "--genome", help="Genome FASTA (promoter, splice)."),
    annotation: Path = typer.Option(None, "--annotation", help="GFF3/GTF (promoter, splice)."),
    tpm: Path = typer.Option(None, "--tpm", help="TPM table (expression)."),
    promoters: Path = typer.Option(None, "--promoters", help="Promoter table of any layout (expression)."),
    families: Path = typer.Option(None, "--families", help="gene -> family TSV: no family straddles the split."),
    test_genome: Path = typer.Option(None, "--test-genome", help="Cross-species: test on this genome."),
    test_annotation: Path = typer.Option(None, "--test-annotation", help="Its annotation."),
    holdout_chromosome: list[str] = typer.Option(None, "--holdout-chromosome", metavar="CHROM",
                                                 help="Test = these chromosomes (repeatable)."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", help="Share of the groups in the test part."),
    validation_fraction: float = typer.Option(0.1, "--validation-fraction", help="Of the non-test groups."),
    max_examples: int = typer.Option(None, "--max-examples", min=10, help="Keep at most N examples (random)."),
    length: int = typer.Option(None, "--length", min=4, help="Window length in bases [promoter 300, splice 400]."),
    min_distance: int = typer.Option(2000, "--min-distance", min=0, help="promoter: background windows lie at "
                                     "least this far from the TSS of every annotated gene and transcript."),
    outside_genes: bool = typer.Option(False, "--outside-genes", help="promoter: background windows also stay "
                                       "out of every gene body (default: gene bodies allowed)."),
    all_transcripts: bool = typer.Option(False, "--all-transcripts", help="splice: sites from every exon-exon "
                                         "junction of every transcript (default: each gene's chosen CDS)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    force: bool = FORCE,
) -> None:
    """Build a labelled classification task (plant GUE analogue) with a leakage-free split and its audit."""
    from florabert.data.tasks import build_task

    if (test_genome is None) != (test_annotation is None):
        raise FloraBertError("give --test-genome together with --test-annotation")
    audit = build_task(task.value, out, genome=genome, annotation=annotation, tpm=tpm, promoters=promoters,
                       families=families, test_genome=test_genome, test_annotation=test_annotation,
                       holdout_chromosomes=holdout_chromosome or None, test_fraction=test_fraction,
                       validation_fraction=validation_fraction, max_examples=max_examples, length=length,
                       min_distance=min_distance, outside_genes=outside_genes, all_transcripts=all_transcripts,
                       seed=seed, force=force, log=lambda m: console.print(m, highlight=False))
    console.print(f"split by {audit['method']}; groups in train and test: {audit['groups_in_train_and_test']} "
                  f"-> {out}", highlight=False)


