"""Commands that train: pretrain, finetune."""

from __future__ import annotations

from pathlib import Path

import typer

from florabert.cli.app import FORCE, app, console, model_path
from florabert.errors import FloraBertError


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
    force: bool = FORCE,
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
def finetune(
    model: Path = typer.Option(..., "--model", callback=model_path,
                               help="Pre-trained model directory (florabert pretrain) or a bundled model's name."),
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
    force: bool = FORCE,
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


