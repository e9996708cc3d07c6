"""FloraBertConfig: a RobertaConfig with its own ``model_type`` and TSS-anchored positions."""

from __future__ import annotations

from transformers import RobertaConfig

# the convolutional stem's defaults (florabert.modeling.stem): one vector per 16 bases, 64 channels, first
# convolution 15 bases wide (an 8-mer motif and its flanks)
STEM_DEFAULTS = {"pool": 16, "channels": 64, "kernel": 15}


def stem_options(stem: dict | None) -> dict:
    """``stem`` with defaults filled in (``{}``/None: no stem, returned as {})."""
    if not stem:
        return {}
    out = {**STEM_DEFAULTS, **stem}
    if out["pool"] not in (1, 2, 4, 8, 16, 32, 64):
        raise ValueError(f"stem pool must be a power of 2 up to 64, got {out['pool']}")
    return out


class FloraBertConfig(RobertaConfig):
    """RoBERTa encoder configuration for promoter DNA.

    Positions are TSS-anchored: the last real token of every sequence gets position id
    ``max_position_embeddings - 1`` and ids count down towards the 5' end, whatever the padding, so one
    position id means one distance from the TSS in every sequence. ``max_position_embeddings`` is the
    longest input (with ``<s>``/``</s>``) + ``pad_token_id`` + 1, as in RoBERTa.

    ``sparse_prediction``: with labels, the MLM head runs on the labelled positions only (see
    :class:`~florabert.modeling.FloraBertForMaskedLM`).

    Regression/classification heads (fine-tuning) read ``targets`` (output names, e.g. tissues),
    ``problem_type``, ``head_hidden_size``/``head_dropout`` and ``target_transform`` (how predictions map
    back to TPM); these are saved with the model. ``input_length``: the longest input (tokens with
    ``<s>``/``</s>``) the model was fine-tuned on; prediction truncates there too (None = the positions'
    maximum, :attr:`max_input_length`). ``wide_kmers``/``wide_features``: the wide path of the expression
    head (:class:`~florabert.modeling.FloraBertForExpression`); empty/0 for none.

    ``stem``: the convolutional stem (:mod:`florabert.modeling.stem`): the model reads single bases (the
    nucleotide tokenizer's ids) and its attention layers one vector per ``stem["pool"]`` bases; position ids
    then count bins, and :attr:`positions_length` is in bases. ``{}`` (default) = FloraBERT's RoBERTa over
    tokens. ``head_pooling``: how the expression head summarises the sequence, "mean" over real tokens (or
    bins) or "attention" (a learned score per position, softmax over the real ones). ``head_standardize``: the
    head reads the pooled states standardized per dimension (the training genes' mean and sd at the start of
    fine-tuning). ``head_windows``: the head pools every window on its own; ``head_stem``: it also reads the
    stem's bins, pooled (README "The deep path on real genes"). ``readout_weight`` w > 0: the deep path's output
    is (1 - w) x the head + w x a linear read-out of each window's mean of the stem's per-base features.
    ``deep_path`` false: the deep path's output is held at zero (a wide-path-only model).
    """

    model_type = "florabert"

    def __init__(self, *, targets: list[str] | None = None, head_hidden_size: int | None = None,
                 head_dropout: float = 0.2, target_transform: dict | None = None,
                 sparse_prediction: bool = True, loss: str = "mse", promoter_window: dict | None = None,
                 tracks: dict | None = None, input_length: int | None = None, wide_kmers: list | None = None,
                 wide_features: int = 0, stem: dict | None = None, head_pooling: str = "mean",
                 wide_groups: dict | None = None, gene_features: list | None = None,
                 wide_blend: dict | None = None, head_standardize: bool = False, head_windows: bool = False,
                 head_stem: bool = False, deep_path: bool = True, wide_motifs: bool = False,
                 wide_motif_windows: list | None = None, head_wide: bool = False,
                 head_wide_dropout: float = 0.0, readout_weight: float = 0.0,
                 **kwargs):
        kwargs.setdefault("max_position_embeddings", 258)
        kwargs.setdefault("type_vocab_size", 1)
        super().__init__(**kwargs)
        self.targets = list(targets) if targets else []
        self.head_hidden_size = head_hidden_size
        self.head_dropout = head_dropout
        self.target_transform = target_transform or {}
        self.sparse_prediction = sparse_prediction  # MLM head only on labelled positions (training)
        self.loss = loss  # expression regression: "mse" or "poisson"
        self.promoter_window = promoter_window or {}  # how training promoters were cut (for predict)
        self.tracks = tracks or {}  # epigenetic channel layout (EBERT); {} = none
        self.input_length = input_length  # fine-tuned on at most this many tokens (None: all positions)
        # the wide path (florabert.features): k-mer sizes and the number of composition features; 0 = none
        self.wide_kmers = list(wide_kmers or [])
        self.wide_features = int(wide_features)
        # feature groups of the wide path, name -> number of features, in input order (composition first)
        self.wide_groups = dict(wide_groups or {})
        # the gene-model columns the wide path reads after the composition features (florabert.genome.genemodel)
        self.gene_features = list(gene_features or [])
        # the wide path reads the known plant motifs' scores after the composition (features.motif_inputs)
        self.wide_motifs = bool(wide_motifs)
        # the windows it scans for them (indices into the layout); None: every window (as models fine-tuned
        # before FinetuneConfig.wide_motif_windows)
        self.wide_motif_windows = None if wide_motif_windows is None else [int(j) for j in wide_motif_windows]
        # the blend of the model's parts ({} for none): "weight" of the trees (LightGBM on the wide features, saved
        # beside the weights: florabert.features.WideTrees), "coef" mapping the boosters onto the outputs,
        # "boosters", and "weights" of every part ({"deep": a, "ridge": b, "trees": c}; without it, as earlier
        # releases wrote, the deep path and the ridge both weigh 1 - weight)
        self.wide_blend = dict(wide_blend or {})
        self.stem = stem_options(stem)  # {} = tokens (FloraBERT); else pool, channels, kernel
        self.head_pooling = head_pooling
        # the head reads the pooled states standardized by the training genes' mean and sd (buffers pool_mean,
        # pool_std of FloraBertForExpression, set when fine-tuning starts)
        self.head_standardize = bool(head_standardize)
        # the head pools each window on its own (a promoter's bins are not averaged with a coding sequence's)
        self.head_windows = bool(head_windows)
        # the head also reads the stem's bins, pooled, beside the encoder's final states (a stem model only):
        # the encoder's layer norms leave pooled states that barely differ between genes
        self.head_stem = bool(head_stem)
        # the deep path's output mixes in this share of a linear read-out of the same means (a ridge fit after
        # fine-tuning; the share chosen on the validation genes); 0: the head alone
        self.readout_weight = float(readout_weight)
        # false: the deep path's output is held at zero (the model is its wide path alone; nothing reads the bases)
        self.deep_path = bool(deep_path)
        # the head also reads the wide features (standardized by the training genes' mean and sd) beside the
        # pooled states: the deep path is then a network on the bases and the wide features together
        self.head_wide = bool(head_wide) and self.wide_features > 0
        # dropout on those features where the head reads them (training only)
        self.head_wide_dropout = float(head_wide_dropout)

    @property
    def part_weights(self) -> tuple[float, float]:
        """(deep path, ridge): the weights of the model's own parts in its output (the trees' weight is in their
        offset, :class:`florabert.features.WideTrees`)."""
        blend = self.wide_blend or {}
        deep = 1.0 if getattr(self, "deep_path", True) else 0.0
        if "weights" in blend:
            return deep * float(blend["weights"].get("deep", 0.0)), float(blend["weights"].get("ridge", 0.0))
        rest = 1.0 - float(blend.get("weight", 0.0))
        return deep * rest, rest

    @property
    def architecture(self) -> str:
        """``"stem"`` (bases -> convolutional stem -> attention over bins) or ``"tokens"`` (FloraBERT)."""
        return "stem" if self.stem else "tokens"

    @property
    def positions_length(self) -> int:
        """The longest input (tokens with ``<s>``/``</s>``; a stem model's tokens are bases) the position
        embeddings cover, per window."""
        n = self.max_position_embeddings - self.pad_token_id - 1
        return n * self.stem["pool"] if self.stem else n

    @property
    def max_input_length(self) -> int:
        """Tokens (with ``<s>``/``</s>``) an input is truncated to, from its 5' end."""
        return min(self.input_length, self.positions_length) if self.input_length else self.positions_length

    @property
    def layout(self):
        """The :class:`~florabert.layout.Layout` of the windows this model reads (FloraBERT's one TSS window
        when none was recorded)."""
        from florabert.layout import layout_of

        return layout_of(self.promoter_window)

    @property
    def plain_positions(self) -> bool:
        """One window anchored at its 3' end: positions exactly as FloraBERT's TSS-anchored promoters."""
        lay = self.layout
        return len(lay) == 1 and lay.anchors_right[0]

    @property
    def has_tracks(self) -> bool:
        return bool(self.tracks and (self.tracks.get("signals") or self.tracks.get("states")))

    @classmethod
    def from_tokenizer(cls, tokenizer, *, max_length: int = 256, **kwargs) -> FloraBertConfig:
        """Config whose vocabulary and special-token ids come from ``tokenizer`` (a HF tokenizer);
        ``max_length``: the longest window in tokens (for a stem model, bases), with its special tokens."""
        stem = stem_options(kwargs.get("stem"))
        positions = -(-max_length // stem["pool"]) if stem else max_length
        return cls(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                   bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                   max_position_embeddings=positions + tokenizer.pad_token_id + 1, **kwargs)
