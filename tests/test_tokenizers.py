import itertools
import json
import random
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from florabert.errors import FloraBertError
from florabert.tokenization import SPECIAL_TOKENS, DNATokenizer, length_stats, train_tokenizer

KINDS = [("bpe", 6, None), ("kmer", 6, 6), ("kmer", 6, 1), ("kmer", 3, 3), ("nucleotide", 1, 1)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """300 random promoters (with a planted repeat so BPE has something to merge) as a Parquet file."""
    rng = random.Random(0)
    seqs = ["".join(rng.choice("ACGT") for _ in range(rng.randint(150, 300))) + "TATAAA" * 3
            for _ in range(300)]
    path = tmp_path_factory.mktemp("corpus") / "corpus.parquet"
    pq.write_table(pa.table({"species": ["x"] * len(seqs), "gene_id": [f"g{i}" for i in range(len(seqs))],
                             "sequence": seqs}), path)
    return path


@pytest.fixture(scope="module")
def tokenizers(corpus, tmp_path_factory):
    out = {}
    for kind, k, stride in KINDS:
        tok = train_tokenizer(corpus, kind=kind, k=k, stride=stride, vocab_size=120, show_progress=False)
        path = tmp_path_factory.mktemp(f"{kind}{k}{stride}")
        tok.save(path)
        out[(kind, k, stride)] = (DNATokenizer.load(path), path)
    return out


@pytest.mark.parametrize("key", KINDS)
def test_special_tokens_have_fixed_ids(tokenizers, key):
    tok, _ = tokenizers[key]
    assert [tok.hf.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert (tok.hf.bos_token_id, tok.hf.pad_token_id, tok.hf.eos_token_id, tok.hf.mask_token_id) == (0, 1, 2, 4)
    ids = tok("ACGTACGTAC")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2


@pytest.mark.parametrize("key", [("bpe", 6, None), ("kmer", 6, 6), ("kmer", 3, 3), ("nucleotide", 1, 1)])
def test_round_trip(tokenizers, key):
    tok, _ = tokenizers[key]
    rng = random.Random(1)
    for n in (1, 2, 5, 6, 7, 100, 257):
        seq = "".join(rng.choice("ACGTN") for _ in range(n))
        assert tok.decode(tok(seq)["input_ids"]) == seq


def test_overlapping_kmer_token_i_covers_bases_i_to_i_plus_k(tokenizers):
    tok, _ = tokenizers[("kmer", 6, 1)]
    seq = "ACGTTGCAAGGCTTAN"
    tokens = tok.hf.convert_ids_to_tokens(tok(seq, add_special_tokens=False)["input_ids"])
    assert len(tokens) == len(seq) - 6 + 1
    assert tokens == [seq[i:i + 6] for i in range(len(tokens))]
    assert tok.decode(tok(seq)["input_ids"]) == seq


def test_non_overlapping_kmers_are_anchored_at_the_tss(tokenizers):
    tok, _ = tokenizers[("kmer", 3, 3)]
    tokens = tok.hf.convert_ids_to_tokens(tok("ACGTACGT", add_special_tokens=False)["input_ids"])
    assert tokens == ["AC", "GTA", "CGT"]  # the 5' remainder is the short token; the last ends at the TSS


@pytest.mark.parametrize("key", KINDS)
def test_lower_case_and_iupac_normalize_the_same_way(tokenizers, key):
    tok, _ = tokenizers[key]
    assert tok("acgtRYKMacgtnn")["input_ids"] == tok("ACGTNNNNACGTNN")["input_ids"]


@pytest.mark.parametrize("key", KINDS)
def test_left_padding_and_left_truncation_keep_the_tss_end(tokenizers, key):
    tok, _ = tokenizers[key]
    long, short = "GATTACA" * 30 + "CCCCGGGGTT", "ACGTAC" * 3
    full = tok(long)["input_ids"]
    cut = tok(long, truncation=True, max_length=12)["input_ids"]
    assert len(cut) == 12 and cut[0] == 0 and cut[-1] == 2
    assert cut[1:-1] == full[-11:-1]  # the 3' (TSS) end is kept
    batch = tok([long, short], padding=True)
    ids, mask = batch["input_ids"][1], batch["attention_mask"][1]
    n_real = len(tok(short)["input_ids"])
    assert ids[: len(ids) - n_real] == [1] * (len(ids) - n_real)  # pads on the left
    assert ids[-n_real:] == tok(short)["input_ids"] and sum(mask) == n_real


@pytest.mark.parametrize("key", KINDS)
def test_plain_autotokenizer_in_a_clean_process(tokenizers, key):
    tok, path = tokenizers[key]
    text = tok.prepare("ACGTACGTTTGACCAnnRACGT")
    code = (
        "import json, sys\n"
        "from transformers import AutoTokenizer\n"
        f"t = AutoTokenizer.from_pretrained({str(path)!r})\n"
        f"print(json.dumps([t({text!r})['input_ids'], t.padding_side, t.truncation_side,"
        " any(m.startswith('florabert') for m in sys.modules)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    ids, pad_side, trunc_side, imported = json.loads(out.stdout)
    assert ids == tok("ACGTACGTTTGACCAnnRACGT")["input_ids"]
    assert (pad_side, trunc_side, imported) == ("left", "left", False)


def test_bpe_merges_the_planted_repeat(tokenizers):
    tok, _ = tokenizers[("bpe", 6, None)]
    assert len(tok("TATAAA" * 3, add_special_tokens=False)["input_ids"]) <= 3


def test_length_stats_counts_truncation(tokenizers, corpus):
    tok, _ = tokenizers[("nucleotide", 1, 1)]
    st = length_stats(tok, corpus, max_length=250)
    assert st["sequences"] == 300 and st["min"] >= 150 + 18 + 2 and st["max"] <= 300 + 18 + 2
    lengths = [len(s) + 2 for s in pq.read_table(corpus).column("sequence").to_pylist()]
    assert st["truncated"] == sum(n > 250 for n in lengths)
    assert st["mean"] == pytest.approx(sum(lengths) / len(lengths))


def test_errors(tmp_path):
    with pytest.raises(FloraBertError, match="needs --corpus"):
        train_tokenizer(None, kind="bpe")
    with pytest.raises(FloraBertError, match="stride"):
        train_tokenizer(None, kind="kmer", k=6, stride=2)
    with pytest.raises(FloraBertError, match="not a tokenizer"):
        DNATokenizer.load(tmp_path)


def test_cli_train_and_stats(run_cli, corpus, tmp_path):
    code, _, err = run_cli("tokenizer", "train", "--corpus", corpus, "--kind", "bpe", "--vocab-size", 100,
                           "--out", tmp_path / "tok")
    assert code == 0, err
    code, out, err = run_cli("tokenizer", "stats", "--tokenizer", tmp_path / "tok", "--corpus", corpus)
    assert code == 0 and "300 promoters" in out
    code, _, err = run_cli("tokenizer", "train", "--kind", "kmer", "--k", 4, "--stride", 3, "--out",
                           tmp_path / "bad")
    assert code == 1 and "stride" in err and not (tmp_path / "bad").exists()


@pytest.mark.parametrize("key", KINDS)
def test_fast_path_gives_the_saved_tokenizers_ids(tokenizers, key):
    tok, _ = tokenizers[key]
    rng = random.Random(2)
    seqs = ["".join(rng.choice("ACGTACGTACGTNacgtRYKMSWnu") for _ in range(rng.randint(0, 40)))
            for _ in range(200)] + ["ACGT" * 80, "AC GT\nAC", "ACGTÄCGT"]
    for opts in ({}, {"padding": True}, {"truncation": True, "max_length": 9},
                 {"padding": "max_length", "max_length": 50, "truncation": True},
                 {"add_special_tokens": False}):
        reference = tok.hf([tok.prepare(s) for s in seqs], **opts)
        fast = tok(seqs, **opts)
        assert fast["input_ids"] == reference["input_ids"], opts
        assert fast["attention_mask"] == reference["attention_mask"], opts
    assert tok(seqs[0])["input_ids"] == tok.hf(tok.prepare(seqs[0]))["input_ids"]
    tensors = tok(seqs[:4], padding=True, return_tensors="np")
    assert tensors["input_ids"].shape == tensors["attention_mask"].shape


@pytest.mark.parametrize("key", KINDS)
def test_base_spans_cover_the_bases_each_token_spells(tokenizers, key):
    """Every real token's span spells the token (overlapping k-mers: the k-mer at that base), spans tile
    the kept 3' end of the sequence, and truncation keeps the spans of the surviving tokens."""
    tok, _ = tokenizers[key]
    rng = random.Random(7)
    for n in (7, 64, 301):
        seq = "".join(rng.choice("ACGT") for _ in range(n)) + "TATAAA"
        for max_length in (None, 12):
            ids = tok(seq, truncation=max_length is not None, max_length=max_length)["input_ids"]
            start, end = tok.base_spans(ids, len(seq))
            tokens = tok.hf.convert_ids_to_tokens(ids)
            real = [j for j, t in enumerate(tokens) if t not in SPECIAL_TOKENS]
            assert [j for j in range(len(ids)) if start[j] == end[j]] == [0, len(ids) - 1]
            for j in real:
                assert seq[start[j]:end[j]] == tokens[j]
            assert end[real[-1]] == len(seq)
            if not tok.overlapping:
                assert all(end[a] == start[b] for a, b in itertools.pairwise(real))
                if max_length is None:
                    assert start[real[0]] == 0
