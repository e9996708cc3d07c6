import pytest
import torch

from florabert.tokenization import train_tokenizer
from florabert.training.masking import MaskingCollator, MaskingConfig, choose_masked, start_probability


def runs(row: torch.Tensor, span: int) -> list[int]:
    """Lengths of the runs of True in a 1-D bool tensor, except runs ending within ``span`` of the end
    (a span is cut only on its 3' side, by the end of the maskable region)."""
    out, n = [], 0
    values = row.tolist()
    for i, v in enumerate([*values, False]):
        if v:
            n += 1
        elif n:
            if i <= len(values) - span - 1:
                out.append(n)
            n = 0
    return out


@pytest.mark.parametrize("span", [1, 3, 6, 10])
def test_expected_fraction_is_kept_for_any_span(span):
    torch.manual_seed(0)
    maskable = torch.ones(400, 500, dtype=torch.bool)
    masked = choose_masked(maskable, fraction=0.15, span=span)
    interior = masked[:, span:]  # the first span-1 positions cannot be reached by earlier starts
    assert interior.float().mean().item() == pytest.approx(0.15, abs=0.005)


def test_spans_are_contiguous_and_at_least_span_long():
    torch.manual_seed(1)
    maskable = torch.ones(50, 300, dtype=torch.bool)
    masked = choose_masked(maskable, fraction=0.15, span=6)
    lengths = [n for row in masked for n in runs(row, 6)]
    assert lengths and min(lengths) >= 6  # overlapping spans merge into longer runs, never shorter


def test_start_probability_formula():
    p = start_probability(0.15, 6)
    assert 1 - (1 - p) ** 6 == pytest.approx(0.15)


def test_unmaskable_positions_are_never_chosen():
    torch.manual_seed(2)
    maskable = torch.rand(100, 100) < 0.5
    for span in (1, 6):
        assert not (choose_masked(maskable, fraction=0.5, span=span) & ~maskable).any()


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(None, kind="nucleotide").hf


def _features(n=64, length=200):
    g = torch.Generator().manual_seed(3)
    return [{"input_ids": [0, *(torch.randint(5, 10, (length - i % 20,), generator=g).tolist()), 2]}
            for i in range(n)]


def test_collator_80_10_10_and_labels(tok):
    torch.manual_seed(4)
    feats = _features(256)
    batch = MaskingCollator(tok, MaskingConfig(strategy="bert", fraction=0.2))(feats)
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    chosen = labels != -100
    assert ids.shape == labels.shape == mask.shape
    assert (mask[:, 0] == 0).any() and (mask[:, -1] == 1).all()  # left padding
    original = torch.where(chosen, labels, ids)
    assert not chosen[torch.isin(original, torch.tensor([0, 1, 2, 3, 4]))].any()  # specials/pads never
    real = ((mask == 1) & ~torch.isin(original, torch.tensor([0, 2]))).sum().item()
    assert chosen.sum().item() / real == pytest.approx(0.2, abs=0.01)
    as_mask = (ids[chosen] == tok.mask_token_id).float().mean().item()
    unchanged = (ids[chosen] == labels[chosen]).float().mean().item()
    assert as_mask == pytest.approx(0.8, abs=0.02)
    assert unchanged == pytest.approx(0.1 + 0.1 * 1 / 5, abs=0.02)  # 10 % kept (+ random hits itself)


def test_randommask_curriculum_grows_the_span(tok):
    cfg = MaskingConfig(strategy="randommask", phases=5, span_start=6, span_step=2)
    collator = MaskingCollator(tok, cfg)
    spans = []
    for step in range(0, 1000, 100):
        collator.set_progress(step, 1000)
        spans.append(collator.span)
    assert spans == [6, 6, 8, 8, 10, 10, 12, 12, 14, 14]
    torch.manual_seed(5)
    batch = collator(_features(128, 400))
    chosen = batch["labels"] != -100
    assert min(n for row in chosen for n in runs(row, 14)) >= 14


def test_bad_masking_config():
    with pytest.raises(ValueError, match="strategy"):
        MaskingConfig(strategy="whole-word")
    with pytest.raises(ValueError, match="fraction"):
        MaskingConfig(fraction=1.5)
