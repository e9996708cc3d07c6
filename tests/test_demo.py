import json

import pytest

from conftest import requires_bundled

pytestmark = [pytest.mark.realdata, requires_bundled]


def test_demo_builds_the_corpus_and_skips_it_on_rerun(run_cli, tmp_path):
    code, _, err = run_cli("demo", "--out", tmp_path / "d", "--quick")
    assert code == 0, err
    info = json.loads((tmp_path / "d" / "corpus" / "manifest.json").read_text())
    written = {s["species"]: s["written"] for s in info["species"]}
    assert written == {"Arabidopsis thaliana": 7156, "Arabidopsis arenosa": 5947}
    code, _, err = run_cli("demo", "--out", tmp_path / "d")
    assert code == 0 and "already done" in err
