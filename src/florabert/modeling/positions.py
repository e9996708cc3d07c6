"""TSS-anchored position ids."""

from __future__ import annotations

import torch


def tss_position_ids(attention_mask: torch.Tensor, *, max_positions: int, padding_idx: int) -> torch.Tensor:
    """Position ids counted from the 3' (TSS) end of the real tokens.

    attention_mask: (batch, length), 1 for real tokens. The last real token gets ``max_positions - 1``, the
    one before it ``max_positions - 2``, ...; padding gets ``padding_idx`` (a zero embedding in RoBERTa).
    So the same promoter gets the same position ids however much left padding it has.
    """
    mask = attention_mask.to(torch.long)
    from_end = mask.flip(-1).cumsum(-1).flip(-1)  # real tokens from here to the end, inclusive
    pos = (max_positions - from_end) * mask + padding_idx * (1 - mask)
    if bool((pos[mask.bool()] <= padding_idx).any()):
        raise ValueError(f"sequence longer than the model's {max_positions - padding_idx - 1} positions")
    return pos
