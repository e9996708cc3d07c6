"""BPE-5000 on the real two-genome corpus (about 15 s of training)."""

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from conftest import requires_bundled
from florabert.genome.corpus import build_corpus, corpus_files
from florabert.tokenization import DNATokenizer, length_stats, train_tokenizer

pytestmark = [pytest.mark.realdata, pytest.mark.slow, requires_bundled]


@pytest.fixture(scope="module")
def real_bpe(tmp_path_factory):
    from florabert.demo import write_demo_manifest

    work = tmp_path_factory.mktemp("real")
    build_corpus(write_demo_manifest(work / "genomes.yaml"), work / "corpus", log=lambda m: None)
    tok = train_tokenizer(work / "corpus", kind="bpe", vocab_size=5000, show_progress=False)
    tok.save(work / "bpe")
    return work / "corpus", work / "bpe"


def test_bpe_5000_fits_promoters_in_256_positions(real_bpe):
    corpus, path = real_bpe
    tok = DNATokenizer.load(path)
    assert len(tok.hf) == 5000
    st = length_stats(tok, corpus, max_length=256)
    assert st["mean"] < 256  # FloraBERT: 1 kb promoters -> about 180-220 tokens
    assert st["truncated_fraction"] < 0.01


def test_autotokenizer_in_a_clean_process_matches_florabert(real_bpe):
    corpus, path = real_bpe
    seq = pq.read_table(corpus_files(corpus)[0]).column("sequence")[0].as_py()
    assert len(seq) == 1000
    code = ("import json, sys\nfrom transformers import AutoTokenizer\n"
            f"t = AutoTokenizer.from_pretrained({str(path)!r})\n"
            f"print(json.dumps([t({seq!r})['input_ids'], 'florabert' in sys.modules]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    ids, imported = json.loads(out.stdout)
    assert not imported
    assert ids == DNATokenizer.load(path)(seq)["input_ids"]
    assert DNATokenizer.load(path).decode(ids) == seq
