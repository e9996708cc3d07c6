"""JASPAR motifs: the bundled non-redundant set, the convolution scanner against Biopython's PSSM scores, planted
sites found at the right place and strand."""

import numpy as np
import pytest

from florabert.motifs.jaspar import cluster_table, nonredundant, plant_matrices
from florabert.motifs.scan import Scanner, scan_genes

COMP = str.maketrans("ACGT", "TGCA")


@pytest.fixture(scope="module")
def matrices():
    return nonredundant()


def test_the_bundled_clusters_cover_every_plant_matrix_once():
    rows = cluster_table()
    ids = [m.matrix_id for m in plant_matrices()]
    assert sorted(r["matrix_id"] for r in rows) == sorted(ids)
    clusters = {r["cluster"] for r in rows}
    medoids = [r for r in rows if r["is_medoid"] == "1"]
    assert len(medoids) == len(clusters) and len(clusters) < len(ids)
    # near-identical matrices share a cluster: the WRKY family's W-boxes fall into a few clusters, the largest
    # of them WRKY matrices only
    wrky = [r["cluster"] for r in rows if r["family"] == "WRKY"]
    assert len(set(wrky)) <= len(wrky) / 4
    largest = max(set(wrky), key=wrky.count)
    assert {r["family"] for r in rows if r["cluster"] == largest} == {"WRKY"}


def _biopython_best(m, seq: str) -> float:
    from Bio import motifs
    from Bio.Seq import Seq

    counts = {b: list(m.counts["ACGT".index(b)]) for b in "ACGT"}
    best = -np.inf
    for s in (seq, seq.translate(COMP)[::-1]):  # the minus strand: the reverse complement, its own composition
        bg = {b: (s.count(b) + 1) / (len(s) + 4) for b in "ACGT"}
        pssm = motifs.Motif(counts=counts).counts.normalize(pseudocounts=0.25).log_odds(bg)
        best = max(best, float(np.max(pssm.calculate(Seq(s)))))
    return best


def test_scores_equal_biopythons_pssm_on_both_strands(matrices):
    rng = np.random.default_rng(0)
    probs = [.32, .18, .18, .32]
    seqs = ["".join(rng.choice(list("ACGT"), int(rng.integers(30, 300)), p=probs)) for _ in range(4)]
    chosen = matrices[::20]
    res = Scanner(chosen).scan(seqs)
    for g, s in enumerate(seqs):
        for i, m in enumerate(chosen):
            if len(s) >= m.width:
                assert res.score[g, i] == pytest.approx(_biopython_best(m, s), abs=1e-3)


@pytest.mark.parametrize("strand", ["+", "-"])
def test_a_planted_site_is_found_at_its_place_and_strand(matrices, strand):
    from florabert.layout import Layout

    rng = np.random.default_rng(1)
    m = next(x for x in matrices if x.width >= 10)
    best = "".join("ACGT"[k] for k in m.counts.argmax(0))  # the matrix's consensus
    site = best if strand == "+" else best.translate(COMP)[::-1]
    lay = Layout.parse("tss:-300:0,cds:0:+200")
    genes = []
    for _ in range(6):
        a = list("".join(rng.choice(list("ACGT"), 300)))
        a[300 - 80:300 - 80 + len(site)] = site  # the site's first base at -80
        genes.append("".join(a) + "|" + "".join(rng.choice(list("ACGT"), 200)))
    scans = scan_genes(genes, lay, [m])
    tss = scans[0]
    assert (tss.start[:, 0] == -80).all() and (tss.strand[:, 0] == (1 if strand == "+" else -1)).all()
    assert (tss.relative[:, 0] > 0.95).all() and (tss.hits[:, 0] >= 1).all()


def test_sites_over_an_edit_are_the_best_of_the_overlapping_sites(matrices):
    from florabert.motifs.annotate import edit_span

    rng = np.random.default_rng(2)
    chosen = matrices[::25]
    seqs = ["".join(rng.choice(list("ACGT"), 200)) for _ in range(3)]
    spans = [(100, 101), (5, 7), (190, 200)]
    got = Scanner(chosen).sites_over(seqs, spans)
    for g, (s, (a, b)) in enumerate(zip(seqs, spans, strict=True)):
        # the oracle: every overlapping site scored on its own against the whole sequence's composition
        log_bg = np.log2([(s.count(c) + 1) / (len(s) + 4) for c in "ACGT"])
        for i, m in enumerate(chosen):
            lp = np.log2(m.probabilities())
            best = -np.inf
            for k in range(max(0, a - m.width + 1), min(b, len(s) - m.width + 1)):
                site = ["ACGT".index(c) for c in s[k:k + m.width]]
                fwd = sum(lp[c, j] - log_bg[c] for j, c in enumerate(site))
                rev = sum(lp[3 - c, m.width - 1 - j] - log_bg[c] for j, c in enumerate(site))
                best = max(best, fwd, rev)
            assert got.score[g, i] == pytest.approx(best, abs=1e-3)
    assert edit_span("AACGTT", "AAGGTT") == ((2, 3), (2, 3))
    assert edit_span("AACGTT", "AACGGATT") == ((4, 4), (4, 6))  # an insertion: empty on the reference


def test_importance_on_planted_sites_is_enriched_over_chance(matrices):
    from florabert.motifs.annotate import importance_enrichment
    from florabert.motifs.scan import Scanner

    rng = np.random.default_rng(4)
    m = next(x for x in matrices if x.width >= 10)
    site = "".join("ACGT"[k] for k in m.counts.argmax(0))
    seqs, importance = [], []
    for _ in range(8):
        a = list("".join(rng.choice(list("ACGT"), 200)))
        at = int(rng.integers(10, 150))
        a[at:at + len(site)] = site
        b = "".join(rng.choice(list("ACGT"), 120))
        seqs.append("".join(a) + "|" + b)
        imp = np.abs(rng.normal(0, 0.05, len(seqs[-1])))
        imp[at:at + len(site)] += 1.0  # the model's importance on the planted site
        imp[:5] = np.nan  # unmeasured bases are skipped
        importance.append(imp)
    chosen = [x for x in matrices[:60] if x.matrix_id != m.matrix_id] + [m]
    rows = importance_enrichment(seqs, importance, scanner=Scanner(chosen))
    mine = next(r for r in rows if r["matrix_id"] == m.matrix_id)
    assert mine["sites"] == 8 and mine["ratio"] > 5 and mine["p_value"] < 0.01
    # matrices whose sites fall elsewhere get chance's share (a few similar matrices also hit the planted site)
    assert np.median([r["ratio"] for r in rows if r["matrix_id"] != m.matrix_id]) < 1.5


def test_motif_inputs_of_mutants_reuse_unchanged_windows_and_equal_a_fresh_scan(matrices):
    from florabert import features
    from florabert.motifs.scan import motif_features

    rng = np.random.default_rng(5)
    ref = "".join(rng.choice(list("ACGT"), 150)) + "|" + "".join(rng.choice(list("ACGT"), 90))
    mutants = [ref[:i] + ("A" if ref[i] != "A" else "C") + ref[i + 1:] for i in (3, 40, 160, 200)]
    features._WINDOW_CACHE.clear()
    got = features.motif_inputs([ref, *mutants])
    assert len(features._WINDOW_CACHE) == 6  # each window: the reference and the two mutants changing it
    scanner = Scanner(matrices)
    parts = [s.split("|") for s in [ref, *mutants]]
    fresh = motif_features([scanner.scan([p[j] for p in parts]) for j in range(2)])
    np.testing.assert_array_equal(got, fresh)
    np.testing.assert_array_equal(features.motif_inputs(mutants[::-1]), fresh[1:][::-1])


def test_edited_copies_score_as_a_fresh_scan_of_each(matrices):
    """Scanner.edited (explain ism / positional: a window's mutants from its own sites) against scanning every
    mutant whole: single-base substitutions at the ends and inside, longer stretches, N, rare composition
    changes (scanned whole) and a window narrower than every matrix."""
    rng = np.random.default_rng(11)
    scanner = Scanner(matrices)
    for ref in ("".join(rng.choice(list("ACGT"), 400, p=[.35, .15, .15, .35])),
                "".join(rng.choice(list("ACGTN"), 60)), "ACGTA"):
        mutants, spans = [], []
        for i in [0, 1, len(ref) - 1, *rng.integers(0, len(ref), 12)]:
            for b in "ACGT":
                if b != ref[i]:
                    mutants.append(ref[:i] + b + ref[i + 1:])
                    spans.append((int(i), int(i) + 1))
        for n in (3, 8):
            for _ in range(4):
                i = int(rng.integers(0, len(ref) - n + 1)) if len(ref) >= n else 0
                mutants.append(ref[:i] + "".join(rng.choice(list("ACGTN"), min(n, len(ref)))) + ref[i + n:])
                spans.append((i, min(i + n, len(ref))))
        score, hits = scanner.edited(scanner.reference(ref), mutants, spans)
        fresh = scanner.scan(mutants, where=False)
        assert np.array_equal(np.isfinite(score), np.isfinite(fresh.score))
        fin = np.isfinite(score)
        np.testing.assert_allclose(score[fin], fresh.score[fin], atol=1e-4)
        np.testing.assert_array_equal(hits, fresh.hits)


def test_motif_inputs_of_a_saturation_mutagenesis_take_the_edited_path(matrices):
    from florabert import features
    from florabert.motifs.scan import motif_features

    rng = np.random.default_rng(2)
    ref = "".join(rng.choice(list("ACGT"), 200)) + "|" + "".join(rng.choice(list("ACGT"), 120))
    mutants = [ref[:i] + b + ref[i + 1:] for i in range(0, 200, 7) for b in "ACGT" if b != ref[i]]
    for cache in (features._WINDOW_CACHE, features._ANCHORS, features._REFERENCES):
        cache.clear()
    features.motif_inputs([ref])
    got = features.motif_inputs(mutants)
    assert list(features._REFERENCES) == [ref.split("|")[0]]  # the mutated window's sites were reused
    scanner = Scanner(matrices)
    fresh = motif_features([scanner.scan([m.split("|")[j] for m in mutants]) for j in range(2)])
    np.testing.assert_allclose(got, fresh, atol=1e-4)


def test_the_wide_path_scans_the_tss_windows_unless_told(matrices):
    from florabert import features
    from florabert.layout import Layout
    from florabert.modeling.configuration import FloraBertConfig

    lay = Layout.parse("tss:-150:+300,tts:-100:+100,cds:0:+300")
    assert features.motif_windows(lay) == [0]
    assert features.motif_windows(lay, "noncoding") == [0, 1] and features.motif_windows(lay, "all") == [0, 1, 2]
    assert features.n_motif_features(lay, [0, 1]) == 2 * features.n_motif_features(lay) // 3
    rng = np.random.default_rng(4)
    seqs = ["|".join("".join(rng.choice(list("ACGT"), n)) for n in (450, 200, 300)) for _ in range(3)]
    every = features.motif_inputs(seqs)
    np.testing.assert_array_equal(features.motif_inputs(seqs, [0, 1]), every[:, :every.shape[1] * 2 // 3])
    # a model records what it scans; one saved before the option scans every window
    assert features.model_motifs(FloraBertConfig(wide_motifs=True)) is True
    assert features.model_motifs(FloraBertConfig(wide_motifs=True, wide_motif_windows=[0, 1])) == [0, 1]
    assert features.model_motifs(FloraBertConfig(wide_motifs=False, wide_motif_windows=[0])) is False


def test_the_medoids_read_in_three_queries_equal_pyjaspars_own_fetch(matrices):
    """florabert reads the medoids straight from pyjaspar's tables; pyjaspar's fetch_motif_by_id is the oracle."""
    from pyjaspar import jaspardb

    from florabert.motifs.jaspar import _matrix

    db = jaspardb()
    for m in matrices:
        want = _matrix(db.fetch_motif_by_id(m.matrix_id))
        assert (m.matrix_id, m.name, m.family, m.tf_class) == (want.matrix_id, want.name, want.family,
                                                               want.tf_class)
        np.testing.assert_array_equal(m.counts, want.counts)
