"""Does a pre-trained model use context? Masked-token loss on new DNA against a unigram model.

The unigram model predicts every masked token from token frequencies alone (counted on a training corpus,
add-one smoothed): a model that beats it uses the sequence around the mask.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import torch

from florabert.config import MaskingConfig
from florabert.genome.fasta import iter_fasta


def sample_windows(fasta: str | Path, *, n: int = 500, length: int = 1000, seed: int = 0,
                   max_n_fraction: float = 0.01) -> list[str]:
    """``n`` random windows of ``length`` bases (upper case, mostly free of N) from a genome."""
    rng = random.Random(seed)
    records = [(name, seq) for name, seq in iter_fasta(fasta) if len(seq) >= length]
    total = sum(len(s) for _, s in records)
    out = []
    while len(out) < n:
        pick = rng.randrange(total)
        for _, seq in records:
            if pick < len(seq):
                start = min(pick, len(seq) - length)
                window = seq[start:start + length].upper().decode()
                if window.count("N") <= max_n_fraction * length:
                    out.append(window)
                break
            pick -= len(seq)
    return out


def token_counts(tokenizer, sequences) -> Counter:
    counts: Counter = Counter()
    for i in range(0, len(sequences), 1000):
        for ids in tokenizer(sequences[i:i + 1000], add_special_tokens=False)["input_ids"]:
            counts.update(ids)
    return counts


@torch.no_grad()
def heldout_mlm_loss(model, tokenizer, sequences: list[str], *, unigram: Counter, masking: MaskingConfig,
                     max_length: int = 256, batch_size: int = 32, seed: int = 0) -> dict:
    """Mean masked-token cross-entropy (nats) of ``model`` and of the unigram model on ``sequences``,
    with the same masks (florabert's own masking collator, seeded)."""
    from florabert.training.masking import MaskingCollator

    model.eval()
    collator = MaskingCollator(tokenizer.hf, masking, seed=seed, training=False)
    vocab = len(tokenizer.hf)
    total = sum(unigram.values()) + vocab
    log_p = torch.tensor([math.log((unigram.get(i, 0) + 1) / total) for i in range(vocab)])
    model_nll = uni_nll = 0.0
    n = 0
    enc = tokenizer(sequences, truncation=True, max_length=max_length)["input_ids"]
    for i in range(0, len(enc), batch_size):
        batch = collator([{"input_ids": ids} for ids in enc[i:i + batch_size]])
        out = model(**batch)
        labels = batch["labels"]
        chosen = labels != -100
        logits = out.logits if out.logits.dim() == 2 else out.logits[chosen]
        target = labels[chosen]
        model_nll += torch.nn.functional.cross_entropy(logits.float(), target, reduction="sum").item()
        uni_nll += -log_p[target].sum().item()
        n += target.numel()
    return {"masked_tokens": n, "model_loss": model_nll / n, "unigram_loss": uni_nll / n,
            "sequences": len(sequences)}
