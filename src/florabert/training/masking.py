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

Curriculum position: the collator counts the training batches it has collated (batch j belongs to
optimizer step j // accumulation) instead of listening to Trainer callbacks, because the data loader
collates one batch ahead of the step being trained. A resumed run starts the count at its checkpoint's
step (:meth:`MaskingCollator.start_at`); evaluation uses a separate copy (:meth:`for_eval`, phase 0).

Randomness: the collator draws from its own generator, seeded for every batch from the batch's token ids,
the run seed and the curriculum phase. Different batches (steps, epochs, data-parallel ranks) get
different masks; the same batch always gets the same masks. So a run resumed from a checkpoint masks
exactly as the uninterrupted run did, which the global RNG cannot give (the Trainer collates the next
batch before it restores its saved RNG state), and every evaluation sees the same masks.
"""

from __future__ import annotations

import zlib

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

    def __init__(self, tokenizer, config: MaskingConfig, *, seed: int = 0, total_steps: int = 0,
                 accumulation: int = 1, training: bool = True, log=None,
                 pad_to_multiple_of: int | None = None):
        self.tokenizer = tokenizer  # a transformers tokenizer (padding_side="left")
        self.config = config
        self.seed = seed
        self.total_steps = total_steps
        self.accumulation = accumulation
        self.training = training
        self.log = log
        self.pad_to_multiple_of = pad_to_multiple_of
        self.batches = 0  # training batches collated so far
        self.phase = 0
        self.generator = torch.Generator()
        self.special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)))
        self.first_regular = max(tokenizer.all_special_ids) + 1

    @property
    def span(self) -> int:
        return self.config.span_for_phase(self.phase)

    def phase_at(self, step: int) -> int:
        """Curriculum phase of optimizer step ``step`` (0-based)."""
        if self.config.strategy != "randommask" or self.total_steps <= 0:
            return 0
        return min(self.config.phases - 1, step * self.config.phases // self.total_steps)

    def start_at(self, step: int) -> None:
        """Continue after ``step`` completed optimizer steps (a resumed run)."""
        self.batches = step * self.accumulation
        self.phase = self.phase_at(step)

    def for_eval(self) -> MaskingCollator:
        """A copy for evaluation: phase 0 always, and it does not advance the training count."""
        return MaskingCollator(self.tokenizer, self.config, seed=self.seed, training=False,
                               pad_to_multiple_of=self.pad_to_multiple_of)

    def _advance(self) -> None:
        step = self.batches // self.accumulation
        self.batches += 1
        phase = self.phase_at(step)
        if phase != self.phase:
            self.phase = phase
            if self.log:
                self.log(f"RandomMask: phase {phase + 1}/{self.config.phases} from step {step + 1}: "
                         f"span length {self.span}")

    def _seed_for(self, input_ids: torch.Tensor) -> int:
        return zlib.crc32(input_ids.numpy().tobytes(), zlib.crc32(f"{self.seed}/{self.phase}".encode()))

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        if self.training:
            self._advance()
        ids = [{"input_ids": f["input_ids"]} for f in features]
        batch = self.tokenizer.pad(ids, padding=True, pad_to_multiple_of=self.pad_to_multiple_of,
                                   return_tensors="pt")
        input_ids = batch["input_ids"]
        gen = self.generator
        gen.manual_seed(self._seed_for(input_ids))
        maskable = ~torch.isin(input_ids, self.special_ids) & batch["attention_mask"].bool()
        masked = choose_masked(maskable, fraction=self.config.fraction, span=self.span, generator=gen)
        labels = torch.where(masked, input_ids, torch.full_like(input_ids, -100))
        u = torch.rand(input_ids.shape, generator=gen)
        to_mask = masked & (u < self.config.mask_replace)
        to_random = masked & (u >= self.config.mask_replace) & (
            u < self.config.mask_replace + self.config.random_replace)
        input_ids = input_ids.clone()
        input_ids[to_mask] = self.tokenizer.mask_token_id
        random_tokens = torch.randint(self.first_regular, len(self.tokenizer), input_ids.shape, generator=gen)
        input_ids[to_random] = random_tokens[to_random]
        out = {"input_ids": input_ids, "attention_mask": batch["attention_mask"], "labels": labels}
        if "track_values" in features[0]:  # EBERT: per-token epigenetic input, padded like the ids
            out.update(self._tracks(features, input_ids.shape[1], masked, gen))
        return out

    def _tracks(self, features, length, masked, gen) -> dict[str, torch.Tensor]:
        from florabert.training.trackdata import pad_tracks

        values, states = pad_tracks([f["track_values"] for f in features], [f["track_states"] for f in features],
                                    length)
        if self.config.tracks > 0:  # hide the epigenetic input of some masked tokens as well
            hide = masked & (torch.rand(masked.shape, generator=gen) < self.config.tracks)
            values[hide] = 0.0
            states[hide] = 0
        return {"track_values": values, "track_states": states}

