"""Stage configurations: frozen dataclasses loaded from a preset YAML, a user YAML, then CLI overrides.

Presets live in ``florabert/configs/<name>.yaml`` (installed with the package). A run saves its resolved
configuration as ``config.yaml`` in its output directory.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from florabert.errors import FloraBertError, InputError
from florabert.io import read_yaml

STRATEGIES = ("bert", "span", "randommask")

@dataclass(frozen=True)
class MaskingConfig:
    strategy: str = "bert"
    fraction: float = 0.15  # expected fraction of maskable tokens chosen
    span: int = 6  # span length for strategy "span"
    phases: int = 5  # randommask: number of curriculum phases over the run
    span_start: int = 6  # randommask: span length in the first phase
    span_step: int = 2  # randommask: added to the span length each phase
    mask_replace: float = 0.8  # of the chosen tokens: share replaced by <mask>
    random_replace: float = 0.1  # ... share replaced by a random token (the rest stay unchanged)
    tracks: float = 0.0  # EBERT: probability that a masked token's epigenetic input is hidden too (-> 0 / no data)

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"masking strategy must be one of {STRATEGIES}, not {self.strategy!r}")
        if not 0 < self.fraction < 1:
            raise ValueError("masking fraction must be between 0 and 1")
        if not 0 <= self.tracks <= 1:
            raise ValueError("masking.tracks must be between 0 and 1")

    def span_for_phase(self, phase: int) -> int:
        if self.strategy == "bert":
            return 1
        if self.strategy == "span":
            return self.span
        return self.span_start + self.span_step * phase



ARCHITECTURES = ("stem", "tokens")


@dataclass(frozen=True)
class ModelConfig:
    # stem: single bases -> convolutional stem -> attention over one vector per `stem_pool` bases (reads every
    # base of every window); tokens: FloraBERT's RoBERTa over the tokenizer's tokens
    architecture: str = "stem"
    hidden_size: int = 768
    num_hidden_layers: int = 6
    num_attention_heads: int = 6
    intermediate_size: int = 3072
    # the longest window read, with its special tokens: tokens (default 256: BPE-5000 fits 1 kb promoters,
    # p95 ~200), or bases for the stem (default 4096: every window of the gene-structure layouts)
    max_length: int | None = None
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    attn_implementation: str = "sdpa"  # PyTorch scaled-dot-product attention (flash/mem-efficient kernels)
    stem_pool: int = 16  # bases per attention position (a power of 2)
    stem_channels: int = 64  # convolution channels
    stem_kernel: int = 15  # bases the first convolution reads (an 8-mer motif with its flanks)

    def __post_init__(self):
        if self.stem_pool & (self.stem_pool - 1):
            raise ValueError(f"model.stem_pool must be a power of 2 (1, 2, 4, ..., 64), not {self.stem_pool}")

    @property
    def window_length(self) -> int:
        """``max_length`` or the architecture's default (256 tokens, 4096 bases)."""
        return self.max_length or (4096 if self.architecture == "stem" else 256)

    @property
    def stem(self) -> dict:
        """The model config's ``stem`` entry ({} for the tokens architecture)."""
        if self.architecture != "stem":
            return {}
        return {"pool": self.stem_pool, "channels": self.stem_channels, "kernel": self.stem_kernel}


@dataclass(frozen=True)
class PretrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    optimizer: str = "lamb"  # lamb (FloraBERT) | adamw
    learning_rate: float = 1e-3  # peak, after linear warm-up, then linear decay to 0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.01
    warmup_steps: int = 200
    batch_size: int = 64  # per device
    gradient_accumulation_steps: int = 1
    max_steps: int = 10_000
    eval_steps: int = 500
    save_steps: int = 500
    logging_steps: int = 50
    save_total_limit: int = 3
    eval_fraction: float = 0.02  # genes held out (by a hash of gene id) for MLM loss/perplexity
    max_eval_sequences: int = 2000
    seed: int = 42
    # Start the MLM output bias at the log token frequencies of the training data (a fresh model then
    # begins at the unigram loss and all it learns is context); up to 200,000 sequences are counted.
    init_bias_from_frequencies: bool = True
    bf16: str = "auto"  # auto: bf16 autocast where the device multiplies bf16 natively (CUDA, CPU AMX/AVX512-BF16)
    group_by_length: bool = True  # batches of similar length: less padding
    streaming: bool = False  # stream shards instead of materializing the tokenized corpus (huge corpora)
    dataloader_num_workers: int = 0


def show(value, limit: int = 60) -> str:
    """A short repr of a user-given value for an error message (a huge or self-referencing one is cut)."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxdict, r.maxstring, r.maxother = 2, 4, 4, limit, limit
    return r.repr(value)[:limit + 10]


def _merge(base: dict, update: dict, where: str, origins: dict, prefix: str = "") -> dict:
    """``base`` with ``update``'s keys replaced (recursively for nested option groups); ``origins[key]``
    records where each given option came from."""
    if not isinstance(update, dict):
        raise FloraBertError(f"{where}: {prefix.rstrip('.') or 'options'}: expected a mapping of options, got "
                             f"{show(update)}")
    out = dict(base)
    for key, value in update.items():
        if key not in base:
            raise FloraBertError(f"{where}: unknown option {show(prefix + str(key))} (known: "
                                 f"{', '.join(sorted(base))})")
        if isinstance(base[key], dict):
            out[key] = _merge(base[key], value, where, origins, f"{prefix}{key}.")
        else:
            out[key] = value
            origins[prefix + key] = where
    return out


# Allowed values, checked (with the option's type from the dataclass) before a config is built:
# (low, high) inclusive bounds (None: open), ">0" strictly positive, or a tuple of choices.
RULES: dict[str, object] = {
    "batch_size": (1, None), "max_steps": (1, None), "eval_steps": (1, None), "save_steps": (1, None),
    "logging_steps": (1, None), "gradient_accumulation_steps": (1, None), "save_total_limit": (1, None),
    "warmup_steps": (0, None), "max_eval_sequences": (1, None), "seed": (0, 2**32 - 1),
    "dataloader_num_workers": (0, 256), "unfreeze_every": (0, None), "unfreeze_layers": (1, None),
    "early_stopping_patience": (1, None), "early_stopping_min_steps": (0, None), "learning_rate": ">0",
    "cooldown_steps": (0, None), "eps": ">0", "weight_decay": (0, None),
    "beta1": (0, 0.999999), "beta2": (0, 0.999999999), "layer_lr_factor": (0, None), "wide_lr_factor": (0, None),
    "head_dropout": (0, 0.99), "head_wide_dropout": (0, 0.99),
    "eval_fraction": (1e-9, 0.9), "head_hidden_size": (1, 1 << 16), "max_length": (8, 1 << 17),
    "hidden_size": (1, 1 << 16), "num_hidden_layers": (1, 256), "num_attention_heads": (1, 1024),
    "intermediate_size": (1, 1 << 18), "hidden_dropout_prob": (0, 0.99), "attention_probs_dropout_prob": (0, 0.99),
    "fraction": (1e-9, 0.999), "span": (1, 512), "phases": (1, 1000), "span_start": (1, 512),
    "span_step": (0, 512), "mask_replace": (0, 1), "random_replace": (0, 1), "tracks": (0, 1),
    "optimizer": ("lamb", "adamw"), "bf16": ("auto", "on", "off"), "problem": ("regression", "classification"),
    "loss": ("mse", "poisson", "cross_entropy"), "head_pooling": ("mean", "meanmax", "attention"),
    "head_init": ("pytorch", "random", "probe"),
    "wide_model": ("blend", "ridge"), "wide_motif_windows": ("tss", "noncoding", "all"),
    "attn_implementation": ("sdpa", "eager", "flash_attention_2"),
    "strategy": STRATEGIES, "wide_kmers": (1, 8), "architecture": ARCHITECTURES,
    "stem_pool": (1, 64), "stem_channels": (1, 4096), "stem_kernel": (1, 101),
    "shift_augment": (0, 64), "attention_dropout": (0, 0.99),
}


def _check(cls, values: dict, origins: dict, prefix: str = "") -> dict:
    """Type- and range-check ``values`` for dataclass ``cls``; returns them (numbers given as strings such as
    YAML's ``1e-3`` converted to float). Errors name the option and where it came from."""
    import typing

    hints = typing.get_type_hints(cls)
    out = dict(values)
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        key, v, hint = prefix + f.name, values[f.name], hints[f.name]
        if dataclasses.is_dataclass(hint):
            out[f.name] = _check(hint, v, origins, key + ".")
            continue

        def bad(msg: str, key=key, v=v) -> FloraBertError:
            return FloraBertError(f"{origins.get(key, 'defaults')}: {key}: {msg}, got {show(v)}")

        args = typing.get_args(hint)
        optional = type(None) in args
        base = next((a for a in args if a is not type(None)), hint) if optional else hint
        if v is None:
            if not optional:
                raise bad("needs a value")
            continue
        rule = RULES.get(f.name)
        if typing.get_origin(base) is list:
            if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
                raise bad("expected a list of integers")
            if rule and any(not rule[0] <= x <= rule[1] for x in v):
                raise bad(f"each value must be between {rule[0]} and {rule[1]}")
            continue
        if base is bool:
            if not isinstance(v, bool):
                raise bad("expected true or false")
            continue
        if base is int:
            if isinstance(v, bool) or not isinstance(v, int):
                raise bad("expected a whole number")
        elif base is float:
            if isinstance(v, str):
                try:
                    v = out[f.name] = float(v)  # PyYAML reads 1e-3 (no dot) as a string
                except ValueError:
                    raise bad("expected a number") from None
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise bad("expected a finite number")
        elif base is str and not isinstance(v, str):
            raise bad("expected text")
        if isinstance(rule, tuple) and rule and isinstance(rule[0], str):
            if v not in rule:
                raise bad(f"must be one of {', '.join(rule)}")
        elif rule == ">0":
            if not v > 0:
                raise bad("must be > 0")
        elif isinstance(rule, tuple):
            lo, hi = rule
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                raise bad(f"must be >= {lo}" if hi is None else f"must be between {lo} and {hi}")
    if {"hidden_size", "num_attention_heads"} <= set(out) and out["hidden_size"] % out["num_attention_heads"]:
        raise FloraBertError(f"{origins.get(prefix + 'hidden_size', 'defaults')}: {prefix}hidden_size "
                             f"({out['hidden_size']}) must be divisible by {prefix}num_attention_heads "
                             f"({out['num_attention_heads']})")
    return out


def _build(cls, values: dict):
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        v = values[f.name]
        if dataclasses.is_dataclass(f.default_factory if f.default_factory is not dataclasses.MISSING else None):
            v = _build(f.default_factory, v)
        kwargs[f.name] = v
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise FloraBertError(f"bad {cls.__name__}: {exc}") from None


def preset_path(name: str) -> Path:
    path = resources.files("florabert") / "configs" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.name.removesuffix(".yaml") for p in (resources.files("florabert") / "configs").iterdir()
                       if p.name.endswith(".yaml"))
        raise FloraBertError(f"unknown preset {name!r} (presets: {', '.join(known)})")
    return Path(str(path))


def _read_yaml(path: Path) -> dict:
    doc = read_yaml(path) or {}
    if not isinstance(doc, dict):
        raise InputError(path, "expected a mapping of options")
    return doc


def load_config(cls, *, preset: str | None = None, file: str | Path | None = None,
                overrides: dict[str, Any] | None = None):
    """``cls`` defaults <- preset YAML <- ``file`` <- ``overrides`` (dotted keys like ``model.hidden_size``).
    ``file``: a YAML path, or the name of a config bundled with the package (``deep_alone``, ``wide_alone``)."""
    values = dataclasses.asdict(cls())
    origins: dict[str, str] = {}
    if preset:
        values = _merge(values, _read_yaml(preset_path(preset)), f"preset {preset}", origins)
    if file:
        path = Path(file)
        if not path.exists() and path.suffix == "" and "/" not in str(file):  # a bundled config by name
            path = preset_path(str(file))
        values = _merge(values, _read_yaml(path), str(file), origins)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        *parents, leaf = key.split(".")
        nested: dict = {leaf: value}
        for p in reversed(parents):
            nested = {p: nested}
        values = _merge(values, nested, "command line", origins)
    return _build(cls, _check(cls, values, origins))


def dump_config(config, path: Path) -> None:
    import yaml

    path.write_text(yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))


@dataclass(frozen=True)
class FinetuneConfig:
    problem: str = "regression"  # regression (log expression per target) | classification
    loss: str = "mse"  # regression loss: mse | poisson (classification always uses cross_entropy)
    head_dropout: float = 0.2
    head_hidden_size: int | None = None  # default: the encoder's hidden size
    max_length: int | None = None  # tokens incl. <s> </s> (None: all the pre-trained model reads); longer
    # promoters lose their 5' end, so this is the window nearest the TSS the model sees
    # The default recipe trains the whole model from the first step with AdamW; FloraBERT's (LAMB, lr 1e-2,
    # progressive unfreezing, frozen embeddings) is the preset `--recipe florabert`
    # (configs/finetune_florabert.yaml).
    # README "Why fine-tuning learned no sequence" has the measurements behind the change.
    optimizer: str = "adamw"  # lamb (FloraBERT's) | adamw
    learning_rate: float = 1e-3  # the head's peak learning rate (LAMB, which scales each update to ~lr x the
    # layer's norm, needs 1e-2 for a fresh head to move at all)
    layer_lr_factor: float = 1.0  # the encoder and input layers train at this fraction of the head's rate
    unfreeze_every: int = 0  # 0: every layer trains from the first step; N > 0: progressive unfreezing (the
    # head alone first, then every N steps the next `unfreeze_layers` top layers join)
    unfreeze_layers: int = 2
    freeze_embeddings: bool = False  # keep the input layers (embeddings, the stem) frozen (FloraBERT: true)
    # how the head summarises the positions: meanmax (mean and maximum side by side; the maximum carries a
    # motif in one of hundreds of positions, which the mean dilutes: README "Why fine-tuning learned no
    # sequence") | mean (FloraBERT) | attention (learned weights)
    head_pooling: str = "meanmax"
    # the head reads the pooled states standardized per dimension by the training genes' mean and sd (measured
    # once, before the first step): the genes' pooled states differ by ~13 % of their size. Off by default: with
    # a probe start it stops the deep path from learning a planted motif (README "How the head starts")
    head_standardize: bool = False
    # what the head reads: each window pooled on its own (head_windows), and beside the encoder's final states the
    # stem's bins, pooled (head_stem; a stem model only). Without them the deep path learns nothing from real
    # genes: every bin leaves the encoder layer-normalized, so the pooled states barely differ between genes,
    # and pooling all windows together averages a promoter with a coding sequence (README "The deep path on
    # real genes"). FloraBERT's head reads the encoder alone, all positions together (--recipe florabert).
    head_windows: bool = True
    head_stem: bool = True
    # the head also reads the wide path's features (standardized) beside the pooled states: the deep path is then
    # one network on the bases and the composition, motifs and gene model together (Wide & Deep). On the demo's
    # genes the full model then beat the wide path alone by +0.006 R² (CI +0.001 to +0.012; 3 seeds), a gain of
    # the features, not the bases (docs/accuracy.md); but on a planted position-dependent motif the head fits the
    # features first and the bases are never learned (test R² 0.38 where the default reaches > 0.8). Off, the deep
    # path stays a model of the bases
    head_wide: bool = False
    # with head_wide: dropout on the wide features where the head reads them (in training only). 0.5 kept the best
    # checkpoint later (step 150-350 instead of 150) but scored no better: validation R² 0.503 against 0.506
    head_wide_dropout: float = 0.0
    # after the deep path has fine-tuned on the bases (stacked, head_wide false), its head learns to read the wide
    # features too, the encoder frozen (training/head.py widen_head; kept only when it beats the deep path on the
    # validation genes): Wide & Deep without the features crowding out the bases. On the demo's genes the full
    # model then scored −0.005, +0.004 and +0.004 against the wide path alone (paired on the three seeds' averaged
    # predictions +0.003, CI −0.002 to +0.009; docs/accuracy.md): off
    head_wide_after: bool = False
    # after fine-tuning (a stem model), the deep path's output mixes its head with a linear read-out of each
    # window's mean of the stem's first-layer features (per codon position in a coding window: a learned
    # composition of the bases the max-pooled bins lose), fitted by ridge on the training genes; the share,
    # 0-1 in steps of 0.1, chosen on the validation genes (training/head.py fit_readout). On the demo's genes the
    # deep path alone rose from 0.326 to 0.36 (docs/accuracy.md); false: the head alone
    deep_readout: bool = True
    # false: the deep path's output is held at zero and nothing is fine-tuned: the model is its wide path alone
    # (ridge, and the LightGBM blend), saved and used as any other model (configs/wide_alone.yaml)
    deep_path: bool = True
    # how the head's layers start: pytorch (PyTorch's default for linear layers, Kaiming-uniform; the default) |
    # random (RoBERTa's normal(0, 0.02), FloraBERT's: its outputs start nearly constant and the deep path took
    # epochs to move on real genes) | probe (the output layer is the ridge fit of the targets on its hidden
    # layer over the training genes' pooled states, less the wide path's prediction: a linear probe, then
    # fine-tuning, as LP-FT; with standardized states it stops a planted motif from being learned: README "How
    # the head starts")
    head_init: str = "pytorch"
    # after fine-tuning, keep the model as it started (the wide path's ridge fit and the head's start) when its
    # validation loss is lower than that of fine-tuning's best checkpoint (on few, noisy genes fine-tuning can
    # end worse than its start: README "The deep path on real genes")
    keep_better_start: bool = True
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.01
    warmup_steps: int = 100
    batch_size: int = 32
    gradient_accumulation_steps: int = 1
    max_steps: int = 3000
    eval_steps: int = 100
    logging_steps: int = 20
    early_stopping_patience: int = 5  # evaluations without a better validation loss
    early_stopping_min_steps: int = 1000  # never stop before this step (a motif can appear abruptly after a few
    # hundred flat steps: README "Why fine-tuning learned no sequence")
    # > 0: when early stopping would end the run, go back to its best checkpoint instead and let the learning
    # rate fall linearly to 0 over this many steps (a cool-down from the best point; then the run ends; the best
    # checkpoint of the whole run is kept). 0: stop there. On the demo's genes with default options the deep path
    # alone scored 0.3113 ± 0.0172 with 300 against 0.3063 ± 0.0065 without (3 seeds; paired +0.014, CI +0.006 to
    # +0.021; 600 steps: 0.2985, worse): the validation genes peak near step 500 while the rate is still high
    # (docs/accuracy.md)
    cooldown_steps: int = 300
    # the wide path: k-mer frequencies (these k) of every window, and codon usage of coding windows, go
    # through a linear layer fitted by ridge regression on the training genes (penalty by cross-validation)
    # and added to the transformer's output, which then learns what the composition does not explain.
    # [] = no composition features ([] with wide_motifs and wide_gene_model false: the transformer alone).
    wide_kmers: list[int] = field(default_factory=lambda: [1, 2, 3, 4])
    # the gene-model features (florabert.genome.genemodel: UTR, intron, exon, isoform counts and lengths,
    # neighbours) join the wide path when the dataset has their columns (promoter tables made by florabert
    # do); false leaves them out
    wide_gene_model: bool = True
    # the known plant motifs (JASPAR's non-redundant plant matrices, florabert.motifs) join the wide path: per
    # window and matrix the best site's score and the hit count. On the demo's genes they add +0.016 R² to ridge
    # and +0.031 to LightGBM on the wide features (paired CIs exclude 0; benchmarks/check_accuracy.py)
    wide_motifs: bool = True
    # the windows scanned for them: "tss" (the windows at the TSS: promoter and 5' end), "noncoding" (all but the
    # coding windows) or "all". On the demo's genes the wide path scored 0.4915 ± 0.0013 with "tss", 0.4911 ±
    # 0.0014 with "noncoding", 0.4874 ± 0.0070 with "all" (3 seeds; benchmarks/check_motif_windows.py): the TTS
    # and coding windows' motifs add nothing, and "tss" scans 22 % of the demo layout's bases
    wide_motif_windows: str = "tss"
    # how the wide path joins the deep path. wide_stack (the default): the deep path fine-tunes alone on the
    # targets; after it, the ridge and (wide_model: blend) LightGBM, both fitted on the training genes, join it as
    # a weighted average whose weights are chosen on the validation genes (florabert.training.wide). Trained on the
    # ridge's residual, as the earlier releases did, the deep path learns nothing from real genes (README "The
    # deep path on real genes"). wide_stack: false: the ridge is added to the deep path from the first step and,
    # with wide_backfit, refitted to what the deep path leaves unexplained before every evaluation; without
    # it frozen, or trained by gradient with wide_lr_factor > 0
    wide_stack: bool = True
    wide_backfit: bool = True
    wide_lr_factor: float = 0.0  # without backfitting: > 0 trains the wide layer at this fraction of the rate
    # blend: after fine-tuning, LightGBM on the wide features is averaged into the model's predictions with the
    # weight best on the validation genes (README "Accuracy"); ridge: the fine-tuned model alone
    wide_model: str = "blend"
    seed: int = 42
    # batches of genes of similar length (less padding). Off by default for expression: a gene's length goes
    # with its expression, so length-sorted batches each hold one expression range (docs/accuracy.md)
    group_by_length: bool = False
    bf16: str = "auto"  # auto: bf16 autocast on CUDA devices that support it; fp32 on CPUs (docs/accuracy.md)
    # augmentation of the training genes (a stem model, which reads single bases): every window's bases are
    # shifted by a random number of bases up to this many, either way, anew at every step (the bases shifted
    # out are lost, the gap is read as N); 0: off. Validation and test genes are never shifted
    shift_augment: int = 0
    # dropout on the attention weights while fine-tuning (null: the pre-trained model's, 0.1 unless it was set).
    # At 0, the default, PyTorch's fused attention kernel runs on the CPU instead of materialising and masking
    # every attention matrix: 1.4x faster steps on the demo's genes, and the deep path alone scored 0.3256 ±
    # 0.0088 against 0.3154 ± 0.0150 with 0.1 (3 seeds, paired +0.008, CI +0.002 to +0.014; docs/accuracy.md)
    attention_dropout: float | None = 0.0
