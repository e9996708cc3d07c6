"""Pre-training throughput: florabert's MLM step vs HF Trainer configured as the original FloraBERT.

Same model size, same real promoters (the demo corpus, BPE-5000), same machine, runs interleaved:
- baseline: ``RobertaForMaskedLM`` with eager attention, fp32, every sequence padded to 256 tokens,
  ``DataCollatorForLanguageModeling`` (15 %), HF Trainer;
- florabert: ``FloraBertForMaskedLM`` (SDPA attention, LM head on masked positions only), dynamic left
  padding with length-grouped batches, ``MaskingCollator`` (15 %), HF Trainer; bf16 where supported.

Throughput counts real tokens only (padding excluded). MFU = model FLOPs on real tokens / a matmul peak
measured here (the best of fp32 and bf16 square matmuls).

    python benchmarks/bench_pretrain.py [--preset tiny|small|paper] [--steps 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from florabert.config import PretrainConfig, load_config


def matmul_peak(n: int = 2048, repeats: int = 5) -> dict[str, float]:
    """FLOP/s of an n x n @ n x n matmul per dtype (median of ``repeats``)."""
    out = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t0)
        out[str(dtype).removeprefix("torch.")] = 2 * n**3 / statistics.median(times)
    return out


class Counting:
    """Wraps a collator and counts the real (non-pad) tokens it hands out."""

    def __init__(self, collator):
        self.collator, self.tokens, self.masked = collator, 0, 0

    def __call__(self, features):
        batch = self.collator(features)
        self.tokens += int(batch["attention_mask"].sum())
        self.masked += int((batch["labels"] != -100).sum())
        return batch


def model_flops(cfg, tokens: int, masked: int) -> float:
    """Training FLOPs (forward + backward = 3x forward) on real tokens."""
    h, layers, inter, v = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size, cfg.vocab_size
    per_token_layer = 2 * (4 * h * h + 2 * h * inter)  # QKV + output projections, feed-forward
    attention = 2 * 2 * h * 200  # scores and weighted sum against ~200 tokens
    body = tokens * layers * (per_token_layer + attention)
    head = masked * 2 * (h * h + h * v)  # the LM head is needed on masked positions only
    return 3 * (body + head)


def run(args) -> None:
    import datasets
    from transformers import (
        DataCollatorForLanguageModeling,
        RobertaConfig,
        RobertaForMaskedLM,
        Trainer,
        TrainingArguments,
    )

    from florabert.modeling import FloraBertConfig, FloraBertForMaskedLM
    from florabert.tokenization import DNATokenizer, train_tokenizer
    from florabert.tokenization.base import iter_corpus_sequences
    from florabert.training.masking import MaskingCollator
    from florabert.training.runs import use_bf16

    work = Path(tempfile.mkdtemp(prefix="bench_pretrain_"))
    corpus = Path(args.corpus) if args.corpus else _demo_corpus(work)
    if args.tokenizer:
        tok = DNATokenizer.load(args.tokenizer)
    else:
        train_tokenizer(corpus, kind="bpe", vocab_size=5000, show_progress=False).save(work / "tok")
        tok = DNATokenizer.load(work / "tok")
    seqs = [s for b in iter_corpus_sequences(corpus) for s in b]
    cfg: PretrainConfig = load_config(PretrainConfig, preset=args.preset)
    m = cfg.model
    n = args.batch_size * args.steps * (args.repeats + 1)
    seqs = (seqs * (1 + n // len(seqs)))[:n]
    ours_ids = tok(seqs, truncation=True, max_length=m.max_length)["input_ids"]
    ours_data = datasets.Dataset.from_dict({"input_ids": ours_ids, "length": [len(x) for x in ours_ids]})
    base_data = datasets.Dataset.from_dict(
        dict(tok.hf(seqs, truncation=True, max_length=256, padding="max_length")))
    sizes = dict(hidden_size=m.hidden_size, num_hidden_layers=m.num_hidden_layers,
                 num_attention_heads=m.num_attention_heads, intermediate_size=m.intermediate_size)

    def trainer(model, data, collator, *, ours: bool):
        targs = TrainingArguments(
            output_dir=str(work / "t"), max_steps=args.steps, per_device_train_batch_size=args.batch_size,
            learning_rate=1e-4, save_strategy="no", eval_strategy="no", report_to=[], logging_strategy="no",
            disable_tqdm=True, use_cpu=not torch.cuda.is_available(), remove_unused_columns=not ours,
            bf16=ours and use_bf16(args.bf16),
            train_sampling_strategy="group_by_length" if ours else "random", length_column_name="length")
        return Trainer(model=model, args=targs, train_dataset=data, data_collator=collator)

    torch.manual_seed(0)
    base_cfg = RobertaConfig(vocab_size=len(tok.hf), max_position_embeddings=258, pad_token_id=1,
                             bos_token_id=0, eos_token_id=2, type_vocab_size=1, **sizes)
    base_cfg._attn_implementation = "eager"
    base_model = RobertaForMaskedLM(base_cfg)
    ours_cfg = FloraBertConfig.from_tokenizer(tok.hf, max_length=m.max_length, **sizes)
    ours_cfg._attn_implementation = "sdpa"
    ours_model = FloraBertForMaskedLM(ours_cfg)
    runs = {
        "HF Trainer as FloraBERT (pad 256, fp32, eager)": (
            base_model, base_data, Counting(DataCollatorForLanguageModeling(tok.hf, mlm_probability=0.15)), False),
        "florabert": (ours_model, ours_data, Counting(MaskingCollator(tok.hf, cfg.masking)), True),
    }
    rates: dict[str, list[float]] = {k: [] for k in runs}
    mfu: list[float] = []
    peak = matmul_peak()
    best_peak = max(peak.values())
    for r in range(args.repeats + 1):  # the first round warms up and is not counted
        for name, (model, data, counter, ours) in runs.items():
            counter.tokens = counter.masked = 0
            t = trainer(model, data, counter, ours=ours)
            t0 = time.perf_counter()
            t.train()
            dt = time.perf_counter() - t0
            if r:
                rates[name].append(counter.tokens / dt)
                if ours:
                    mfu.append(model_flops(ours_cfg, counter.tokens, counter.masked) / dt / best_peak)
    params = sum(p.numel() for p in ours_model.parameters())
    print(f"preset {args.preset} ({params / 1e6:.1f} M parameters), batch {args.batch_size}, {args.steps} steps "
          f"x {args.repeats} interleaved rounds, device {'cuda' if torch.cuda.is_available() else 'cpu'}")
    print("matmul peak here: " + ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in peak.items()))
    base = statistics.median(rates[next(iter(runs))])
    print(f"{'':48s} {'real tokens/s':>14s} {'ratio':>7s}")
    for name, values in rates.items():
        med = statistics.median(values)
        print(f"{name:48s} {med:14,.0f} {med / base:6.2f}x")
    print(f"florabert (bf16 {args.bf16}) MFU vs the best measured matmul peak: "
          f"{100 * statistics.median(mfu):.1f} %")


def _demo_corpus(work: Path) -> Path:
    from florabert.demo import write_demo_manifest
    from florabert.genome.corpus import build_corpus

    build_corpus(write_demo_manifest(work / "genomes.yaml"), work / "corpus", log=lambda m: None)
    return work / "corpus"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--corpus")
    parser.add_argument("--tokenizer")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bf16", default="auto", choices=["auto", "on", "off"], help="florabert's precision")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
