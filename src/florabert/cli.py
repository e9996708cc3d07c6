"""The `florabert` command line: each command parses options and calls one library function."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

from florabert.errors import FloraBertError

app = typer.Typer(
    name="florabert",
    help="Predict tissue-specific plant gene expression from promoter DNA (FloraBERT).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain help: flags without a <bool> value, defaults as [default: ...]
)
console = Console(stderr=True)


class Feature(str, Enum):
    gene = "gene"
    mRNA = "mRNA"
    transcript = "transcript"


class Edge(str, Enum):
    drop = "drop"
    pad = "pad"


_FORCE = typer.Option(False, "--force", help="Write into an --out that holds other files (nothing there is "
                      "deleted; same-named files are replaced). See README 'Errors and outputs'.")

LAYOUT_HELP = ("Windows to cut, comma-separated LANDMARK:START:END relative to the TSS or TTS on the gene's "
               "strand, e.g. tss:-1000:0 (FloraBERT, the default) or tss:-1000:+500,tts:-500:+1000 (deepCRE). "
               "Replaces --upstream/--downstream.")


def _check_layout_options(layout: str | None, upstream: int, downstream: int) -> None:
    """--layout and --upstream/--downstream say the same thing: refuse both with different values."""
    if layout is None:
        return
    from florabert.layout import Layout

    lay = Layout.parse(layout)
    if (upstream, downstream) != (1000, 0) and lay.spec != Layout.promoter(upstream, downstream).spec:
        raise FloraBertError(f"--layout {lay.spec} and --upstream {upstream} --downstream {downstream} disagree: "
                             "give one of them")


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
    force: bool = _FORCE,
) -> None:
    """Extract gene windows (one row per gene): TSS-anchored promoters, or any layout of windows around the
    TSS and the TTS."""
    from florabert.genome.promoters import check_output, extract_promoters, write_promoters

    _check_layout_options(layout, upstream, downstream)
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
    _print_summary([result.summary()], out)


def _print_summary(summaries: list[dict], out: Path) -> None:
    from rich.table import Table

    table = Table(title=f"promoters -> {out}", title_justify="left")
    for col in ("species", "genes read", "written", "dropped", "identical sequences"):
        table.add_column(col, justify="left" if col in ("species", "dropped") else "right")
    for s in summaries:
        dropped = ", ".join(f"{k} {v}" for k, v in s["dropped"].items() if v) or "-"
        table.add_row(s["species"], f"{s['genes_read']:,}", f"{s['written']:,}", dropped,
                      f"{s['duplicate_sequences']:,}")
    Console().print(table)


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
    force: bool = _FORCE,
) -> None:
    """Build a multi-species promoter corpus (Parquet shards) from a genome manifest."""
    from florabert.genome.corpus import build_corpus

    _check_layout_options(layout, upstream, downstream)
    info = build_corpus(manifest, out, workers=workers or None, cache=cache, upstream=upstream,
                        downstream=downstream, biotype=biotype, edge=edge.value,
                        clip_neighbors=clip_neighbors, layout=layout, dedup=dedup, shard_rows=shard_rows,
                        force=force,
                        log=lambda msg: console.print(msg, highlight=False))
    _print_summary(info["species"], out)
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
    force: bool = _FORCE,
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
def pretrain(
    corpus: Path = typer.Option(..., "--corpus", help="Corpus: Parquet file or shard directory."),
    tokenizer: Path = typer.Option(None, "--tokenizer", help="Tokenizer directory (florabert tokenizer train); "
                                   "needed by --architecture tokens (the stem reads single bases)."),
    out: Path = typer.Option(..., "--out", help="Output directory (model, logs, checkpoints)."),
    preset: str = typer.Option("tiny", "--preset", help="tiny | small | paper (configs/*.yaml)."),
    architecture: str = typer.Option(None, "--architecture", help="stem: every base through a convolutional "
                                     "stem (tiny, small) | tokens: FloraBERT's RoBERTa over tokens (paper)."),
    config: Path = typer.Option(None, "--config", help="YAML overriding the preset."),
    init_from: Path = typer.Option(None, "--init-from", help="Continue from this model (stage 2)."),
    species: list[str] = typer.Option(None, "--species", metavar="SPECIES",
                                      help="Only these species (repeatable)."),
    max_steps: int = typer.Option(None, "--max-steps", help="Optimizer steps. [default: the preset's (tiny "
                                  "600, small 5,000, paper 100,000)]"),
    save_steps: int = typer.Option(None, "--save-steps", help="Steps between checkpoints (--resume continues "
                                   "from the last). [default: the preset's]"),
    eval_steps: int = typer.Option(None, "--eval-steps", help="Steps between held-out MLM evaluations. "
                                   "[default: the preset's]"),
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="Sequences per device and step. "
                                   "[default: the preset's (32-64)]"),
    learning_rate: float = typer.Option(None, "--learning-rate", help="Peak learning rate (linear warm-up, "
                                        "then linear decay). [default: the preset's]"),
    warmup_steps: int = typer.Option(None, "--warmup-steps", help="Linear warm-up steps. [default: the "
                                     "preset's]"),
    optimizer: str = typer.Option(None, "--optimizer", help="lamb | adamw. [default: lamb]"),
    masking: str = typer.Option(None, "--masking", help="bert (15 %) | span | randommask (README "
                                "'RandomMask'). [default: bert]"),
    bf16: str = typer.Option(None, "--bf16", help="auto (where the device multiplies bf16 natively) | on | "
                             "off. [default: auto]"),
    seed: int = typer.Option(None, "--seed", help="Random seed (weights, masks, data order). [default: 42]"),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in OUT."),
    tracks: Path = typer.Option(None, "--tracks", help="Track sheet (YAML): EBERT pre-training on (promoter, "
                                "tissue epigenetic state) pairs; see the README's EBERT section."),
    mask_tracks: float = typer.Option(None, "--mask-tracks", help="With --tracks: probability that a masked "
                                      "token's epigenetic input is hidden too [default 0]."),
    force: bool = _FORCE,
) -> None:
    """Masked-LM pre-training (stage 1 on all species; stage 2 with --init-from and --species)."""
    from florabert.config import PretrainConfig, load_config
    from florabert.training.pretrain import pretrain as run

    cfg = load_config(PretrainConfig, preset=preset, file=config, overrides={
        "max_steps": max_steps, "save_steps": save_steps, "eval_steps": eval_steps, "batch_size": batch_size,
        "learning_rate": learning_rate, "warmup_steps": warmup_steps, "optimizer": optimizer,
        "masking.strategy": masking, "masking.tracks": mask_tracks, "bf16": bf16, "seed": seed,
        "model.architecture": architecture})
    metrics = run(corpus, tokenizer, out, cfg, init_from=init_from, species=species or None, resume=resume,
                  tracks=tracks, force=force, log=lambda m: console.print(m, highlight=False))
    console.print(f"held-out MLM loss {metrics['eval_loss']:.4f}, perplexity {metrics['eval_perplexity']:.3f}, "
                  f"masked-token accuracy {metrics.get('eval_masked_accuracy', float('nan')):.4f} -> {out}",
                  highlight=False)


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
    force: bool = _FORCE,
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
    force: bool = _FORCE,
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


@app.command()
def finetune(
    model: Path = typer.Option(..., "--model", help="Pre-trained model directory (florabert pretrain)."),
    data: Path = typer.Option(..., "--data", help="Dataset directory (florabert expression)."),
    out: Path = typer.Option(..., "--out", help="Output directory for the fine-tuned model."),
    config: Path = typer.Option(None, "--config", help="YAML with fine-tuning options (see FinetuneConfig)."),
    recipe: str = typer.Option("default", "--recipe", help="default: every layer trains from the first step "
                               "(AdamW) | florabert: LAMB, progressive unfreezing, frozen embeddings."),
    max_steps: int = typer.Option(None, "--max-steps", help="At most this many steps (early stopping on the "
                                  "validation loss may end sooner). [default: 3000]"),
    eval_steps: int = typer.Option(None, "--eval-steps", help="Steps between validation evaluations (and "
                                   "checkpoints). [default: 100]"),
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="Genes per step. [default: 32]"),
    learning_rate: float = typer.Option(None, "--learning-rate", help="The head's peak learning rate. "
                                        "[default: 1e-3; --recipe florabert: 1e-2]"),
    unfreeze_every: int = typer.Option(None, "--unfreeze-every", help="Progressive unfreezing: steps between "
                                       "stages; 0 = every layer from the first step. [default: 0; --recipe "
                                       "florabert: 400]"),
    problem: str = typer.Option(None, "--problem", help="regression | classification. [default: regression]"),
    loss: str = typer.Option(None, "--loss", help="mse | poisson (regression). [default: mse]"),
    optimizer: str = typer.Option(None, "--optimizer", help="adamw (the default recipe's) | lamb (FloraBERT's)."),
    seed: int = typer.Option(None, "--seed", help="Random seed (head, dropout, data order). [default: 42]"),
    tracks: Path = typer.Option(None, "--tracks", help="Track sheet (YAML): EBERT fine-tuning, one example per "
                                "(gene, tissue) with that tissue's epigenetic state."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint."),
    force: bool = _FORCE,
) -> None:
    """Fine-tune a pre-trained model to predict expression per tissue (or a class) from promoters."""
    from florabert.config import FinetuneConfig, load_config
    from florabert.training.finetune import finetune as run
    from florabert.training.finetune import summary

    if recipe not in ("default", "florabert"):
        raise FloraBertError(f"--recipe must be default or florabert, not {recipe!r}")
    cfg = load_config(FinetuneConfig, preset=None if recipe == "default" else "finetune_florabert", file=config,
                      overrides={"max_steps": max_steps, "eval_steps": eval_steps, "batch_size": batch_size,
                                 "learning_rate": learning_rate, "unfreeze_every": unfreeze_every,
                                 "problem": problem, "loss": loss, "optimizer": optimizer, "seed": seed})
    metrics = run(model, data, out, cfg, tracks=tracks, resume=resume, force=force,
                  log=lambda m: console.print(m, highlight=False))
    for part in ("validation", "test"):
        m = summary(metrics, part)
        if "r2_all" in m:
            console.print(f"{part}: loss {m['loss']:.4f}, R² (all cells) {m['r2_all']:.4f}, "
                          f"mean Pearson r {m['pearson_mean']:.4f}", highlight=False)
        elif m:
            console.print(f"{part}: loss {m['loss']:.4f}, accuracy {m.get('accuracy', 0):.4f}")
    console.print(f"model -> {out}")


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
    force: bool = _FORCE,
) -> None:
    """Predict expression (log and TPM per target) for promoters."""
    from florabert.predict import predict as run

    n = run(model, out, fasta=fasta, genome=genome, annotation=annotation, tsv=tsv, tracks=tracks,
            gene_features=gene_features, without_gene_features=without_gene_features, genes=_gene_list(genes),
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
    force: bool = _FORCE,
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


tracks_app = typer.Typer(rich_markup_mode=None,
                         help="Epigenetic track sheets (EBERT): check them against promoters.",
                         no_args_is_help=True)
app.add_typer(tracks_app, name="tracks")


@tracks_app.command("profile")
def tracks_profile(
    tracks: Path = typer.Option(..., "--tracks", help="Track sheet (YAML)."),
    promoters: Path = typer.Option(..., "--promoters", help="Promoter table (florabert promoters, .parquet)."),
    out: Path = typer.Option(..., "--out", help="Output folder (profile.tsv, profile.png/.svg)."),
    force: bool = _FORCE,
) -> None:
    """Mean signal (and state shares) by position relative to the TSS, per tissue and mark: a quick check
    that the tracks line up with the promoters on both strands."""
    from florabert.tracks import track_profile

    summary = track_profile(tracks, promoters, out, force=force)
    console.print(f"{summary['promoters']:,} promoters; with any data: " + "; ".join(
        f"{t}: " + ", ".join(f"{m} {n:,}" for m, n in marks.items())
        for t, marks in summary["promoters_with_data"].items()), highlight=False)
    console.print(f"profile -> {out}/profile.png, profile.tsv")


explain_app = typer.Typer(rich_markup_mode=None,
                          help="Explain models: positional importance, ISM, variant effects, attention, "
                          "species embeddings.", no_args_is_help=True)
app.add_typer(explain_app, name="explain")
_MODEL = typer.Option(..., "--model", help="Fine-tuned model directory (florabert finetune).")
_PROMOTERS = typer.Option(..., "--promoters", help="Promoters: .parquet/.tsv (florabert promoters) or FASTA.")
_GENES = typer.Option(None, "--genes", metavar="IDS", help="Gene ids to use (repeatable, or comma-separated).")
_REGION = typer.Option(None, "--region", help="START:END relative to the TSS (end exclusive), e.g. -300:0, or "
                       "LANDMARK:START:END for the windows around a tss, tts or cds landmark (tts:-100:+100). "
                       "[default: every base the model reads]")


def _gene_list(genes: list[str] | None) -> list[str] | None:
    return [g for item in genes for g in item.split(",") if g] if genes else None


@explain_app.command("positional")
def explain_positional(
    model: Path = _MODEL,
    promoters: Path = _PROMOTERS,
    out: Path = typer.Option(..., "--out", help="Output directory (CSV, heatmap PNG/SVG, summary.json)."),
    lengths: str = typer.Option("1-6", "--lengths", help="L-mer lengths: a range 1-6 or a list 1,2,4."),
    samples: int = typer.Option(3, "--samples", min=1, help="Random L-mers per position."),
    max_sequences: int = typer.Option(32, "--max-sequences", min=1, help="Promoters used (the first N)."),
    step: int = typer.Option(1, "--step", min=1, help="Test every STEP-th position."),
    region: str = _REGION,
    genes: list[str] = _GENES,
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Sequences per forward pass."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    bf16: bool = typer.Option(False, "--bf16", help="bf16 autocast (faster on CPUs with native bf16)."),
    force: bool = _FORCE,
) -> None:
    """Mean |Δ prediction| when the L-mer at each TSS-relative position is replaced by a random one."""
    from florabert.explain.inputs import parse_lengths, parse_region
    from florabert.explain.positional import positional_importance

    s = positional_importance(model, promoters, out, lengths=parse_lengths(lengths), samples=samples,
                              max_sequences=max_sequences, region=parse_region(region), step=step,
                              genes=_gene_list(genes), batch_size=batch_size, seed=seed, bf16=bf16,
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
    max_sequences: int = typer.Option(3, "--max-sequences", min=1, help="Without --genes: the first N."),
    region: str = _REGION,
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Sequences per forward pass."),
    bf16: bool = typer.Option(False, "--bf16", help="bf16 autocast (faster on CPUs with native bf16)."),
    force: bool = _FORCE,
) -> None:
    """In-silico saturation mutagenesis: every single-base substitution, Δ per output."""
    from florabert.explain.inputs import parse_region
    from florabert.explain.ism import saturation_mutagenesis

    s = saturation_mutagenesis(model, promoters, out, genes=_gene_list(genes), max_sequences=max_sequences,
                               region=parse_region(region), batch_size=batch_size, bf16=bf16,
                               force=force)
    for gid, g in s["genes"].items():
        console.print(f"{gid}: {g['positions']} positions, largest |Δ| {g['max_abs_delta']:.4f}, "
                      f"strongest position {g['peak_position']}", highlight=False)
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
    force: bool = _FORCE,
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
    model: Path = typer.Option(..., "--model", help="Model directory (pre-trained or fine-tuned)."),
    promoters: Path = _PROMOTERS,
    out: Path = typer.Option(..., "--out", help="Output directory (.npz arrays + figures)."),
    genes: list[str] = _GENES,
    max_sequences: int = typer.Option(2, "--max-sequences", min=1, help="Without --genes: the first N."),
    force: bool = _FORCE,
) -> None:
    """Attention of every layer and head for a few promoters, as arrays and a plot."""
    from florabert.explain.attention import attention_maps

    s = attention_maps(model, promoters, out, genes=_gene_list(genes), max_sequences=max_sequences, force=force)
    for gid, shape in s.items():
        console.print(f"{gid}: {shape['layers']} layers x {shape['heads']} heads x {shape['tokens']} tokens",
                      highlight=False)
    console.print(f"-> {out}")


@explain_app.command("species")
def explain_species(
    model: Path = typer.Option(..., "--model", help="Pre-trained model directory (florabert pretrain)."),
    corpus: list[Path] = typer.Option(..., "--corpus", metavar="PATH",
                                      help="Corpus directory or promoter .parquet "
                                      "(repeatable); needs a species column with >= 2 species."),
    out: Path = typer.Option(..., "--out", help="Output directory (species_pca.png/.svg, TSV, summary)."),
    per_species: int = typer.Option(200, "--per-species", min=2, help="Promoters sampled per species."),
    k: int = typer.Option(4, "--k", min=2, max=8, help="k of the k-mer composition comparison."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Sequences per forward pass."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    force: bool = _FORCE,
) -> None:
    """PCA of mean-pooled model embeddings per species, next to 1-mer and k-mer composition."""
    from florabert.explain.species import species_embeddings

    s = species_embeddings(model, corpus, out, per_species=per_species, k=k, batch_size=batch_size, seed=seed,
                           force=force)
    for name, info in s["representations"].items():
        console.print(f"{name:>22s}: silhouette {info['silhouette_cosine']:+.3f}", highlight=False)
    console.print(f"-> {out}/species_pca.png")


@app.command()
def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", help="Output directory."),
    quick: bool = typer.Option(False, "--quick", help="A smaller, faster run."),
    force: bool = typer.Option(False, "--force", help="Redo finished stages."),
) -> None:
    """Run the pipeline on the bundled real genomes (A. thaliana chr1, A. arenosa chr1-2)."""
    from florabert.demo import run_demo

    run_demo(out, quick=quick, force=force, console=console)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"florabert {version('florabert')}")
        raise typer.Exit(0)


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="On an error, show the full traceback (for bug "
                                     "reports); FLORABERT_DEBUG=1 does the same."),
          version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Predict tissue-specific plant gene expression from promoter DNA (FloraBERT)."""
    if debug:
        os.environ["FLORABERT_DEBUG"] = "1"


# Options that take several values: `--models a/ b/` means `--models a/ --models b/` (click reads one value per
# flag); values run up to the next option.
MULTIPLE = ("--models", "--genes", "--species", "--holdout-chromosome", "--holdout-species")


def spread_multiple(args: list[str]) -> list[str]:
    """``--models a b`` -> ``--models a --models b`` for the options of :data:`MULTIPLE`."""
    out, flag = [], None
    for a in args:
        if a in MULTIPLE:
            flag = a
            out.append(a)
            continue
        if a.startswith("-") and a != "-":
            flag = None
        elif flag is not None and out[-1] != flag:
            out.append(flag)
        out.append(a)
    return out


def _debugging() -> bool:
    return os.environ.get("FLORABERT_DEBUG", "") not in ("", "0")


def main() -> None:
    """Console-script entry point: every error becomes one line on stderr and exit code 1 (a finished run
    asked to --resume: its one line and exit code 0). ``--debug`` shows tracebacks instead."""
    try:  # typer >= 0.20 carries its own copy of click
        from typer._click.exceptions import ClickException, NoArgsIsHelpError
    except ImportError:  # pragma: no cover
        from click.exceptions import ClickException, NoArgsIsHelpError

    from florabert.errors import describe
    from florabert.outputs import RunComplete

    sys.argv[1:] = spread_multiple(sys.argv[1:])
    try:
        _run(ClickException, NoArgsIsHelpError, describe, RunComplete)
    finally:
        from florabert.outputs import release_all_locks

        release_all_locks()


def _run(ClickException, NoArgsIsHelpError, describe, RunComplete) -> None:
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:  # --help, --version
        sys.exit(exc.exit_code)
    except NoArgsIsHelpError as exc:
        console.print(exc.ctx.get_help() if exc.ctx else str(exc), highlight=False, markup=False)
        sys.exit(0)
    except ClickException as exc:  # a wrong option: one line, like every other error
        command = f" {exc.ctx.command_path}" if getattr(exc, "ctx", None) else ""
        console.print(f"[bold red]error:[/]{command.replace('[', '')}: {exc.format_message()} (see --help)",
                      highlight=False, soft_wrap=True, markup=True)
        sys.exit(1)
    except typer.Abort as exc:  # click turns EOFError into Abort too: that one is an input error
        if isinstance(exc.__context__, EOFError) and not _debugging():
            console.print(f"[bold red]error:[/] {describe(exc.__context__)}", highlight=False, soft_wrap=True)
            sys.exit(1)
        console.print("[bold red]interrupted[/]")
        sys.exit(130)
    except RunComplete as exc:
        console.print(str(exc), highlight=False, soft_wrap=True, markup=False)
        sys.exit(0)
    except KeyboardInterrupt:
        console.print("[bold red]interrupted[/]")
        sys.exit(130)
    except Exception as exc:
        if _debugging():
            raise
        from rich.markup import escape

        console.print(f"[bold red]error:[/] {escape(describe(exc, _out_arg()))}", highlight=False, soft_wrap=True)
        sys.exit(1)


def _out_arg() -> str | None:
    """The command line's ``--out`` value (named in errors the OS reports without a file, e.g. a full disk)."""
    args = sys.argv[1:]
    for i, a in enumerate(args):
        if a == "--out" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--out="):
            return a.split("=", 1)[1]
    return None


if __name__ == "__main__":
    main()
