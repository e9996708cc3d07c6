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
    logged = []
    collator = MaskingCollator(tok, cfg, total_steps=10, accumulation=2, log=logged.append)
    spans = []
    for _ in range(20):  # 10 optimizer steps of 2 accumulated batches
        collator([{"input_ids": [0, 5, 6, 2]}])
        spans.append(collator.span)
    assert spans == [6] * 4 + [8] * 4 + [10] * 4 + [12] * 4 + [14] * 4
    assert logged[0] == "RandomMask: phase 2/5 from step 3: span length 8" and len(logged) == 4
    resumed = MaskingCollator(tok, cfg, total_steps=10, accumulation=2)
    resumed.start_at(5)
    resumed([{"input_ids": [0, 5, 6, 2]}])
    assert resumed.span == 10  # step 6 of 10: phase 3
    ev = collator.for_eval()
    ev([{"input_ids": [0, 5, 6, 2]}])
    assert ev.span == 6 and collator.batches == 20  # evaluation neither advances nor follows training
    batch = collator(_features(128, 400))
    chosen = batch["labels"] != -100
    assert min(n for row in chosen for n in runs(row, 14)) >= 14


def test_bad_masking_config():
    with pytest.raises(ValueError, match="strategy"):
        MaskingConfig(strategy="whole-word")
    with pytest.raises(ValueError, match="fraction"):
        MaskingConfig(fraction=1.5)


def test_masks_depend_on_batch_seed_and_phase_not_on_global_rng(tok):
    feats, other = _features(8), _features(9)[1:]
    cfg = MaskingConfig(strategy="randommask", phases=2, span_start=3)

    def labels(batch, seed=0, step=0):
        c = MaskingCollator(tok, cfg, seed=seed, total_steps=100)
        c.start_at(step)
        torch.manual_seed(seed + step + len(batch))  # the global generator must not matter
        return c(batch)["labels"]

    assert torch.equal(labels(feats), labels(feats))  # a resumed run re-masks a batch identically
    assert not torch.equal(labels(feats), labels(other))  # other batch (step, epoch, rank): other masks
    assert not torch.equal(labels(feats, seed=0), labels(feats, seed=1))
    assert not torch.equal(labels(feats, step=0), labels(feats, step=60))  # curriculum phase 2
