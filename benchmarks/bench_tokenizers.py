"""Tokenizer speed on the real demo corpus (A. thaliana chr1 + A. arenosa promoters, 1 kb).

Prints, in one run: BPE-5000 training time for florabert vs a plain ``tokenizers.ByteLevelBPETokenizer``
trained as FloraBERT did (vocab 5000, min_frequency 2, same special tokens), and encode throughput
(promoters/s, batches of 1,000, medians of --repeats) for every florabert kind beside that baseline.

    python benchmarks/bench_tokenizers.py [--corpus DIR] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from tokenizers import ByteLevelBPETokenizer

from florabert.tokenization import train_tokenizer
from florabert.tokenization.base import SPECIAL_TOKENS, iter_corpus_sequences


def corpus_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    from florabert.demo import write_demo_manifest
    from florabert.genome.corpus import build_corpus

    work = Path(tempfile.mkdtemp(prefix="bench_tok_"))
    build_corpus(write_demo_manifest(work / "genomes.yaml"), work / "corpus", log=lambda m: None)
    return work / "corpus"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    corpus = corpus_dir(args.corpus)
    seqs = [s for batch in iter_corpus_sequences(corpus) for s in batch]
    print(f"corpus: {len(seqs):,} promoters, {os.cpu_count()} cores")

    t_ours, t_base = [], []
    for _ in range(max(1, args.repeats // 2)):
        t0 = time.perf_counter()
        ours = train_tokenizer(corpus, kind="bpe", vocab_size=5000, show_progress=False)
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        base = ByteLevelBPETokenizer()
        base.train_from_iterator(iter_corpus_sequences(corpus), vocab_size=5000, min_frequency=2,
                                 special_tokens=list(SPECIAL_TOKENS), show_progress=False)
        t_base.append(time.perf_counter() - t0)
    tb, to = statistics.median(t_base), statistics.median(t_ours)
    print(f"BPE-5000 training: florabert {to:.1f} s, ByteLevelBPETokenizer {tb:.1f} s, ratio {to / tb:.2f}x "
          "(time, lower is better)")

    batches = [seqs[i:i + 1000] for i in range(0, len(seqs), 1000)]
    kinds = {"bpe": ours,
             "kmer k=6 stride 6": train_tokenizer(None, kind="kmer", k=6, stride=6),
             "kmer k=6 stride 1": train_tokenizer(None, kind="kmer", k=6, stride=1),
             "nucleotide": train_tokenizer(None, kind="nucleotide")}
    runs = {"ByteLevelBPE baseline": lambda b: [e.ids for e in base.encode_batch(b)]}  # ids, as ours
    for name, tok in kinds.items():
        runs[name] = lambda b, tok=tok: tok(b, verbose=False)["input_ids"]
    rates: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            for b in batches:
                fn(b)
            rates[name].append(len(seqs) / (time.perf_counter() - t0))
    base_rate = statistics.median(rates["ByteLevelBPE baseline"])
    print(f"{'encode':24s} {'promoters/s':>12s} {'vs baseline':>12s}")
    for name, r in rates.items():
        med = statistics.median(r)
        print(f"{name:24s} {med:12,.0f} {med / base_rate:11.2f}x")


if __name__ == "__main__":
    main()
