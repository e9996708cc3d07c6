import subprocess
import sys

import pytest
import torch

from florabert.modeling import FloraBertConfig, FloraBertForMaskedLM, FloraBertModel, tss_position_ids
from florabert.tokenization import train_tokenizer


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(None, kind="kmer", k=3, stride=3)


@pytest.fixture(scope="module")
def tiny_config(tok):
    return FloraBertConfig.from_tokenizer(tok.hf, max_length=64, hidden_size=32, num_hidden_layers=2,
                                          num_attention_heads=2, intermediate_size=64)


def test_position_ids_count_from_the_last_real_token():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    pos = tss_position_ids(mask, max_positions=10, padding_idx=1)
    assert pos.tolist() == [[1, 1, 7, 8, 9], [5, 6, 7, 8, 9], [7, 8, 9, 1, 1]]
    with pytest.raises(ValueError, match="longer than"):
        tss_position_ids(torch.ones(1, 9, dtype=torch.long), max_positions=10, padding_idx=1)


def test_config_takes_special_ids_from_the_tokenizer(tok, tiny_config):
    assert (tiny_config.pad_token_id, tiny_config.bos_token_id, tiny_config.eos_token_id) == (1, 0, 2)
    assert tiny_config.vocab_size == len(tok.hf)
    assert tiny_config.max_position_embeddings == 64 + 1 + 1


@pytest.mark.parametrize("cls", [FloraBertModel, FloraBertForMaskedLM])
def test_left_padding_does_not_change_real_token_outputs(tok, tiny_config, cls):
    torch.manual_seed(0)
    model = cls(tiny_config).eval()
    seq = "ACGTTGACCA" * 3
    alone = tok([seq], return_tensors="pt")
    padded = tok([seq, seq + "ACGTACGTAC" * 4], padding=True, return_tensors="pt")
    n = alone["input_ids"].shape[1]
    assert padded["input_ids"].shape[1] > n  # the short one really got left padding
    with torch.no_grad():
        out_a, out_p = model(**alone), model(**padded)
    key = "last_hidden_state" if cls is FloraBertModel else "logits"
    assert torch.allclose(out_a[key][0], out_p[key][0, -n:], atol=1e-5)


def test_import_florabert_registers_auto_classes_without_importing_torch(tmp_path, tiny_config):
    FloraBertForMaskedLM(tiny_config).save_pretrained(tmp_path)
    code = (
        "import sys\nimport florabert\n"
        "assert 'torch' not in sys.modules, 'import florabert imported torch'\n"
        "from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM\n"
        f"m = AutoModelForMaskedLM.from_pretrained({str(tmp_path)!r})\n"
        f"e = AutoModel.from_pretrained({str(tmp_path)!r})\n"
        f"c = AutoConfig.from_pretrained({str(tmp_path)!r})\n"
        "print(type(m).__name__, type(e).__name__, type(c).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["FloraBertForMaskedLM", "FloraBertModel", "FloraBertConfig"]


def test_registration_when_transformers_auto_is_already_imported(tmp_path, tiny_config):
    FloraBertForMaskedLM(tiny_config).save_pretrained(tmp_path)
    code = ("from transformers import AutoModelForMaskedLM\nimport florabert\n"
            f"print(type(AutoModelForMaskedLM.from_pretrained({str(tmp_path)!r})).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "FloraBertForMaskedLM"


def test_save_load_round_trip_gives_identical_outputs(tok, tiny_config, tmp_path):
    torch.manual_seed(1)
    model = FloraBertForMaskedLM(tiny_config).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    again = FloraBertForMaskedLM.from_pretrained(tmp_path).eval()
    batch = tok(["ACGTAGGCTA", "TTGACA"], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, again(**batch).logits)


def test_sparse_prediction_gives_the_dense_loss(tok, tiny_config):
    torch.manual_seed(3)
    model = FloraBertForMaskedLM(tiny_config).eval()
    batch = tok(["ACGTAGGCTAGGAT", "TTGACA"], padding=True, return_tensors="pt")
    labels = torch.full_like(batch["input_ids"], -100)
    labels[0, 2], labels[0, 4], labels[1, -2] = 7, 9, 11
    with torch.no_grad():
        sparse = model(**batch, labels=labels)
        model.config.sparse_prediction = False
        dense = model(**batch, labels=labels)
        model.config.sparse_prediction = True
    assert sparse.logits.shape == (3, tiny_config.vocab_size)
    assert torch.allclose(sparse.loss, dense.loss, atol=1e-6)
    assert torch.allclose(sparse.logits, dense.logits[labels != -100], atol=1e-6)
