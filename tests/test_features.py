"""The wide path's composition features: counted straight from the sequence, and updated from a reference for
its edited copies (explain ism, positional, variants) with the same numbers."""

from itertools import product

import numpy as np
import pytest

from florabert import features
from florabert.layout import Layout


def straight(seq: str, ks: list[int], coding: bool) -> np.ndarray:
    """k-mer and codon frequencies by Python loops over the sequence: the definition, nothing shared."""
    out = []
    for k in ks:
        counts = dict.fromkeys(("".join(p) for p in product("ACGT", repeat=k)), 0)
        for i in range(len(seq) - k + 1):
            kmer = seq[i:i + k].upper()
            if kmer in counts:
                counts[kmer] += 1
        total = sum(counts.values())
        out.extend(c / total if total else 0.0 for c in counts.values())
    if coding:
        counts = dict.fromkeys(("".join(p) for p in product("ACGT", repeat=3)), 0)
        for i in range(0, len(seq) - len(seq) % 3, 3):
            if seq[i:i + 3].upper() in counts:
                counts[seq[i:i + 3].upper()] += 1
        total = sum(counts.values())
        out.extend(c / total if total else 0.0 for c in counts.values())
    return np.array(out, dtype=np.float32)


def random_window(rng, n: int) -> str:
    seq = list(rng.choice(list("ACGTacgt"), n))
    for i in rng.choice(n, 3, replace=False):  # a few non-ACGT bases: their k-mers and codons are skipped
        seq[i] = "N"
    return "".join(seq)


def test_features_of_whole_windows_equal_the_definition():
    rng = np.random.default_rng(0)
    layout = Layout.parse("tss:-40:+20,cds:0:+31")
    seqs = [random_window(rng, 60) + "|" + random_window(rng, 31) for _ in range(3)] + ["ACG|AC"]
    got = features.window_features(seqs, [1, 2, 4], layout)
    assert got.shape == (4, features.n_features([1, 2, 4], layout))
    for row, s in zip(got, seqs, strict=True):
        a, b = s.split("|")
        want = np.concatenate([straight(a, [1, 2, 4], False), straight(b, [1, 2, 4], True)])
        np.testing.assert_allclose(row, want, rtol=1e-6)


@pytest.mark.parametrize("coding", [False, True])
def test_edited_copies_equal_their_features_computed_whole(coding):
    """Substitutions at every place (the ends included, next to N bases), stretches up to EDIT_MAX bases, N put
    in and taken out: updated from the reference, each copy's features equal its own computed whole."""
    rng = np.random.default_rng(1)
    layout = Layout.parse("cds:0:+100" if coding else "tss:-50:+50")
    ks = [1, 2, 3, 4]
    ref = random_window(rng, 100)
    mutants = []
    for i in range(len(ref)):  # saturation mutagenesis: every base, every other base
        mutants += [ref[:i] + b + ref[i + 1:] for b in "ACGTN" if b != ref[i].upper()]
    for width in (2, 7, features.EDIT_MAX):
        for lo in (0, min(37, 100 - width), 100 - width):
            piece = "".join(rng.choice(list("ACGTN"), width))
            mutants.append(ref[:lo] + piece + ref[lo + width:])
    features.window_features([ref], ks, layout)
    n = len(features._COMPOSITION[(tuple(ks), coding)])
    got = features.window_features(mutants, ks, layout)
    assert len(features._COMPOSITION[(tuple(ks), coding)]) == n  # updated from the reference, none computed whole
    want = np.stack([straight(m, ks, coding) for m in mutants])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_a_gene_whose_other_windows_are_unchanged_reuses_them():
    layout = Layout.parse("tss:-30:+30,tts:-30:+30")
    rng = np.random.default_rng(2)
    a, b = random_window(rng, 60), random_window(rng, 60)
    features.window_features([f"{a}|{b}"], [2, 3], layout)
    mutant = "T" * 60 + "|" + b  # a new first window (no reference to update it from), the second one as before
    got = features.window_features([mutant, f"{a}|{b}"], [2, 3], layout)
    np.testing.assert_allclose(got[0], np.concatenate([straight("T" * 60, [2, 3], False),
                                                       straight(b, [2, 3], False)]), rtol=1e-6)
    np.testing.assert_allclose(got[1], np.concatenate([straight(a, [2, 3], False), straight(b, [2, 3], False)]),
                               rtol=1e-6)


def test_trees_read_from_lightgbms_text_equal_lightgbms_predictions(tmp_path):
    """The NumPy reader of LightGBM's text format against lightgbm itself: NaN and zero as missing values
    (each missing type), a constant tree, and the bundled model's own booster."""
    import lightgbm

    from florabert.bundled import resolve_model
    from florabert.lgbmtext import TextTrees, load_booster

    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 6))
    x[rng.random(x.shape) < 0.1] = np.nan
    x[rng.random(x.shape) < 0.1] = 0.0
    y = np.nansum(x[:, :3], axis=1) + (x[:, 3] > 0.5) + np.isnan(x[:, 4])
    for params in ({}, {"zero_as_missing": True}, {"use_missing": False}):
        booster = lightgbm.train({"objective": "regression", "num_leaves": 7, "verbose": -1, **params},
                                 lightgbm.Dataset(x, y), num_boost_round=25)
        path = tmp_path / "m.txt"
        booster.save_model(str(path))
        trees = TextTrees(path)
        assert trees.num_trees() == booster.num_trees()
        np.testing.assert_allclose(trees.predict(x), booster.predict(x), rtol=1e-12, atol=1e-12)
    path = resolve_model("arabidopsis-leaf") / "wide_lgbm_0.txt"
    trees, booster = TextTrees(path), lightgbm.Booster(model_file=str(path))
    z = rng.random((50, trees.n_features)) * 5
    np.testing.assert_allclose(trees.predict(z), booster.predict(z), rtol=1e-12, atol=1e-12)
    # a file this reader does not cover (another objective) is lightgbm's; a truncated one an error (lightgbm
    # aborts the process on it)
    binary = lightgbm.train({"objective": "binary", "verbose": -1}, lightgbm.Dataset(x, y > 1), num_boost_round=3)
    binary.save_model(str(tmp_path / "b.txt"))
    assert isinstance(load_booster(tmp_path / "b.txt"), lightgbm.Booster)
    (tmp_path / "t.txt").write_text(path.read_text()[:len(path.read_text()) // 2])
    with pytest.raises(ValueError, match="truncated"):
        load_booster(tmp_path / "t.txt")


def test_copies_of_many_references_in_one_call_equal_their_features_computed_whole():
    """explain variants: references of different lengths and one edited copy of each, side by side in one call
    (the references first, as variants orders them), coding windows included."""
    rng = np.random.default_rng(4)
    layout = Layout.parse("tss:-60:+20,cds:0:+90")
    refs, mutants = [], []
    for n in range(12):
        a, b = random_window(rng, 80 - n), random_window(rng, 90 - 2 * n)
        i, j = int(rng.integers(0, len(a))), int(rng.integers(0, len(b) - 2))
        refs.append(f"{a}|{b}")
        mutants.append(f"{a[:i]}{'ACGT'[n % 4]}{a[i + 1:]}|{b[:j]}{'TTG'[:2]}{b[j + 2:]}")
    got = features.window_features(refs + mutants, [1, 2, 3], layout)
    computed_whole = features._COMPOSITION[((1, 2, 3), False)]
    assert not any(m.split("|")[0] in computed_whole for m in mutants)  # updated from their references
    for row, s in zip(got, refs + mutants, strict=True):
        a, b = s.split("|")
        want = np.concatenate([straight(a, [1, 2, 3], False), straight(b, [1, 2, 3], True)])
        np.testing.assert_allclose(row, want, rtol=1e-6, atol=1e-7)
