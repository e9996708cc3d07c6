"""FloraBERT models: RoBERTa with TSS-anchored positions (MLM and encoder).

Follows the transformers pattern: subclasses of the RoBERTa classes with ``config_class`` set, the
backbone attribute still named ``roberta`` so an MLM checkpoint loads straight into a fine-tuning model.
Position ids are computed from the attention mask when the caller gives none.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch.nn import functional as F
from transformers import RobertaForMaskedLM, RobertaModel, RobertaPreTrainedModel
from transformers.modeling_outputs import MaskedLMOutput, SequenceClassifierOutput

from florabert.modeling.configuration import FloraBertConfig
from florabert.modeling.positions import layout_position_ids, segment_ids, tss_position_ids
from florabert.modeling.stem import ConvStem, StemLMBridge, WindowBases, scatter_to_windows, window_slots


@contextlib.contextmanager
def loading(path):
    """Load a model or tokenizer from ``path`` quietly (see :func:`quiet_loading`), turning whatever goes wrong
    (a truncated ``model.safetensors``, a corrupt ``config.json`` or ``tokenizer.json``, weights whose shapes do
    not fit the config) into one InputError naming the folder."""
    from florabert.errors import FloraBertError, InputError, one_line

    try:
        with quiet_loading():
            yield
    except FloraBertError:
        raise
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "size mismatch" in str(exc):
            msg = "its weights do not match its config.json (" + one_line(str(exc), 160).split("size mismatch", 1)[
                -1].strip(" :") + ")"
        raise InputError(path, f"cannot load it: {one_line(msg, 240)}") from None


@contextlib.contextmanager
def quiet_loading():
    """Silence transformers' load report and weight-loading bar for loads whose unused/new weights are
    expected (an MLM checkpoint into an expression model, an expression model into the bare encoder)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


class TrackChannel(torch.nn.Module):
    """EBERT's epigenetic channel, added to the token embeddings: continuous tracks (batch, length,
    n_signals) -> a linear projection (no bias: no signal adds nothing); each discrete-state mark (batch,
    length) of codes -> its own embedding table, code 0 ("no data", padding) a fixed zero vector."""

    def __init__(self, config, width: int | None = None):
        super().__init__()
        layout, hidden, std = config.tracks, width or config.hidden_size, config.initializer_range
        n = len(layout.get("signals", []))
        self.signals = torch.nn.Linear(n, hidden, bias=False) if n else None
        self.states = torch.nn.ModuleList(torch.nn.Embedding(len(names) + 1, hidden, padding_idx=0)
                                          for names in layout.get("states", {}).values())
        with torch.no_grad():
            for module in [self.signals, *self.states]:
                if module is not None:
                    module.weight.normal_(0.0, std)
            for emb in self.states:
                emb.weight[0].zero_()

    def forward(self, track_values: torch.Tensor | None, track_states: torch.Tensor | None) -> torch.Tensor:
        out = 0
        if self.signals is not None:
            out = out + self.signals(track_values.to(self.signals.weight.dtype))
        for j, emb in enumerate(self.states):
            out = out + emb(track_states[..., j])
        return out


def add_track_channel(roberta, config) -> None:
    """Give a RoBERTa backbone the epigenetic channel when ``config.tracks`` asks for one (else nothing:
    the model stays exactly the plain one). In a stem model the channel adds to the stem's per-base features."""
    if getattr(config, "has_tracks", False):
        roberta.embeddings.tracks = TrackChannel(config, config.stem["channels"] if config.stem else None)


def add_stem(roberta, config) -> None:
    """Give a RoBERTa backbone the convolutional stem when ``config.stem`` asks for one."""
    if config.stem:
        roberta.stem = ConvStem(config)


@dataclass
class Encoded:
    """What the backbone gives the heads: ``outputs`` (RoBERTa's, hidden states per token or per bin),
    ``mask`` (B, positions): the real positions to pool (tokens other than padding and ``<s>``/``</s>``, or
    bins holding bases); for a stem model also ``per_base`` (B, bases, channels) and ``where``
    (:class:`~florabert.modeling.stem.WindowBases`)."""

    outputs: object
    mask: torch.Tensor
    per_base: torch.Tensor | None = None
    where: WindowBases | None = None
    segments: torch.Tensor | None = None  # (B, positions): the window of each position (0 for one window)
    stem_bins: torch.Tensor | None = None  # (B, bins, hidden): a stem model's bins before the encoder
    base_means: torch.Tensor | None = None  # (B, :func:`bases_size`): the stem's per-base features' means

    @property
    def hidden(self) -> torch.Tensor:
        return self.outputs[0]


def encode(backbone, run, config, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
           inputs_embeds=None, track_values=None, track_states=None, per_base: bool = False, windows=None,
           **kwargs) -> Encoded:
    """Run ``backbone`` (a RobertaModel, through ``run`` = its forward) on the inputs of either architecture;
    ``per_base``: keep a stem model's per-base features (masked-LM needs them). A stem model also takes its
    bases as ``windows`` instead of a token stream: per window, (ids, mask) laid out from its anchored end
    (:func:`florabert.modeling.stem.window_arrays`)."""
    if config.stem:
        if windows is not None:
            return _encode_windows(backbone, run, config, windows, **kwargs)
        if input_ids is None:
            raise ValueError("a stem model reads input_ids (single bases) or windows")
        return _encode_stem(backbone, run, config, input_ids, attention_mask, token_type_ids, track_values,
                            track_states, per_base, **kwargs)
    if attention_mask is None and input_ids is not None:
        attention_mask = (input_ids != config.pad_token_id).long()
    if position_ids is None:
        position_ids, token_type_ids = _positions(config, input_ids, attention_mask, inputs_embeds, token_type_ids)
    embeds = _track_embeds(backbone, input_ids, track_values, track_states)
    if embeds is not None:
        inputs_embeds = embeds
    outputs = run(input_ids=None if inputs_embeds is not None else input_ids, attention_mask=attention_mask,
                  token_type_ids=token_type_ids, position_ids=position_ids, inputs_embeds=inputs_embeds, **kwargs)
    if input_ids is None:
        real = attention_mask.bool() if attention_mask is not None else None
    else:
        real = attention_mask.bool() & (input_ids != config.bos_token_id) & (input_ids != config.eos_token_id)
    return Encoded(outputs, real, segments=token_type_ids)


def _encode_stem(backbone, run, config, input_ids, attention_mask, token_type_ids, track_values, track_states,
                 keep_per_base: bool, **kwargs) -> Encoded:
    """Bases of every window -> the stem -> bins of all windows side by side -> the encoder."""
    if attention_mask is None:
        attention_mask = (input_ids != config.pad_token_id).long()
    anchors = config.layout.anchors_right
    segments = token_type_ids if token_type_ids is not None else segment_ids(input_ids,
                                                                              eos_token_id=config.eos_token_id)
    segments = segments.clamp(max=len(anchors) - 1)
    specials = torch.tensor([config.bos_token_id, config.pad_token_id, config.eos_token_id],
                            device=input_ids.device)
    where = window_slots(input_ids, attention_mask, segments, anchors, specials, backbone.stem.pool)
    ids = scatter_to_windows(input_ids, where, config.pad_token_id)
    mask = scatter_to_windows(where.is_base, where, False)
    channel = getattr(backbone.embeddings, "tracks", None)
    extra = None
    if channel is not None:
        if track_values is None and track_states is None:
            raise ValueError("this model reads epigenetic tracks: pass track_values and/or track_states")
        extra = scatter_to_windows(channel(track_values, track_states), where, 0.0)
    elif track_values is not None or track_states is not None:
        raise ValueError("this model has no epigenetic channel; it takes no tracks")
    per_base, bins, masks, types, means = [], [], [], [], []
    codons = codon_starts(config)
    for j, (off, n) in enumerate(zip(where.offsets, where.lengths, strict=True)):
        f, h, m, a = backbone.stem(ids[:, off:off + n], mask[:, off:off + n],
                                   None if extra is None else extra[:, off:off + n], per_base=keep_per_base,
                                   codon=codons[j])
        per_base.append(f)
        bins.append(h)
        masks.append(m)
        means.append(a)
        types.append(torch.full_like(m, j, dtype=torch.long))
    features = None
    if keep_per_base:
        features = per_base[0] if len(per_base) == 1 else torch.cat(per_base, 1)
    return _run_bins(run, config, bins, masks, types, means, per_base=features, where=where, **kwargs)


def _encode_windows(backbone, run, config, windows, **kwargs) -> Encoded:
    """A stem model on bases already laid out per window (no token stream, no epigenetic channel)."""
    if getattr(backbone.embeddings, "tracks", None) is not None:
        raise ValueError("a model with an epigenetic channel reads a token stream with its tracks, not windows")
    bins, masks, types, means = [], [], [], []
    codons = codon_starts(config)
    for j, (ids, mask) in enumerate(windows):
        if not torch.is_grad_enabled() and len(ids) > 1:
            # the stem once per distinct window: the mutants of one gene (explain ism, positional, variants)
            # change one window and share the others
            uniq, inverse = torch.unique(torch.cat([ids, mask.to(ids.dtype)], 1), dim=0, return_inverse=True)
            if len(uniq) < len(ids):
                keep = torch.full((len(uniq),), len(ids)).scatter_reduce_(0, inverse, torch.arange(len(ids)),
                                                                          reduce="amin")
                _, h, m, a = backbone.stem(ids[keep], mask[keep], None, per_base=False, codon=codons[j])
                bins.append(h[inverse])
                masks.append(m[inverse])
                means.append(a[inverse])
                types.append(torch.full_like(masks[-1], j, dtype=torch.long))
                continue
        _, h, m, a = backbone.stem(ids, mask, None, per_base=False, codon=codons[j])
        bins.append(h)
        masks.append(m)
        means.append(a)
        types.append(torch.full_like(m, j, dtype=torch.long))
    return _run_bins(run, config, bins, masks, types, means, **kwargs)


def _run_bins(run, config, bins: list, masks: list, types: list, means: list, per_base=None, where=None,
              **kwargs) -> Encoded:
    """The encoder over the bins of every window side by side (positions anchored per window)."""
    bin_mask, types = torch.cat(masks, 1), torch.cat(types, 1)
    positions = layout_position_ids(bin_mask.long(), types, config.layout.anchors_right,
                                    max_positions=config.max_position_embeddings, padding_idx=config.pad_token_id)
    bins = bins[0] if len(bins) == 1 else torch.cat(bins, 1)
    outputs = run(input_ids=None, attention_mask=bin_mask.long(), token_type_ids=types, position_ids=positions,
                  inputs_embeds=bins, **kwargs)
    return Encoded(outputs, bin_mask, per_base, where, segments=types, stem_bins=bins,
                   base_means=torch.cat(means, 1))


def codon_starts(config) -> list[int | None]:
    """Per window, the codon position of its first base for a coding window (its means are taken per codon
    position), else None."""
    return [w.start % 3 if w.landmark == "cds" else None for w in config.layout.windows]


def bases_size(config) -> int:
    """Width of the windows' means of the stem's per-base features (0 for a model without a stem)."""
    if not config.stem:
        return 0
    return sum(3 if c is not None else 1 for c in codon_starts(config)) * config.stem["channels"]


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` (B, n, d) over the positions where ``mask`` (B, n) is true."""
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def _track_embeds(roberta, input_ids, track_values, track_states):
    """Token embeddings + the epigenetic channel, or None for a plain model (which then embeds as usual)."""
    channel = getattr(roberta.embeddings, "tracks", None)
    if channel is None:
        if track_values is not None or track_states is not None:
            raise ValueError("this model has no epigenetic channel; it takes no tracks")
        return None
    if track_values is None and track_states is None:
        raise ValueError("this model reads epigenetic tracks: pass track_values and/or track_states")
    return roberta.embeddings.word_embeddings(input_ids) + channel(track_values, track_states)


def _positions(config, input_ids, attention_mask, inputs_embeds, token_type_ids=None):
    """(position_ids, token_type_ids): TSS-anchored positions for a one-window model (token types left as
    given); per-window anchored positions and window indices for a multi-window one (:mod:`florabert.layout`).
    """
    if attention_mask is None:
        ref = input_ids if input_ids is not None else inputs_embeds[..., 0]
        attention_mask = (ref != config.pad_token_id) if input_ids is not None else ref.new_ones(ref.shape)
    if config.plain_positions:
        return tss_position_ids(attention_mask, max_positions=config.max_position_embeddings,
                                padding_idx=config.pad_token_id), token_type_ids
    if token_type_ids is None:
        if input_ids is None:
            raise ValueError("a multi-window model needs input_ids or token_type_ids")
        token_type_ids = segment_ids(input_ids, eos_token_id=config.eos_token_id)
    token_type_ids = token_type_ids.clamp(max=config.type_vocab_size - 1)
    pos = layout_position_ids(attention_mask, token_type_ids, config.layout.anchors_right,
                              max_positions=config.max_position_embeddings, padding_idx=config.pad_token_id)
    return pos, token_type_ids


def adopt_layout(model, layout) -> None:
    """Make ``model`` (any FloraBERT model) read ``layout``: record it in the config and give the segment
    embedding one row per window (new rows start as a copy of window 0's, so a one-window model keeps its
    outputs on its first window)."""
    config = model.config
    config.promoter_window = layout.to_dict()
    n = len(layout)
    emb = model.roberta.embeddings.token_type_embeddings if hasattr(model, "roberta") else \
        model.embeddings.token_type_embeddings
    if emb.num_embeddings == n:
        return
    new = torch.nn.Embedding(n, emb.embedding_dim).to(emb.weight.device, emb.weight.dtype)
    with torch.no_grad():
        k = min(n, emb.num_embeddings)
        new.weight[:k] = emb.weight[:k]
        new.weight[k:] = emb.weight[0]
    owner = model.roberta.embeddings if hasattr(model, "roberta") else model.embeddings
    owner.token_type_embeddings = new
    # RoBERTa keeps a zero token_type_ids buffer for calls without them; windows always come with them
    config.type_vocab_size = n


class FloraBertModel(RobertaModel):
    """The bare encoder (``AutoModel``): hidden states per token, or per bin of ``pool`` bases for a stem model
    (:meth:`embed` pools either over the real positions)."""

    config_class = FloraBertConfig

    def __init__(self, config, add_pooling_layer: bool = True):
        super().__init__(config, add_pooling_layer=add_pooling_layer)
        add_track_channel(self, config)
        add_stem(self, config)

    def encode(self, **inputs) -> Encoded:
        return encode(self, super().forward, self.config, **inputs)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, track_values=None, track_states=None, **kwargs):
        return self.encode(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                           position_ids=position_ids, inputs_embeds=inputs_embeds, track_values=track_values,
                           track_states=track_states, **kwargs).outputs

    def embed(self, **inputs) -> torch.Tensor:
        """(B, hidden): the final hidden states averaged over the real tokens (or bins)."""
        enc = self.encode(**inputs)
        return masked_mean(enc.hidden, enc.mask)


class FloraBertForMaskedLM(RobertaForMaskedLM):
    """RoBERTa MLM with TSS-anchored positions.

    With ``config.sparse_prediction`` (default True) and ``labels`` given, only the labelled positions go
    through the LM head (as ModernBERT does): about 15 % of the tokens, which for small models with a
    5,000-token vocabulary is most of the compute. ``logits`` then has shape (n_labelled, vocab), rows in
    row-major order of ``labels != -100``; without labels, logits are (batch, length, vocab) as usual.
    """

    config_class = FloraBertConfig

    def __init__(self, config):
        super().__init__(config)
        add_track_channel(self.roberta, config)
        add_stem(self.roberta, config)
        if config.stem:
            self.lm_bridge = StemLMBridge(config)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, track_values=None, track_states=None, **kwargs):
        if self.config.stem:
            return self._stem_forward(input_ids, attention_mask, token_type_ids, labels, track_values,
                                      track_states, **kwargs)
        if position_ids is None:
            position_ids, token_type_ids = _positions(self.config, input_ids, attention_mask, inputs_embeds,
                                                      token_type_ids)
        embeds = _track_embeds(self.roberta, input_ids, track_values, track_states)
        if embeds is not None:
            input_ids, inputs_embeds = None, embeds
        if labels is None or not getattr(self.config, "sparse_prediction", True):
            return super().forward(input_ids=input_ids, attention_mask=attention_mask,
                                   token_type_ids=token_type_ids, position_ids=position_ids,
                                   inputs_embeds=inputs_embeds, labels=labels, **kwargs)
        hidden = self.roberta(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                              position_ids=position_ids, inputs_embeds=inputs_embeds, **kwargs)[0]
        chosen = labels != -100
        logits = self.lm_head(hidden[chosen])
        target = labels[chosen]
        loss = F.cross_entropy(logits.float(), target) if target.numel() else logits.sum() * 0.0
        return MaskedLMOutput(loss=loss, logits=logits)

    def _stem_forward(self, input_ids, attention_mask, token_type_ids, labels, track_values, track_states,
                      **kwargs):
        """Masked bases predicted from their bin's hidden state and the stem's features at the base; logits
        (n_labelled, vocab) with labels (as the sparse path above), else (B, L, vocab) with zeros at
        non-base tokens."""
        enc = encode(self.roberta, self.roberta, self.config, input_ids=input_ids, attention_mask=attention_mask,
                     token_type_ids=token_type_ids, track_values=track_values, track_states=track_states,
                     per_base=True, **kwargs)
        chosen = enc.where.is_base if labels is None else labels != -100
        logits = self.lm_head(self.lm_bridge(enc.hidden, enc.per_base, enc.where, chosen))
        if labels is None:
            full = logits.new_zeros((*input_ids.shape, logits.shape[-1]))
            full[chosen] = logits
            return MaskedLMOutput(logits=full)
        target = labels[chosen]
        loss = F.cross_entropy(logits.float(), target) if target.numel() else logits.sum() * 0.0
        return MaskedLMOutput(loss=loss, logits=logits)


class FloraBertForExpression(RobertaPreTrainedModel):
    """Expression from promoter DNA: mean of the final hidden states over the real tokens (not padding,
    not ``<s>``/``</s>``) -> dense -> GELU -> dropout (``config.head_dropout``, 0.2) -> dense(n outputs).

    With ``config.wide_features`` > 0 the model also has a wide path: the gene's composition features
    (``wide_features``, (batch, n): :func:`florabert.features.window_features` of the same windows, every
    base of them, not only the tokens the transformer reads) are standardized with the training genes' mean
    and sd (buffers ``wide_mean``/``wide_std``) and go through a linear layer whose output is added to the
    head's: prediction = wide(features) + head(pooled).

    ``config.problem_type``: "regression" (one output per target, e.g. ln(TPM + 1) per tissue; loss
    ``config.loss`` = "mse" or "poisson", Poisson reading the outputs as log rates of TPM + offset) or
    "single_label_classification" (``num_labels`` classes, cross-entropy). The backbone attribute is
    ``roberta``, so a FloraBertForMaskedLM checkpoint loads straight into it.
    """

    config_class = FloraBertConfig

    def __init__(self, config: FloraBertConfig):
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        add_track_channel(self.roberta, config)
        add_stem(self.roberta, config)
        pooling = getattr(config, "head_pooling", "mean")
        if pooling == "attention":
            self.pool_score = torch.nn.Linear(config.hidden_size, 1)
        hidden = config.head_hidden_size or config.hidden_size
        pooled = self.pooled_size(config)
        self.head = torch.nn.Sequential(
            torch.nn.Linear(pooled, hidden), torch.nn.GELU(), torch.nn.Dropout(config.head_dropout),
            torch.nn.Linear(hidden, config.num_labels))
        if getattr(config, "head_standardize", False):  # set when fine-tuning starts: finetune.start_head
            self.register_buffer("pool_mean", torch.zeros(pooled))
            self.register_buffer("pool_std", torch.ones(pooled))
        if getattr(config, "readout_weight", 0.0) and bases_size(config):  # fitted after fine-tuning
            self.add_readout()
        n_wide = getattr(config, "wide_features", 0)
        if n_wide:
            self.wide = torch.nn.Linear(n_wide, config.num_labels)
            self.register_buffer("wide_mean", torch.zeros(n_wide))
            self.register_buffer("wide_std", torch.ones(n_wide))
        self.post_init()

    @staticmethod
    def pooled_size(config) -> int:
        """Width of what the head reads: one summary (``2 x hidden`` for meanmax) per source (the encoder's
        states, and with ``head_stem`` the stem's bins) per window (with ``head_windows``); with ``head_wide`` the
        wide features."""
        meanmax = getattr(config, "head_pooling", "mean") == "meanmax"
        per = 2 * config.hidden_size if meanmax else config.hidden_size
        sources = 2 if getattr(config, "head_stem", False) and config.stem else 1
        windows = len(config.layout) if getattr(config, "head_windows", False) else 1
        wide = config.wide_features if getattr(config, "head_wide", False) else 0
        return per * sources * windows + wide

    def read_out(self, enc: Encoded) -> torch.Tensor:
        """(batch, :meth:`pooled_size`): the encoder's final states pooled (:meth:`pool`), and with
        ``config.head_stem`` the stem's bins pooled the same way beside them; with ``config.head_windows``
        each window on its own, side by side (README "The deep path on real genes")."""
        sources = [enc.hidden]
        if getattr(self.config, "head_stem", False) and enc.stem_bins is not None:
            sources.append(enc.stem_bins)
        if not getattr(self.config, "head_windows", False):
            return torch.cat([self.pool(h, enc.mask) for h in sources], -1)
        segments = enc.segments if enc.segments is not None else torch.zeros_like(enc.mask, dtype=torch.long)
        masks = [enc.mask & (segments == j) for j in range(len(self.config.layout))]
        return torch.cat([self.pool(h, m) for m in masks for h in sources], -1)

    def pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(batch, positions, hidden) -> (batch, hidden): the mean over the real positions ``mask`` (tokens or
        bins); ``head_pooling: meanmax``: the mean and the maximum side by side (batch, 2 x hidden): a motif in
        one of hundreds of positions moves the maximum, while the mean dilutes it; ``attention``: an average
        weighted by a learned score (softmax over the real positions)."""
        pooling = getattr(self.config, "head_pooling", "mean")
        if pooling == "meanmax":
            top = hidden.masked_fill(~mask.unsqueeze(-1), torch.finfo(hidden.dtype).min).amax(1)
            top = torch.where(mask.any(1, keepdim=True), top, torch.zeros_like(top))
            return torch.cat([masked_mean(hidden, mask), top], dim=-1)
        if not hasattr(self, "pool_score"):
            return masked_mean(hidden, mask)
        score = self.pool_score(hidden).squeeze(-1).float().masked_fill(~mask, float("-inf"))
        weights = torch.nan_to_num(torch.softmax(score, -1), nan=0.0).to(hidden.dtype)
        return (hidden * weights.unsqueeze(-1)).sum(1)

    def wide_inputs(self, wide_features: torch.Tensor | None) -> torch.Tensor:
        """The wide features standardized with the training genes' mean and sd (what the ridge reads)."""
        if wide_features is None:
            raise ValueError("this model has a wide path: pass wide_features (florabert.features."
                             "window_features of the same sequences)")
        return (wide_features.to(self.wide_std.dtype) - self.wide_mean) / self.wide_std

    def add_readout(self) -> None:
        """The deep path's linear read-out of the windows' means of the stem's per-base features (a ridge fit
        after fine-tuning, :func:`florabert.training.head.fit_readout`; its weight ``config.readout_weight``)."""
        p = next(self.parameters())
        self.readout = torch.nn.Linear(bases_size(self.config), self.config.num_labels, device=p.device,
                                       dtype=p.dtype)

    def _encode(self, input_ids=None, attention_mask=None, position_ids=None, track_values=None, track_states=None,
                token_type_ids=None, **kwargs) -> Encoded:
        return encode(self.roberta, self.roberta, self.config, input_ids=input_ids, attention_mask=attention_mask,
                      token_type_ids=token_type_ids, position_ids=position_ids, track_values=track_values,
                      track_states=track_states, **kwargs)

    def base_means(self, wide_features=None, **inputs) -> torch.Tensor:
        """(batch, :func:`bases_size`): each window's mean of the stem's per-base features (per codon position in
        a coding window): what the read-out reads."""
        return self._encode(**inputs).base_means

    def pooled(self, wide_features=None, enc: Encoded | None = None, **inputs) -> torch.Tensor:
        """What the head reads (batch, pooled): the pooled hidden states (with ``config.head_wide`` and the
        standardized wide features beside them), standardized with the training genes' mean and sd when the
        model has them (``config.head_standardize``)."""
        pooled = self.read_out(enc if enc is not None else self._encode(**inputs))
        if getattr(self.config, "head_wide", False):
            z = F.dropout(self.wide_inputs(wide_features), getattr(self.config, "head_wide_dropout", 0.0),
                          self.training)
            pooled = torch.cat([pooled, z.to(pooled.dtype)], -1)
        if hasattr(self, "pool_mean"):
            pooled = (pooled - self.pool_mean.to(pooled.dtype)) / self.pool_std.to(pooled.dtype)
        return pooled

    def deep(self, wide_features=None, **inputs) -> torch.Tensor:
        """The deep path's outputs alone (batch, outputs): the head on :meth:`pooled`; with a read-out
        (``config.readout_weight`` w > 0), (1 - w) x the head + w x the read-out of the windows' means."""
        enc = self._encode(**inputs)
        out = self.head(self.pooled(wide_features, enc=enc)).float()
        if hasattr(self, "readout"):  # in fp32 whatever the autocast: a ridge on small differences
            w = self.config.readout_weight
            with torch.autocast(enc.base_means.device.type, enabled=False):
                read = F.linear(enc.base_means.float(), self.readout.weight.float(), self.readout.bias.float())
            out = (1 - w) * out + w * read
        return out

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, labels=None, track_values=None,
                track_states=None, token_type_ids=None, wide_features=None, wide_offset=None, **kwargs):
        a, b = self.config.part_weights  # a x deep path + b x ridge (+ the trees' weighted offset)
        windows = kwargs.get("windows")
        ref = input_ids if input_ids is not None else windows[0][0] if windows else wide_features
        logits = torch.zeros(ref.shape[0], self.config.num_labels, device=ref.device)
        if a:  # a wide-path-only model (deep_path false, configs/wide_alone.yaml) reads no bases
            logits = a * self.deep(wide_features, input_ids=input_ids, attention_mask=attention_mask,
                                   position_ids=position_ids, track_values=track_values, track_states=track_states,
                                   token_type_ids=token_type_ids, **kwargs)
        if hasattr(self, "wide"):
            z = self.wide_inputs(wide_features)
            logits = logits + b * self.wide(z.to(self.wide.weight.dtype)).float()
        if (getattr(self.config, "wide_blend", None) or {}).get("boosters"):  # + c x LightGBM (WideTrees.offset)
            if wide_offset is None:
                raise ValueError("this model blends in trees: pass wide_offset (florabert.features.WideTrees."
                                 "offset of the same wide features)")
            logits = logits + wide_offset.float()
        loss = None
        if labels is not None:
            if self.config.problem_type == "single_label_classification":
                loss = F.cross_entropy(logits, labels.long())
            elif getattr(self.config, "loss", "mse") == "poisson":
                loss = F.poisson_nll_loss(logits, labels.float().exp(), log_input=True, full=False)
            else:
                loss = F.mse_loss(logits, labels.float())
        return SequenceClassifierOutput(loss=loss, logits=logits)
