"""Fine-tune a pre-trained FloraBERT on an expression dataset (``florabert expression`` output).

The default recipe trains every part of the model from the first step (AdamW, linear warm-up and decay);
``--recipe florabert`` is FloraBERT's: LAMB, progressive unfreezing (only the head at first; every
``unfreeze_every`` steps the next ``unfreeze_layers`` encoder layers from the top join, at ``layer_lr_factor``
times the head's learning rate; embeddings stay frozen). Both stop early on the validation loss and keep the
best checkpoint.

Output directory: the model (``FloraBertForExpression``: safetensors, config with targets, target
transform and promoter window; tokenizer files; model card), ``config.yaml``, ``seed.txt``,
``metrics.json`` (validation and test), ``logs/`` (CSV, TensorBoard, loss curve). While it runs it lives in
``.NAME.partial`` beside the output, with ``checkpoints/`` for ``--resume``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from florabert.config import FinetuneConfig, dump_config
from florabert.errors import FloraBertError
from florabert.outputs import finish_run
from florabert.training.batches import PadCollator, Shifted, as_arrays
from florabert.training.callbacks import CSVLogger, plot_loss_curve
from florabert.training.head import fit_readout, keep_better_start, start_head, weights, widen_head
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
    write_json,
)
from florabert.training.trackdata import TrackCollator
from florabert.training.wide import backfit_callback, blend, fit_wide


def unfreezing_stages(model, config: FinetuneConfig) -> list[tuple[int, str, list[str]]]:
    """(step, label, parameter names): the encoder layers that join at each step, top layers first."""
    layers = model.roberta.encoder.layer
    stages, top = [], len(layers)
    step = config.unfreeze_every
    while top > 0 and config.unfreeze_every > 0:
        lo = max(0, top - config.unfreeze_layers)
        names = [f"roberta.encoder.layer.{i}.{n}" for i in range(lo, top) for n, _ in layers[i].named_parameters()]
        stages.append((step, f"encoder layers {list(range(lo, top))}", names))
        top, step = lo, step + config.unfreeze_every
    return stages


def _unfreeze_callback(model, stages, log):
    from transformers import TrainerCallback

    params = dict(model.named_parameters())

    class Unfreeze(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            for step, label, names in stages:
                if state.global_step >= step and not params[names[0]].requires_grad:
                    for n in names:
                        params[n].requires_grad_(True)
                    if state.is_world_process_zero:
                        log(f"step {state.global_step}: unfreezing {label}")

    return Unfreeze()


def regression_metrics(pred) -> dict:
    """R² over all cells together, mean per-target R², mean Pearson r (validation during training)."""
    y_hat, y = np.asarray(pred.predictions, dtype=np.float64), np.asarray(pred.label_ids, dtype=np.float64)
    if y.ndim == 1:  # classification
        return {"accuracy": float((y_hat.argmax(-1) == y).mean())}
    from florabert.evaluation.metrics import pearson, r2

    per = [r2(y[:, j], y_hat[:, j]) for j in range(y.shape[1])]
    r = [pearson(y[:, j], y_hat[:, j]) for j in range(y.shape[1])]
    nan_to_zero = lambda v: 0.0 if v != v else float(v)  # noqa: E731 - a constant column: no signal
    return {"r2_all": nan_to_zero(r2(y, y_hat)), "r2_mean": float(np.mean([nan_to_zero(v) for v in per])),
            "pearson_mean": float(np.mean([nan_to_zero(v) for v in r]))}


def summary(metrics: dict, part: str) -> dict:
    """``metrics[part]`` without HF's ``PART_`` key prefixes: loss, r2_all, r2_mean, pearson_mean (or
    accuracy), runtime... for the ``validation`` and ``test`` parts that :func:`finetune` returns."""
    prefix = f"{part}_"
    return {k.removeprefix(prefix): v for k, v in (metrics.get(part) or {}).items()}


def build_finetune_optimizer(model, config: FinetuneConfig):
    """The optimizer and the unfreezing stages (:func:`unfreezing_stages`).

    ``unfreeze_every: 0`` (the default recipe): every part of the model trains from the first step. Else
    FloraBERT's start: the encoder frozen, the head (and a new epigenetic channel) trainable, the encoder's
    layers joining in stages. Parameter groups: head | encoder | input layers (embeddings, the stem) x
    (decayed | not), the encoder's and the input layers' at ``layer_lr_factor`` times the head's rate; the input
    layers stay frozen with ``freeze_embeddings``. The wide path is fitted by ridge and never trained here."""
    progressive = config.unfreeze_every > 0
    for n, p in model.roberta.named_parameters():
        frozen = progressive or (config.freeze_embeddings and not n.startswith("encoder."))
        p.requires_grad_(not frozen)
    for p in getattr(model.roberta.embeddings, "tracks", torch.nn.Module()).parameters():
        p.requires_grad_(True)  # the epigenetic channel trains with the head
    stages = unfreezing_stages(model, config) if progressive else []
    head = [p for n, p in model.named_parameters()
            if (not n.startswith(("roberta.", "wide.")) or n.startswith("roberta.embeddings.tracks."))]
    encoder = [p for n, p in model.named_parameters() if n.startswith("roberta.encoder.")]
    wd = config.weight_decay
    low = config.learning_rate * config.layer_lr_factor
    groups = [
        {"params": [p for p in head if p.ndim > 1], "weight_decay": wd, "lr": config.learning_rate},
        {"params": [p for p in head if p.ndim <= 1], "weight_decay": 0.0, "lr": config.learning_rate},
        {"params": [p for p in encoder if p.ndim > 1], "weight_decay": wd, "lr": low},
        {"params": [p for p in encoder if p.ndim <= 1], "weight_decay": 0.0, "lr": low},
    ]
    if hasattr(model, "wide") and config.wide_lr_factor > 0 and not (config.wide_stack or config.wide_backfit):
        for p in model.wide.parameters():
            p.requires_grad_(True)
        groups.append({"params": list(model.wide.parameters()), "weight_decay": wd,
                       "lr": config.learning_rate * config.wide_lr_factor})
    if not config.freeze_embeddings:
        inputs = [(n, p) for n, p in model.roberta.named_parameters()
                  if not n.startswith(("encoder.", "embeddings.tracks."))]
        groups.append({"params": [p for _, p in inputs], "weight_decay": 0.0, "lr": low})
        if progressive:
            stages.append((stages[-1][0] if stages else 0, "embeddings" + (" and the stem" if model.config.stem
                                                                         else ""),
                           [f"roberta.{n}" for n, _ in inputs]))
    optimizer = build_optimizer(model, name=config.optimizer, lr=config.learning_rate,
                                betas=(config.beta1, config.beta2), eps=config.eps, weight_decay=wd,
                                param_groups=[g for g in groups if g["params"]])
    return optimizer, stages


def _pretrained_config(model_dir, tok, config: FinetuneConfig, tracks) -> tuple:
    """The pre-trained model's config, checked against its tokenizer, ``max_length`` and ``--tracks``; returns
    it and the input length in tokens."""
    from florabert.modeling import FloraBertConfig, loading
    from florabert.tokenization import check_vocabulary

    if not (Path(model_dir) / "config.json").exists():
        raise FloraBertError(f"{model_dir}: not a model directory (no config.json)")
    with loading(model_dir):
        pre_config = FloraBertConfig.from_pretrained(str(model_dir))
    check_vocabulary(tok, pre_config, model_dir)
    positions = pre_config.positions_length
    max_length = config.max_length or positions
    if max_length > positions:
        raise FloraBertError(f"max_length {max_length} is longer than {model_dir} can read ({positions} tokens "
                             "with <s> </s>)")
    if pre_config.tracks and not tracks:
        raise FloraBertError(f"{model_dir}: was pre-trained with epigenetic tracks; give --tracks SHEET")
    return pre_config, max_length


def _check_encoder(model_dir, info: dict, *, new_channel: bool, classification: bool, log) -> None:
    """Refuse a pre-trained model whose encoder weights did not all load (only the new head, the wide path and
    a new epigenetic channel may be missing), and say what was loaded."""
    missing = [k for k in info["missing_keys"] if not k.startswith(("head.", "wide", "pool_"))
               and not (new_channel and ".embeddings.tracks." in k)]
    if missing:
        raise FloraBertError(f"{model_dir}: the encoder weights are incomplete ({len(missing)} missing, e.g. "
                             f"{missing[0]}); is this a florabert pre-trained model?")
    log(f"encoder loaded from {model_dir}; "
        + ("new regression head" if not classification else "new classification head")
        + (", MLM head dropped" if any(k.startswith("lm_head.") for k in info["unexpected_keys"]) else ""))


def _tokenized(part, tok, max_length: int, classification: bool, wide_kmers=(), layout=None, gene_features=(),
               source=None, motifs: bool | list[int] = False):
    """Dataset of ``input_ids``, ``labels``, ``length`` (and ``wide_features`` with a wide path: the windows'
    composition, the known motifs' scores with ``motifs``, and the gene-model columns ``gene_features``)."""
    import datasets

    seqs = part.column("sequence").to_pylist()
    ids = tok(seqs, truncation=True, max_length=max_length)["input_ids"]
    labels = part.column("labels").to_pylist()
    if classification:
        labels = [int(v[0]) for v in labels]
    columns = {"input_ids": ids, "labels": labels, "length": [len(x) for x in ids]}
    if wide_kmers or gene_features or motifs:
        from florabert.features import gene_values, wide_inputs

        genes = gene_values(part, list(gene_features), source) if gene_features else None
        columns["wide_features"] = wide_inputs(seqs, list(wide_kmers), layout, genes, motifs=motifs).tolist()
    return datasets.Dataset.from_dict(columns)


def _warn_about_input(tok, max_length: int, data, model_dir, log) -> None:
    """One line when the model reads less of the training windows than they hold (FloraBERT's token models
    read ``max_length`` tokens per window; the rest, at the end farthest from the anchor, is cut)."""
    if tok.overlapping:
        return
    seqs = data.part("train").column("sequence").to_pylist()[:500]
    if not seqs:
        return
    widths = tok.token_widths()
    read = np.array([int(widths[np.asarray(x)].sum()) for x in tok(seqs, truncation=True,
                                                                    max_length=max_length)["input_ids"]])
    total = np.array([len(s) - s.count("|") for s in seqs])
    cut = int((read < total).sum())
    if cut:
        log(f"warning: {model_dir} reads at most {max_length} tokens per window: {cut / len(seqs):.0%} of the "
            f"training genes lose bases at the far end of a window (it reads {read.sum() / total.sum():.0%} of "
            "their bases); a stem model (pretrain --architecture stem) reads every base")


class Schedule:
    """The learning rate's factor by step (a ``LambdaLR`` lambda, saved with the scheduler's state, so ``--resume``
    keeps it): linear warm-up, then linear decay to 0 at ``max_steps``; once :meth:`cool` is called, a linear
    cool-down from the factor of that step to 0 over ``cooldown_steps``."""

    def __init__(self, warmup: int, total: int):
        self.warmup, self.total = warmup, total
        self.cool_from, self.cool_factor, self.cool_steps = None, 0.0, 0

    def __call__(self, step: int) -> float:
        if self.cool_from is not None:
            return self.cool_factor * max(0.0, 1.0 - (step - self.cool_from) / self.cool_steps)
        if step < self.warmup:
            return step / max(1, self.warmup)
        return max(0.0, (self.total - step) / max(1, self.total - self.warmup))

    def cool(self, step: int, steps: int) -> None:
        self.cool_factor, self.cool_from, self.cool_steps = self(step), step, steps


def _early_stopping(config: FinetuneConfig, schedule: Schedule, log=print):
    """HF's early stopping (``early_stopping_patience`` evaluations without a better validation loss) that
    never stops a run before ``early_stopping_min_steps``: a motif detector can form abruptly after a few
    hundred flat steps (README "Why fine-tuning learned no sequence"). With ``config.cooldown_steps``, the first
    time it would stop, the run instead goes back to its best checkpoint and anneals from there: ``schedule`` (the
    run's :class:`Schedule`) lets the learning rate fall linearly to 0 over ``cooldown_steps`` (Adam's moments
    reset), and the run ends then; the best checkpoint of the whole run is kept, as before."""
    from safetensors.torch import load_file
    from transformers import EarlyStoppingCallback

    class EarlyStopping(EarlyStoppingCallback):
        def on_evaluate(self, args, state, control, metrics, **kwargs):
            ending = control.should_training_stop  # max_steps reached: nothing here may undo that
            super().on_evaluate(args, state, control, metrics, **kwargs)
            patience_out = control.should_training_stop and not ending
            control.should_training_stop = ending
            if schedule.cool_from is not None:  # cooling down: until it ends
                self.early_stopping_patience_counter = 0
                if state.global_step >= schedule.cool_from + schedule.cool_steps:
                    control.should_training_stop = True
                return
            if state.global_step < config.early_stopping_min_steps:  # track the best, do not count patience yet
                self.early_stopping_patience_counter = 0
                return
            if not patience_out:
                return
            best = state.best_model_checkpoint
            if not (config.cooldown_steps and best and (Path(best) / "model.safetensors").exists()):
                control.should_training_stop = True
                return
            self.early_stopping_patience_counter = 0
            kwargs["model"].load_state_dict(load_file(Path(best) / "model.safetensors"))
            kwargs["optimizer"].state.clear()
            schedule.cool(state.global_step, config.cooldown_steps)
            if state.is_world_process_zero:
                log(f"step {state.global_step}: no better validation loss for {config.early_stopping_patience}"
                    f" evaluations: back to the best checkpoint (step {best.rsplit('-', 1)[1]}), learning rate"
                    f" x{schedule.cool_factor:.2f} falling to 0 over {config.cooldown_steps} steps")

    return EarlyStopping(early_stopping_patience=config.early_stopping_patience)


def _class_names(classes: list[str], n: int) -> dict:
    """HF's id2label/label2id for a classifier: the task's class names (``class<k>`` where it names none)."""
    names = [classes[k] if k < len(classes) else f"class{k}" for k in range(n)]
    return {"id2label": dict(enumerate(names)), "label2id": {v: k for k, v in enumerate(names)}}


def _gene_feature_columns(data, config: FinetuneConfig) -> list[str]:
    """The gene-model columns the wide path reads: all of them when the dataset has them and
    ``wide_gene_model`` is on, else none."""
    from florabert.genome.genemodel import GENE_MODEL_COLUMNS

    if not config.wide_gene_model:
        return []
    return [c for c in GENE_MODEL_COLUMNS if c in data.table.column_names]


def finetune(model_dir: str | Path, data_dir: str | Path, out: str | Path, config: FinetuneConfig, *,
             tracks: str | Path | None = None, resume: bool = False, force: bool = False, log=print,
             callbacks: list | None = None) -> dict:
    """Fine-tune ``model_dir`` (a pre-trained MLM or expression model) on ``data_dir``; returns metrics.
    ``callbacks``: extra ``transformers.TrainerCallback`` objects. The run trains in ``.NAME.partial`` beside
    ``out`` and moves to ``out`` when done (:func:`florabert.outputs.run_dir`); ``resume`` continues an
    interrupted one from its last checkpoint.

    ``tracks``: a track sheet (EBERT). Each (gene, tissue) becomes one example carrying that tissue's
    epigenetic state and target; the model has one output and ``targets`` = the tissues. The channel is
    new (trainable from the first step, with the head) unless ``model_dir`` was pre-trained with tracks."""
    if config.problem not in ("regression", "classification"):
        raise FloraBertError("problem must be regression or classification")
    if config.problem == "regression" and config.loss == "cross_entropy":
        raise FloraBertError("loss cross_entropy is for --problem classification (regression: mse or poisson)")
    final = Path(out)
    with training_run(final, "finetune", resume=resume, force=force, log=log) as (work, mode, last):
        metrics = _finetune(model_dir, data_dir, work, config, tracks=tracks, last=last, log=log,
                            callbacks=callbacks)
        if rank() == 0:  # the best checkpoint is the saved model
            finish_run(work, final, "finetune", mode, steps=metrics["steps"], drop=("checkpoints",))
    return metrics


# Over 80 lines on purpose: the run read top to bottom (data, model, wide path, optimizer, Trainer, save); its
# parts are split out.
def _finetune(model_dir, data_dir, out: Path, config: FinetuneConfig, *, tracks, last, log, callbacks) -> dict:
    """The run itself, in ``out`` (the run's work folder)."""
    from transformers import TrainingArguments

    from florabert.data.dataset import load_expression_dataset
    from florabert.modeling import FloraBertForExpression, adopt_layout, loading
    from florabert.tokenization import DNATokenizer

    data = load_expression_dataset(data_dir)
    tok = DNATokenizer.load(model_dir)
    tok.layout = data.layout
    classification = config.problem == "classification"
    train_t, val_t, test_t = (data.part(p) for p in ("train", "validation", "test"))
    if train_t.num_rows == 0 or val_t.num_rows == 0:
        raise FloraBertError(f"{data_dir}: needs train and validation genes (has {train_t.num_rows} / "
                             f"{val_t.num_rows})")
    if classification:
        n_labels = max(int(max(max(v) for v in data.table.column("labels").to_pylist())) + 1, len(data.classes))
    else:
        n_labels = len(data.targets)
    pre_config, max_length = _pretrained_config(model_dir, tok, config, tracks)
    known_layout = pre_config.tracks
    targets, layout, parts = data.targets, {}, None
    if tracks:
        from florabert.tracks import TrackSet
        from florabert.training.trackdata import expression_pairs

        trackset = TrackSet.open(tracks, layout=known_layout or None)
        layout = trackset.layout
        targets, parts = expression_pairs(data, tok, trackset, max_length=max_length,
                                          classification=classification, log=log)
        n_labels = n_labels if classification else 1
    wide = not classification and not tracks
    wide_kmers = list(config.wide_kmers) if wide else []
    gene_features = _gene_feature_columns(data, config) if wide else []
    if (config.wide_kmers or config.wide_gene_model) and not wide:
        log("wide path: off (regression without tracks only)")
    from florabert.features import motif_windows, n_features, n_motif_features

    scanned = motif_windows(data.layout, config.wide_motif_windows)
    motifs = wide and config.wide_motifs and bool(scanned)
    if wide and config.wide_motifs and not scanned:
        log(f"wide path: no motif features (no {config.wide_motif_windows} window in the layout "
            f"{data.layout.spec}; see wide_motif_windows)")
    groups = {"composition": n_features(wide_kmers, data.layout) if wide_kmers else 0,
              "motifs": n_motif_features(data.layout, scanned) if motifs else 0, "gene_model": len(gene_features)}
    n_wide = sum(groups.values())
    torch.manual_seed(config.seed)
    with loading(model_dir):  # quietly: the expected "MLM head unused, new head" report is checked below
        model, info = FloraBertForExpression.from_pretrained(
            str(model_dir), num_labels=n_labels, targets=targets,
            problem_type="single_label_classification" if classification else "regression",
            loss=config.loss, head_dropout=config.head_dropout, head_hidden_size=config.head_hidden_size,
            target_transform=data.transform, promoter_window=data.promoter_window, tracks=layout,
            input_length=max_length, wide_kmers=wide_kmers, wide_features=n_wide, wide_groups=groups,
            gene_features=gene_features, head_pooling=config.head_pooling,
            head_standardize=config.head_standardize, head_windows=config.head_windows,
            # (from_pretrained sets these after the config's __init__, past its own check for features)
            head_stem=config.head_stem, head_wide=config.head_wide and n_wide > 0,
            head_wide_dropout=config.head_wide_dropout, wide_motifs=motifs,
            wide_motif_windows=scanned if motifs else None,
            **({} if config.attention_dropout is None else
               {"attention_probs_dropout_prob": config.attention_dropout}),
            output_loading_info=True,
            **_class_names(data.classes, n_labels) if classification else {})
    if data.promoter_window:
        if data.layout.spec != pre_config.layout.spec:
            log(f"layout: {pre_config.layout.spec} (pre-trained) -> {data.layout.spec} (the dataset)")
        adopt_layout(model, data.layout)
    elif len(pre_config.layout) > 1:
        raise FloraBertError(f"{data_dir}: records no layout, but {model_dir} reads {pre_config.layout.spec}; "
                             "build the dataset from a promoter table cut with that --layout")
    _check_encoder(model_dir, info, new_channel=bool(layout) and not known_layout,
                   classification=classification, log=log)
    if config.head_init != "random":  # PyTorch's default start (the probe then replaces the output layer)
        for layer in model.head:
            if isinstance(layer, torch.nn.Linear):
                layer.reset_parameters()
    if parts is None:
        source = Path(data_dir) / "dataset.parquet"
        parts = {p: _tokenized(t, tok, max_length, classification, wide_kmers, data.layout, gene_features, source,
                               scanned if motifs else False)
                 for p, t in (("train", train_t), ("validation", val_t), ("test", test_t))}
    if not config.deep_path and not n_wide:
        raise FloraBertError("deep_path: false needs a wide path (wide_kmers or wide_gene_model, a regression "
                             "without tracks): the model would predict nothing")
    model.config.deep_path = config.deep_path
    wide_info = ({**fit_wide(model, parts, config, log, groups), "kmers": wide_kmers,
                  "gene_features": gene_features} if n_wide else None)
    if not classification and (not n_wide or config.wide_stack):  # start at the constant mean: learn deviations
        with torch.no_grad():
            mean = np.asarray(parts["train"]["labels"], dtype=np.float64).mean(axis=0)
            model.head[-1].bias.copy_(torch.as_tensor(mean, dtype=model.head[-1].bias.dtype))
    if layout:
        collator = TrackCollator(tok.hf)
    else:
        collator = PadCollator(tok.hf.pad_token_id)
        parts = {k: as_arrays(v) for k, v in parts.items()}
    head_info = start_head(model, parts, collator, config, log) if not last and (
        config.head_standardize or config.head_init == "probe") else None
    start_file = out / "start_weights.pt"  # kept in the run folder for a resumed run, removed when it ends
    if config.keep_better_start and config.deep_path and not last and rank() == 0:
        torch.save(weights(model), start_file)
        start_file.with_suffix(".json").write_text(json.dumps(head_info or {}))
    optimizer, stages = build_finetune_optimizer(model, config)
    _warn_about_input(tok, max_length, data, model_dir, log)
    if config.unfreeze_every > 0 and (not stages or stages[0][0] >= config.max_steps):
        log(f"warning: the encoder stays frozen for all {config.max_steps} steps (the first unfreezing stage "
            f"is at step {config.unfreeze_every}): only the head learns; lower --unfreeze-every or use the "
            "default recipe")
    schedule = Schedule(config.warmup_steps, config.max_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    train_ds, val_ds, test_ds = parts["train"], parts["validation"], parts["test"]
    read_train = train_ds  # what the Trainer draws batches from (train_ds itself stays as it is: backfit, blend)
    if config.shift_augment and config.deep_path:
        if layout or model.config.architecture != "stem":
            raise FloraBertError(f"shift_augment: {config.shift_augment} needs a stem model without tracks (it "
                                 f"shifts single bases); {model_dir} is a {model.config.architecture} model"
                                 + (" with tracks" if layout else ""))
        read_train = Shifted(train_ds, config.shift_augment, tok.hf.all_special_ids,
                             tok.hf.get_vocab()["N"], seed=config.seed)
        log(f"augmentation: every training window shifted by up to {config.shift_augment} bases either way")
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"), max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=2 * config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        eval_strategy="steps", eval_steps=config.eval_steps, save_strategy="steps", save_steps=config.eval_steps,
        save_total_limit=2, load_best_model_at_end=True, metric_for_best_model="eval_loss",
        greater_is_better=False, logging_steps=config.logging_steps, report_to=reporters(), seed=config.seed,
        data_seed=config.seed, bf16=use_bf16(config.bf16, cpu=False),
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        length_column_name="length", remove_unused_columns=False, use_cpu=not torch.cuda.is_available(),
        disable_tqdm=not show_bars(),
    )
    n_params = sum(p.numel() for p in model.parameters())
    if layout:
        log(f"fine-tuning {n_params / 1e6:.2f} M parameters on {len(train_ds):,} (gene, tissue) pairs of "
            f"{train_t.num_rows:,} genes x {len(targets)} tissues with tracks; validation {len(val_ds):,}, "
            f"test {len(test_ds):,} pairs")
    elif config.deep_path:
        what = f"examples, {n_labels} classes" if classification else f"genes x {n_labels} targets"
        log(f"fine-tuning {n_params / 1e6:.2f} M parameters on {train_t.num_rows:,} {what}; validation "
            f"{val_t.num_rows:,}, test {test_t.num_rows:,}")
    stopper = _early_stopping(config, schedule, log)
    backfit = n_wide and not config.wide_stack and config.wide_backfit
    extra = [backfit_callback(model, train_ds, collator)] if backfit else []
    with tensorboard_dir(out / "logs" / "tensorboard"):
        trainer = resumable_trainer()(
            model=model, args=args, train_dataset=read_train, eval_dataset=val_ds, data_collator=collator,
            optimizers=(optimizer, scheduler),
            compute_metrics=regression_metrics,
            callbacks=[CSVLogger(out / "logs" / "log.csv"), _unfreeze_callback(model, stages, log),
                       stopper, *extra, *(callbacks or [])],
        )
        quiet_trainer(trainer)
        if config.deep_path:
            train_or_restore(trainer, last)
        else:
            log(f"deep path: off (deep_path: false): the model is its wide path alone; nothing to fine-tune "
                f"(training {train_t.num_rows:,}, validation {val_t.num_rows:,}, test {test_t.num_rows:,} genes)")
    trainer.remove_callback(stopper)  # the final evaluations below use other metric names
    if start_file.exists():
        head_info = {**(head_info or json.loads(start_file.with_suffix(".json").read_text())),
                     **keep_better_start(trainer, model, val_ds, start_file, log)}
    if (config.deep_readout and config.deep_path and model.config.stem and not classification
            and model.config.num_labels and not hasattr(model, "pool_mean")):
        head_info = {**(head_info or {}), "readout": fit_readout(model, parts, collator, log)}
    if (n_wide and config.wide_stack and config.deep_path and config.head_wide_after and not model.config.head_wide
            and not hasattr(model, "pool_mean")):
        wide_info["head_wide_after"] = widen_head(model, parts, collator, config, log)
    if n_wide and (config.wide_stack or config.wide_model == "blend"):
        wide_info.update(blend(model, collator, parts, config, log))
        val_ds, test_ds = parts["validation"], parts["test"]
    metrics = {"validation": trainer.evaluate(val_ds, metric_key_prefix="validation")}
    if len(test_ds):
        metrics["test"] = trainer.evaluate(test_ds, metric_key_prefix="test")
    # the step whose weights were kept (the checkpoints themselves are deleted: the folder is the model)
    best = trainer.state.best_model_checkpoint
    metrics["best_step"] = int(best.rsplit("-", 1)[1]) if best else trainer.state.global_step
    metrics["steps"] = trainer.state.global_step
    for p in model.parameters():  # saved models are loaded for inference or further training
        p.requires_grad_(True)
    if rank() != 0:
        return metrics
    trainer.save_model(str(out))
    (out / "training_args.bin").unlink(missing_ok=True)
    if getattr(model, "wide_trees", None) is not None:
        model.wide_trees.save(out)
    tok.write_files(out)
    dump_config(dataclasses.replace(config, loss="cross_entropy") if classification else config,
                out / "config.yaml")
    (out / "seed.txt").write_text(f"{config.seed}\n")
    metrics["wide"] = wide_info
    metrics["head"] = head_info
    write_json(out / "metrics.json", {**metrics, "parameters": n_params, "dataset": str(data_dir),
                                      "pretrained": str(model_dir), "tracks": str(tracks) if tracks else None,
                                      "environment": environment()})
    if metrics["steps"]:
        plot_loss_curve(out / "logs" / "log.csv", out / "logs" / "loss.png", title="fine-tuning")
    _model_card(out, data, metrics, model_dir, tracks=(tracks, layout) if layout else None,
                head_wide=model.config.head_wide)
    return metrics


def _blend_text(wide: dict) -> str:
    """'0.2 x deep path + 0.3 x ridge + 0.5 x LightGBM: validation R² ... (alone: ...)' from metrics["wide"]."""
    names = {"deep": "deep path", "ridge": "ridge", "trees": "LightGBM", "model": "fine-tuned model"}
    weights = wide["blend_weights"]
    alone = ", ".join(f"{names[k]} {wide[f'validation_r2_{k}']:.4f}" for k in weights
                      if f"validation_r2_{k}" in wide)
    return (" + ".join(f"{w:.1f} x {names[k]}" for k, w in weights.items())
            + f": validation R² {wide['validation_r2_blend']:.4f} (alone: {alone})")


def _readout_text(info: dict) -> str:
    """The model card's line on the deep path's read-out (``deep_readout``, :func:`fit_readout`)."""
    if "validation_r2_readout" not in info:
        return "- Read-out of the stem's window means (`deep_readout`): not fitted (no validation genes)"
    if not info["weight"]:
        return (f"- Read-out of the stem's window means (`deep_readout`): not used, validation R² "
                f"{info['validation_r2_readout']:.4f} did not add to the head's {info['validation_r2_head']:.4f}")
    return (f"- The deep path is {1 - info['weight']:.1f} x its head + {info['weight']:.1f} x a ridge read-out "
            f"of each window's mean of the stem's first-layer features (`deep_readout`; weight chosen on the "
            f"validation genes): validation R² {info['validation_r2']:.4f} (head alone "
            f"{info['validation_r2_head']:.4f}, read-out alone {info['validation_r2_readout']:.4f})")


def _model_card(out: Path, data, metrics: dict, model_dir, tracks=None, head_wide: bool = False) -> None:
    from florabert.htmlreport import md_code, md_escape

    v, t = metrics["validation"], metrics.get("test", {})
    after = (metrics.get("wide") or {}).get("head_wide_after") or {}
    reads = ("- The deep path's head also reads the wide features beside the bases (`head_wide`"
             + (f"; learned after the bases, `head_wide_after`: the deep path's validation R² "
                f"{after['validation_r2_before']:.4f} -> {after['validation_r2_after']:.4f})" if after else ")"))
    fmt = lambda d, k: f"{d[k]:.4f}" if k in d else "-"  # noqa: E731
    lines = ["---", "library_name: transformers", "tags: [florabert, dna, promoter, gene-expression, plants]",
             "---", "", "# FloraBERT expression model", "",
             f"- Fine-tuned from {md_code(model_dir)} on {md_code(data.path)} ({len(data.targets)} targets: "
             f"{', '.join(map(md_escape, data.targets[:10]))}{', ...' if len(data.targets) > 10 else ''})",
             f"- Targets: ln(TPM + {data.transform.get('offset')}); predictions map back with exp(y) - offset",
             f"- Layout (windows read): {data.layout.spec if data.promoter_window else 'unknown'}",
             *([f"- Wide path: k-mer frequencies (k = {', '.join(map(str, metrics['wide'].get('kmers', [])))}), "
                f"codon usage of cds windows and {len(metrics['wide'].get('gene_features') or [])} gene-model "
                f"features, {metrics['wide']['features']} in all, ridge (validation R² "
                f"{metrics['wide']['validation_r2']:.4f} alone)"] if metrics.get("wide") else []),
             *([reads] if head_wide else []),
             *([_readout_text(metrics["head"]["readout"])] if (metrics.get("head") or {}).get("readout") else []),
             *([f"- Blended after fine-tuning (weights chosen on the validation genes; LightGBM in "
                f"`wide_lgbm_*.txt`): {_blend_text(metrics['wide'])}"]
               if (metrics.get("wide") or {}).get("blend_weights") else []),
             *([f"- EBERT: one output per (gene, tissue) from the tissue's tracks ({md_code(tracks[0])}; signals "
                f"{', '.join(map(md_escape, tracks[1]['signals'])) or 'none'}; states "
                f"{', '.join(map(md_escape, tracks[1]['states'])) or 'none'}); predict with `--tracks`"]
               if tracks else []),
             f"- Validation: loss {fmt(v, 'validation_loss')}, R² (all cells) {fmt(v, 'validation_r2_all')}, "
             f"mean Pearson r {fmt(v, 'validation_pearson_mean')}",
             f"- Test: loss {fmt(t, 'test_loss')}, R² (all cells) {fmt(t, 'test_r2_all')}, "
             f"mean Pearson r {fmt(t, 'test_pearson_mean')}", "",
             "Use: `florabert predict --model DIR --fasta promoters.fa --out predictions.tsv`.", ""]
    (out / "README.md").write_text("\n".join(lines))
