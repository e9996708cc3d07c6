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


def segment_ids(input_ids: torch.Tensor, *, eos_token_id: int) -> torch.Tensor:
    """Window index of every token of ``<s> w1 </s> w2 </s> ...``: the number of ``</s>`` before it (a
    window's own ``</s>`` belongs to it). Masking and random replacement never produce ``</s>``, so this
    holds for masked-LM inputs too."""
    eos = (input_ids == eos_token_id).to(torch.long)
    return eos.cumsum(-1) - eos


def layout_position_ids(attention_mask: torch.Tensor, token_type_ids: torch.Tensor, anchors_right: list[bool],
                        *, max_positions: int, padding_idx: int) -> torch.Tensor:
    """Position ids anchored per window: in a window anchored at its 3' end the last token gets
    ``max_positions - 1`` and ids count down (as :func:`tss_position_ids`); in one anchored at its 5' end the
    first token gets ``padding_idx + 1`` and ids count up. Padding gets ``padding_idx``. So one id means one
    distance from the same end of the same window in every gene, whatever the padding or truncation.

    attention_mask, token_type_ids: (batch, length); ``anchors_right[j]`` for window j.
    """
    mask = attention_mask.to(torch.long)
    pos = torch.full_like(mask, padding_idx)
    for j, right in enumerate(anchors_right):
        seg = mask * (token_type_ids == j).to(torch.long)
        if right:
            count = seg.flip(-1).cumsum(-1).flip(-1)
            p = max_positions - count
        else:
            p = padding_idx + seg.cumsum(-1)
        pos = torch.where(seg.bool(), p, pos)
    real = mask.bool()
    if bool((pos[real] <= padding_idx).any()) or bool((pos[real] >= max_positions).any()):
        raise ValueError(f"a window longer than the model's {max_positions - padding_idx - 1} positions")
    return pos
