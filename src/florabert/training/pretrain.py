"""Masked-LM pre-training of FloraBERT on a promoter corpus (stage 1: all species; stage 2: ``init_from``
a stage-1 model with a ``species`` subset). Built on HF Trainer, so ``torchrun``/``accelerate launch`` give
data parallelism, and checkpoints resume exactly.

Output directory::

    OUT/model.safetensors, config.json, tokenizer files   the model (AutoModelForMaskedLM after import florabert)
    OUT/README.md                                         model card: data, config, metrics
    OUT/config.yaml, seed.txt, metrics.json               resolved run configuration and results
    OUT/logs/log.csv, loss.png/.svg, tensorboard/         training curves (TensorBoard: logs/tensorboard)
    OUT/checkpoints/checkpoint-N/                         resumable checkpoints (--resume)
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from florabert.config import PretrainConfig, dump_config
from florabert.errors import FloraBertError
from florabert.outputs import finish_run
from florabert.training.callbacks import CSVLogger, plot_loss_curve
from florabert.training.masking import MaskingCollator
from florabert.training.mlm_data import load_mlm_datasets, set_bias_to_log_frequencies
from florabert.training.runs import (
    build_optimizer,
    environment,
    quiet_trainer,
    rank,
    reporters,
    resumable_trainer,
    show_bars,
    tensorboard_dir,
    train_or_restore,
    training_run,
    use_bf16,
    weights_digest,
    world_size,
    write_json,
)


def _predicted_tokens(logits, labels):
    """Arg-max token per position, shaped like ``labels`` (sparse logits are scattered back: the eval
    loop gathers and trims per sample, so predictions must keep the batch dimension)."""
    preds = logits.argmax(-1)
    if preds.dim() == 1:
        full = torch.full_like(labels, -100)
        full[labels != -100] = preds
        return full
    return preds


def _metrics(pred):
    preds, labels = pred.predictions, pred.label_ids
    chosen = labels != -100
    return {"masked_accuracy": float((preds[chosen] == labels[chosen]).mean()) if chosen.any() else 0.0}


def pretrain(
    corpus: str | Path,
    tokenizer_dir: str | Path,
    out: str | Path,
    config: PretrainConfig,
    *,
    init_from: str | Path | None = None,
    species: list[str] | None = None,
    resume: bool = False,
    tracks: str | Path | None = None,
    force: bool = False,
    log=print,
) -> dict:
    """Pre-train (or continue pre-training ``init_from``) with masked LM; returns the final metrics.

    ``tracks``: a track sheet (:mod:`florabert.tracks`): EBERT pre-training on (promoter, tissue state)
    pairs, the model getting an epigenetic channel (kept, and checked against the sheet, when
    ``init_from`` already has one)."""
    final = Path(out)
    with training_run(final, "pretrain", resume=resume, force=force, log=log) as (work, mode, last):
        metrics, steps = _pretrain(corpus, tokenizer_dir, work, config, init_from=init_from, species=species,
                                   last=last, tracks=tracks, log=log)
        if rank() == 0:
            finish_run(work, final, "pretrain", mode, steps=steps, drop=("cache",))  # the tokenized corpus
    return metrics


# Over 80 lines on purpose: the run read top to bottom (tokenizer, model, data, collator, optimizer, Trainer,
# save), as nanoGPT's loop.
def _pretrain(corpus, tokenizer_dir, out: Path, config: PretrainConfig, *, init_from, species, last, tracks,
              log) -> tuple[dict, int]:
    """The run itself, in ``out`` (the run's work folder); returns the final metrics and the steps taken."""
    from transformers import TrainingArguments, get_linear_schedule_with_warmup

    from florabert.layout import Layout
    from florabert.modeling import FloraBertConfig, FloraBertForMaskedLM, adopt_layout, loading

    ckpt_dir = out / "checkpoints"
    torch.manual_seed(config.seed)
    tok = _tokenizer(tokenizer_dir, init_from, config, log)
    recorded = _corpus_layout(corpus)
    layout = recorded or Layout()
    tok.layout = layout
    trackset = None
    if tracks:
        from florabert.tracks import TrackSet

        known = None
        if init_from:
            with loading(init_from):
                known = FloraBertConfig.from_pretrained(str(init_from)).tracks
        trackset = TrackSet.open(tracks, layout=known or None)
    extra = {"tracks": trackset.layout} if trackset else {}
    if init_from:
        with loading(init_from):  # quietly: a plain model gaining a channel: its weights are new, checked below
            model, info = FloraBertForMaskedLM.from_pretrained(str(init_from), output_loading_info=True, **extra)
        if model.config.has_tracks and not trackset:
            raise FloraBertError(f"{init_from}: reads epigenetic tracks; give --tracks SHEET")
        missing = [k for k in info["missing_keys"] if ".embeddings.tracks." not in k]
        if missing:
            raise FloraBertError(f"{init_from}: weights are incomplete ({len(missing)} missing, e.g. "
                                 f"{missing[0]})")
        if model.config.vocab_size != len(tok.hf):
            raise FloraBertError(f"{init_from}: its vocabulary ({model.config.vocab_size}) is not the "
                                 f"tokenizer's ({len(tok.hf)})")
        if recorded is not None:
            if layout.spec != model.config.layout.spec:
                log(f"layout: {model.config.layout.spec} (from {init_from}) -> {layout.spec} (the corpus)")
            adopt_layout(model, layout)
    else:
        m = config.model
        model_config = FloraBertConfig.from_tokenizer(
            tok.hf, max_length=m.window_length, hidden_size=m.hidden_size, num_hidden_layers=m.num_hidden_layers,
            num_attention_heads=m.num_attention_heads, intermediate_size=m.intermediate_size,
            hidden_dropout_prob=m.hidden_dropout_prob, attention_probs_dropout_prob=m.attention_probs_dropout_prob,
            promoter_window=recorded.to_dict() if recorded else {}, type_vocab_size=len(layout), stem=m.stem,
            **extra)
        model_config._attn_implementation = m.attn_implementation
        model = FloraBertForMaskedLM(model_config)
    n_params = sum(p.numel() for p in model.parameters())
    max_length = model.config.positions_length  # per window, with its special tokens
    if rank() == 0:
        what = (f"convolutional stem over bases (one position per {model.config.stem['pool']} bases, up to "
                f"{max_length:,} bases per window)" if model.config.stem
                else f"tokens (up to {max_length} per window)")
        log(f"model: {n_params / 1e6:.2f} M parameters, {what}; masking: {config.masking.strategy}")

    if trackset:
        from florabert.training.trackdata import mlm_pairs

        train, evals = mlm_pairs(corpus, tok, trackset, max_length=max_length,
                                 eval_fraction=config.eval_fraction, max_eval=config.max_eval_sequences,
                                 species=species, log=log)
    else:
        train, evals = load_mlm_datasets(corpus, tok, config, species=species, cache_dir=out / "cache",
                                         max_length=max_length)
    if config.init_bias_from_frequencies and not init_from and not last:
        set_bias_to_log_frequencies(model, train, len(tok.hf), tok.hf.all_special_ids)
    collator = MaskingCollator(tok.hf, config.masking, seed=config.seed, total_steps=config.max_steps,
                               accumulation=config.gradient_accumulation_steps, log=log if rank() == 0 else None)
    if last:
        collator.start_at(json.loads((Path(last) / "trainer_state.json").read_text())["global_step"])
    optimizer = build_optimizer(model, name=config.optimizer, lr=config.learning_rate,
                                betas=(config.beta1, config.beta2), eps=config.eps,
                                weight_decay=config.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, config.max_steps)
    report_to = reporters()
    args = TrainingArguments(
        output_dir=str(ckpt_dir),
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        eval_strategy="steps",
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        logging_steps=config.logging_steps,
        report_to=report_to,
        seed=config.seed,
        data_seed=config.seed,
        bf16=use_bf16(config.bf16),
        train_sampling_strategy="group_by_length" if config.group_by_length and not config.streaming else "random",
        length_column_name="length",
        remove_unused_columns=False,
        dataloader_num_workers=config.dataloader_num_workers,
        ddp_backend="gloo" if world_size() > 1 and not torch.cuda.is_available() else None,
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=rank() != 0 or not show_bars(),
    )
    with tensorboard_dir(out / "logs" / "tensorboard"):
        trainer = _trainer_class()(
            eval_collator=collator.for_eval(),
            model=model, args=args, train_dataset=train, eval_dataset=evals, data_collator=collator,
            optimizers=(optimizer, scheduler), compute_metrics=_metrics,
            preprocess_logits_for_metrics=_predicted_tokens,
            callbacks=[CSVLogger(out / "logs" / "log.csv")],
        )
        quiet_trainer(trainer)
        train_or_restore(trainer, last)
    metrics = trainer.evaluate()
    metrics["eval_perplexity"] = math.exp(metrics["eval_loss"]) if metrics["eval_loss"] < 50 else float("inf")
    (out / "logs").mkdir(exist_ok=True)
    (out / "logs" / f"weights_rank{rank()}.sha256").write_text(weights_digest(trainer.model) + "\n")
    if trainer.is_world_process_zero():
        trainer.save_model(str(out))
        (out / "training_args.bin").unlink(missing_ok=True)  # a pickle; the run config is config.yaml
        tok.write_files(out)  # AutoTokenizer.from_pretrained(OUT) works
        dump_config(config, out / "config.yaml")
        (out / "seed.txt").write_text(f"{config.seed}\n")
        info = {"metrics": metrics, "parameters": n_params, "steps": trainer.state.global_step,
                "corpus": str(corpus), "species": species, "init_from": str(init_from) if init_from else None,
                "tracks": str(tracks) if tracks else None, "track_layout": trackset.layout if trackset else None,
                "train_sequences": len(train) if hasattr(train, "__len__") else None,
                "eval_sequences": len(evals), "environment": environment()}
        write_json(out / "metrics.json", info)
        plot_loss_curve(out / "logs" / "log.csv", out / "logs" / "loss.png", title="MLM pre-training")
        _model_card(out, config, info)
    return metrics, trainer.state.global_step


def _tokenizer(tokenizer_dir, init_from, config: PretrainConfig, log):
    """The tokenizer the model reads: ``init_from``'s own when continuing a model (``tokenizer_dir``, if given,
    must be the same for a tokens model); the nucleotide tokenizer for a stem model (it reads single bases
    whatever ``tokenizer_dir`` holds); else ``tokenizer_dir``."""
    from florabert.tokenization import DNATokenizer, train_tokenizer

    given = DNATokenizer.load(tokenizer_dir) if tokenizer_dir else None
    if init_from:
        if not (Path(init_from) / "config.json").exists():
            raise FloraBertError(f"{init_from}: not a model directory (no config.json)")
        own = DNATokenizer.load(init_from) if (Path(init_from) / "tokenizer.json").exists() else None
        if own is not None and own.kind == "nucleotide" and _is_stem(init_from):
            _note_unused(given, tokenizer_dir, log)
            return own
        if own is not None and given is not None and (given.kind, given.k, given.stride, len(given.hf)) != (
                own.kind, own.k, own.stride, len(own.hf)):
            raise FloraBertError(f"{tokenizer_dir}: is not the tokenizer {init_from} was trained with "
                                 f"({given.kind}, {len(given.hf):,} tokens vs {own.kind}, {len(own.hf):,})")
        if own is None and given is None:
            raise FloraBertError(f"{init_from}: holds no tokenizer; give --tokenizer")
        return own or given
    if config.model.architecture == "stem":
        _note_unused(given, tokenizer_dir, log)
        return train_tokenizer(None, kind="nucleotide", model_max_length=config.model.window_length)
    if given is None:
        raise FloraBertError("--tokenizer is needed for model.architecture tokens (florabert tokenizer train)")
    return given


def _is_stem(model_dir) -> bool:
    try:
        return bool(json.loads((Path(model_dir) / "config.json").read_text()).get("stem"))
    except (OSError, ValueError):
        return False


def _note_unused(given, tokenizer_dir, log) -> None:
    if given is not None and given.kind != "nucleotide":
        log(f"the convolutional stem reads single bases: {tokenizer_dir} ({given.kind}) is not used "
            "(--architecture tokens reads its tokens, as FloraBERT)")


def _corpus_layout(corpus):
    """The layout the corpus was cut with (None when it records none)."""
    from florabert.genome.corpus import corpus_layout

    return corpus_layout(corpus)


def _trainer_class():
    class MLMTrainer(resumable_trainer()):
        """Trainer whose evaluation batches go through their own collator (fixed masking phase, and no
        effect on the training collator's curriculum count)."""

        def __init__(self, *args, eval_collator, **kwargs):
            super().__init__(*args, **kwargs)
            self.eval_collator = eval_collator

        def get_eval_dataloader(self, eval_dataset=None):
            train_collator, self.data_collator = self.data_collator, self.eval_collator
            try:
                return super().get_eval_dataloader(eval_dataset)
            finally:
                self.data_collator = train_collator

    return MLMTrainer


def _model_card(out: Path, config: PretrainConfig, info: dict) -> None:
    from florabert.htmlreport import md_code, md_escape

    m = info["metrics"]
    lines = [
        "---", "library_name: transformers", "tags: [florabert, dna, promoter, masked-lm, plants]", "---", "",
        "# FloraBERT masked-LM (promoter DNA)", "",
        f"- Pre-trained on: {md_code(info['corpus'])}"
        + (f" (species: {', '.join(map(md_escape, info['species']))})" if info["species"] else ""),
        f"- Initialised from: {md_code(info['init_from'])}" if info["init_from"] else "- Initialised from scratch",
        *([f"- EBERT: epigenetic tracks from {md_code(info['tracks'])} (signals: "
           f"{', '.join(map(md_escape, info['track_layout']['signals'])) or 'none'}; states: "
           f"{', '.join(map(md_escape, info['track_layout']['states'])) or 'none'}; tissues: "
           f"{', '.join(map(md_escape, info['track_layout']['tissues']))})"] if info.get("tracks") else []),
        f"- Parameters: {info['parameters'] / 1e6:.2f} M; steps: {info['steps']}; "
        f"masking: {config.masking.strategy}; optimizer: {config.optimizer}",
        f"- Held-out MLM loss {m['eval_loss']:.4f}, perplexity {m['eval_perplexity']:.3f}, "
        f"masked-token accuracy {m.get('eval_masked_accuracy', float('nan')):.4f} "
        f"({info['eval_sequences']} held-out promoters)", "",
        "Load with `import florabert` then `transformers.AutoModelForMaskedLM.from_pretrained(dir)`.",
        "Run configuration: `config.yaml`; curves: `logs/`.", "",
    ]
    (out / "README.md").write_text("\n".join(lines))


__all__ = ["pretrain"]
