"""What to mask in masked-LM pre-training: BERT's tokens, contiguous spans, or the RandomMask curriculum.

All strategies aim at the same expected fraction of maskable tokens (specials and padding are never
masked), then replace the chosen tokens BERT-style: 80 % ``<mask>``, 10 % a random token, 10 % unchanged.

- ``bert``: each token independently with probability ``fraction``.
- ``span``: a token starts a span of ``span`` tokens with probability p = 1 - (1 - fraction)^(1/span), so
  a position is covered with probability ``fraction`` (overlapping k-mer tokens need spans: one masked
  6-mer alone is given away by its neighbours).
- ``randommask`` (Rethinking BERT-like pre-training for DNA, 2023): training is split into ``phases``;
  the span length is ``span_start + span_step * phase`` and p follows it, keeping the expected masked
  fraction at ``fraction``.

Randomness comes from torch's global generator, which the Trainer checkpoints: a resumed run masks
exactly as an uninterrupted one.
"""

from __future__ import annotations

import torch

from florabert.config import STRATEGIES, MaskingConfig

__all__ = ["STRATEGIES", "MaskingCollator", "MaskingConfig", "choose_masked", "start_probability"]

def start_probability(fraction: float, span: int) -> float:
    """p such that a position is covered by some span of length ``span`` with probability ``fraction``."""
    return 1.0 - (1.0 - fraction) ** (1.0 / span)


def choose_masked(maskable: torch.Tensor, *, fraction: float, span: int,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Boolean (batch, length) of positions to mask; spans run 3'-ward from their start."""
    rand = torch.rand(maskable.shape, generator=generator)
    if span <= 1:
        return (rand < fraction) & maskable
    starts = ((rand < start_probability(fraction, span)) & maskable).to(torch.int32)
    covered = starts.cumsum(-1)
    covered[:, span:] -= starts.cumsum(-1)[:, :-span].clone()
    return (covered > 0) & maskable


class MaskingCollator:
    """Pads a list of ``{"input_ids": [...]}`` on the left and masks it; returns model inputs + labels."""

    def __init__(self, tokenizer, config: MaskingConfig, *, pad_to_multiple_of: int | None = None):
        self.tokenizer = tokenizer  # a transformers tokenizer (padding_side="left")
        self.config = config
        self.pad_to_multiple_of = pad_to_multiple_of
        self.phase = 0
        self.special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)))
        self.first_regular = max(tokenizer.all_special_ids) + 1

    @property
    def span(self) -> int:
        return self.config.span_for_phase(self.phase)

    def set_progress(self, step: int, total_steps: int) -> bool:
        """Move the curriculum to the phase of ``step``; True when the phase changed."""
        if self.config.strategy != "randommask" or total_steps <= 0:
            return False
        phase = min(self.config.phases - 1, step * self.config.phases // total_steps)
        changed, self.phase = phase != self.phase, phase
        return changed

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        ids = [{"input_ids": f["input_ids"]} for f in features]
        batch = self.tokenizer.pad(ids, padding=True, pad_to_multiple_of=self.pad_to_multiple_of,
                                   return_tensors="pt")
        input_ids = batch["input_ids"]
        maskable = ~torch.isin(input_ids, self.special_ids) & batch["attention_mask"].bool()
        masked = choose_masked(maskable, fraction=self.config.fraction, span=self.span)
        labels = torch.where(masked, input_ids, torch.full_like(input_ids, -100))
        u = torch.rand(input_ids.shape)
        to_mask = masked & (u < self.config.mask_replace)
        to_random = masked & (u >= self.config.mask_replace) & (
            u < self.config.mask_replace + self.config.random_replace)
        input_ids = input_ids.clone()
        input_ids[to_mask] = self.tokenizer.mask_token_id
        random_tokens = torch.randint(self.first_regular, len(self.tokenizer), input_ids.shape)
        input_ids[to_random] = random_tokens[to_random]
        return {"input_ids": input_ids, "attention_mask": batch["attention_mask"], "labels": labels}
