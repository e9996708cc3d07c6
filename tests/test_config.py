import pytest

from florabert.config import PretrainConfig, dump_config, load_config
from florabert.errors import FloraBertError, InputError


def test_preset_then_file_then_overrides(tmp_path):
    (tmp_path / "run.yaml").write_text("learning_rate: 5.0e-4\nmodel: {num_hidden_layers: 3}\n")
    cfg = load_config(PretrainConfig, preset="tiny", file=tmp_path / "run.yaml",
                      overrides={"model.hidden_size": 96, "max_steps": None, "masking.strategy": "span"})
    assert cfg.model.hidden_size == 96  # command line wins
    assert cfg.model.num_hidden_layers == 3  # file over preset
    assert cfg.model.intermediate_size == 128  # preset over defaults
    assert cfg.learning_rate == 5e-4 and cfg.max_steps == 600  # None = not given on the command line
    assert cfg.masking.strategy == "span"
    dump_config(cfg, tmp_path / "resolved.yaml")
    assert load_config(PretrainConfig, file=tmp_path / "resolved.yaml") == cfg  # round trip


def test_paper_preset_is_floraberts_architecture():
    m = load_config(PretrainConfig, preset="paper").model
    assert (m.num_hidden_layers, m.num_attention_heads, m.hidden_size, m.intermediate_size, m.max_length) == (
        6, 6, 768, 3072, 256)


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"preset": "huge"}, FloraBertError, "unknown preset 'huge'"),
        ({"overrides": {"model.hiden_size": 3}}, FloraBertError, "unknown option 'model.hiden_size'"),
        ({"overrides": {"masking.strategy": "whole-word"}}, FloraBertError, "masking.strategy: must be one of"),
    ],
)
def test_config_errors(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        load_config(PretrainConfig, **kwargs)


def test_bad_yaml_names_file_and_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("model:\n  hidden_size: [64\n")
    with pytest.raises(InputError, match=r"bad\.yaml:\d+"):
        load_config(PretrainConfig, file=tmp_path / "bad.yaml")
    with pytest.raises(InputError, match="file not found"):
        load_config(PretrainConfig, file=tmp_path / "missing.yaml")
