"""Prediction throughput (promoters/s) of ``florabert predict``'s engine vs HF's stock forward.

Same fine-tuned model and promoters, interleaved runs: the baseline tokenizes with the saved HF tokenizer,
pads every sequence to the model's input length (256 tokens for a model fine-tuned on 256) and runs the
model in fp32 with eager attention, batch 64; florabert's
``Predictor`` sorts by length (little padding), uses SDPA attention and inference mode, with and without
bf16 autocast. Also prints the largest difference between florabert's and the baseline's predictions.

    python benchmarks/bench_predict.py --model FINETUNED_DIR --promoters promoters.parquet [--n 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--promoters", required=True, help="a promoter table (.parquet/.tsv)")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from florabert.genome.promoters import read_promoters
    from florabert.modeling import FloraBertForExpression
    from florabert.predict import Predictor

    seqs = read_promoters(args.promoters).column("sequence").to_pylist()[: args.n]
    ours = Predictor(args.model, batch_size=64)
    ours_bf16 = Predictor(args.model, batch_size=64, bf16=True)
    stock = FloraBertForExpression.from_pretrained(args.model, attn_implementation="eager").eval()
    hf = ours.tok.hf
    pad = ours.max_length  # the longest input the model reads
    stock_name = f"HF stock (pad {pad}, fp32, eager)"

    @torch.inference_mode()
    def baseline(batch_seqs):
        out = []
        for i in range(0, len(batch_seqs), 64):
            enc = hf(batch_seqs[i:i + 64], padding="max_length", truncation=True, max_length=pad,
                     return_tensors="pt")
            out.append(stock(**enc).logits.numpy())
        return np.concatenate(out)

    runs = {stock_name: baseline, "florabert": ours.predict,
            "florabert --bf16": ours_bf16.predict}
    rates = {k: [] for k in runs}
    preds = {}
    for r in range(args.repeats + 1):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            preds[name] = fn(seqs)
            if r:
                rates[name].append(len(seqs) / (time.perf_counter() - t0))
    base = statistics.median(rates[stock_name])
    print(f"{len(seqs):,} promoters, {args.repeats} interleaved rounds, {torch.get_num_threads()} threads")
    print(f"{'':36s} {'promoters/s':>12s} {'ratio':>7s} {'max |diff| vs baseline':>24s}")
    for name, values in rates.items():
        diff = np.abs(preds[name] - preds[stock_name]).max()
        print(f"{name:36s} {statistics.median(values):12,.0f} {statistics.median(values) / base:6.2f}x "
              f"{diff:24.2e}")


if __name__ == "__main__":
    main()
