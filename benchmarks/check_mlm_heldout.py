"""Acceptance check for pre-training: tiny preset on the bundled corpus (A. thaliana + A. arenosa),
600 steps, then masked-token loss on DNA of a genome not in the corpus (A. lyrata, random 1 kb windows)
against a unigram model of token frequencies (counted on the training corpus). Prints both losses.

    python benchmarks/check_mlm_heldout.py [--model DIR] [--steps 600] [--windows 500]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="an existing pre-trained model directory (skips training)")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--windows", type=int, default=500)
    parser.add_argument("--work", help="working directory [default: a new temporary one]")
    args = parser.parse_args()

    from transformers import AutoModelForMaskedLM

    import florabert  # noqa: F401  (registers the Auto classes)
    from florabert.config import PretrainConfig, load_config
    from florabert.demo import write_demo_manifest
    from florabert.genome.corpus import build_corpus
    from florabert.genome.cresschrom import unannotated_genome
    from florabert.tokenization import DNATokenizer, train_tokenizer
    from florabert.tokenization.base import iter_corpus_sequences
    from florabert.training.mlm_eval import heldout_mlm_loss, sample_windows, token_counts
    from florabert.training.pretrain import pretrain

    work = Path(args.work or tempfile.mkdtemp(prefix="check_mlm_"))
    corpus = work / "corpus"
    if not (corpus / "manifest.json").exists():
        build_corpus(write_demo_manifest(work / "genomes.yaml"), corpus, log=lambda m: None)
    if not (work / "tok" / "tokenizer.json").exists():
        train_tokenizer(corpus, kind="bpe", vocab_size=5000, show_progress=False).save(work / "tok")
    model_dir = Path(args.model) if args.model else work / "model"
    cfg = load_config(PretrainConfig, preset="tiny", overrides={"max_steps": args.steps})
    if not args.model:
        t0 = time.perf_counter()
        pretrain(corpus, work / "tok", model_dir, cfg, log=print)
        print(f"pre-training: {args.steps} steps in {time.perf_counter() - t0:.0f} s")
    tok = DNATokenizer.load(model_dir)
    train_seqs = [s for b in iter_corpus_sequences(corpus) for s in b]
    windows = sample_windows(unannotated_genome("Arabidopsis lyrata"), n=args.windows, seed=1)
    res = heldout_mlm_loss(AutoModelForMaskedLM.from_pretrained(model_dir), tok, windows,
                           unigram=token_counts(tok, train_seqs), masking=cfg.masking)
    print(f"A. lyrata (not in the corpus): {res['sequences']} windows of 1 kb, {res['masked_tokens']:,} masked "
          f"tokens: model {res['model_loss']:.4f} nats, unigram {res['unigram_loss']:.4f} nats, "
          f"difference {res['unigram_loss'] - res['model_loss']:+.4f}")


if __name__ == "__main__":
    main()
