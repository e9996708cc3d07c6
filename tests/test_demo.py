import json

import pytest

from conftest import requires_bundled

pytestmark = [pytest.mark.realdata, requires_bundled]


def test_demo_stages_run_and_are_skipped_on_rerun(run_cli, tmp_path):
    code, _, err = run_cli("demo", "--out", tmp_path / "d", "--quick")
    assert code == 0, err
    info = json.loads((tmp_path / "d" / "corpus" / "manifest.json").read_text())
    written = {s["species"]: s["written"] for s in info["species"]}
    assert written == {"Arabidopsis thaliana": 7156, "Arabidopsis arenosa": 5947}
    from florabert.demo import DEMO_LAYOUT
    from florabert.predict import Predictor

    model = Predictor(tmp_path / "d" / "finetune")
    assert model.config.layout.spec == DEMO_LAYOUT and model.config.wide_features > 0
    assert model.config.architecture == "stem" and len(model.gene_features) == 14
    # the stem reads every base of every window: the whole cds window, 3,000 bases
    assert model.bases_read(["|".join(["ACGT" * 250] * 3 + ["ACGT" * 750])]) == [1000, 1000, 1000, 3000]
    code, _, err = run_cli("demo", "--out", tmp_path / "d", "--quick")
    assert code == 0 and err.count("already done") == 8
    audit = json.loads((tmp_path / "d" / "expression" / "audit.json").read_text())
    assert audit["families_in_train_and_test"] == 0
    metrics = json.loads((tmp_path / "d" / "finetune" / "metrics.json").read_text())
    assert -1.0 < metrics["test"]["test_r2_all"] < 1.0  # a real number, from real held-out genes
    # the full model's parts, saved as models of their own: the deep path reads bases only, the wide path none
    deep, wide = Predictor(tmp_path / "d" / "deep_alone"), Predictor(tmp_path / "d" / "wide_alone")
    assert deep.config.wide_features == 0 and not deep.gene_features and wide.config.part_weights[0] == 0.0
    import csv

    with open(tmp_path / "d" / "evaluation" / "metrics.csv") as fh:
        models = {r["model"] for r in csv.DictReader(fh)}
    assert models == {"const_mean", "kmer_linear", "composition", "gene_model", "wide", "kmer_linear@tss:-150:0",
                      "finetune", "deep_alone", "wide_alone"}
    for stage in ("stage1", "stage2"):
        assert (tmp_path / "d" / "pretrain" / stage / "model.safetensors").exists()
    assert json.loads((tmp_path / "d" / "pretrain" / "stage2" / "metrics.json").read_text())["species"] == [
        "Arabidopsis thaliana"]
    d = tmp_path / "d"
    pos = (d / "explain" / "positional" / "positional_importance.csv").read_text().splitlines()
    assert pos[0] == "window,position,length,tissue,importance,n" and len(pos) > 100
    species = json.loads((d / "explain" / "species" / "species_summary.json").read_text())
    assert set(species["species"]) == {"Arabidopsis thaliana", "Arabidopsis arenosa"}
    html = (d / "report.html").read_text()
    for section in ("Gene windows and corpus", "Pre-training", "fine-tuning", "Evaluation", "Explanations",
                    "kmer_linear", "silhouette", "gene_model", "wide-path feature group"):
        assert section in html
    assert html.count("data:image/png;base64,") >= 8  # self-contained: every figure embedded
    # every figure readable at 100 % zoom (constrained layouts' overlap warnings are errors in this suite)
    import matplotlib.image as mpimg

    for png in d.rglob("*.png"):
        h, w = mpimg.imread(png).shape[:2]
        assert 300 <= w <= 2600 and 200 <= h <= 4000, (png, w, h)
    md = (d / "report.md").read_text()
    assert "| const_mean |" in md and "](evaluation/normalized_mse.png)" in md


def test_a_stage_finished_with_other_settings_is_redone_with_every_later_stage(tmp_path):
    from rich.console import Console

    from florabert.demo import _Stages
    from florabert.outputs import write_marker

    runs = []

    def stage(name, out):
        def run():
            runs.append(name)
            (out / name).mkdir()
            write_marker(out / name, "demo")  # as every stage's own command marks its folder
            (out / name / "data.txt").write_text(name)
            return {"name": name}
        return run

    def demo(steps, force=False):
        runs.clear()
        stages = _Stages(Console(quiet=True), force)
        for name, settings in (("a", {"layout": "tss:-150:0"}), ("b", {"steps": steps}), ("c", {"n": 1})):
            assert stages(name, tmp_path / name, settings, stage(name, tmp_path))["name"] == name
        return list(runs)

    assert demo(20) == ["a", "b", "c"]
    assert demo(20) == []  # the same settings: every stage skipped
    assert demo(600) == ["b", "c"]  # b's settings changed: b and what reads it, not a
    assert json.loads((tmp_path / "b" / ".done").read_text())["settings"] == {"steps": 600}
    (tmp_path / "b" / ".done").unlink()  # an interrupted stage
    assert demo(600) == ["b", "c"]
    assert demo(600, force=True) == ["a", "b", "c"]
