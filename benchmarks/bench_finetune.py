"""Fine-tuning throughput: seconds per step and epochs per minute of the deep path alone on the demo's dataset,
florabert's default recipe against the HF Trainer's default batch and the settings the deep-path issue asks
about (batch size, torch threads, bf16 autocast on the CPU, ``torch.compile``) and dropout on the attention
weights (with it the CPU cannot use PyTorch's fused attention kernel).

Every setting fine-tunes ``configs/deep_alone.yaml`` from the same pre-trained stem on the same training genes
(HF Trainer, random batches, the whole model trainable from the first step) for ``--warmup`` + ``--steps``
steps; a step's time is the wall time between two ``on_step_end`` callbacks, so the tokenization done once per
dataset, the head's start and the final evaluation are not in it. Settings run one after another in one
process and the whole round repeats ``--repeats`` times; the table shows medians and the ratio of each
setting's genes per second to the HF default's (batch 8) measured in the same run.

    python benchmarks/check_accuracy.py --out bench_out/accuracy --only none   # builds the data and stem once
    python benchmarks/bench_finetune.py [--data bench_out/accuracy/gene_structure/data]
        [--model bench_out/accuracy/gene_structure/pretrain/stage2] [--steps 20] [--repeats 2]
    python benchmarks/bench_finetune.py --profile [--steps 10]

``--profile``: where the default setting's steps spend their time (``torch.profiler`` over ``--steps`` steps after
``--warmup``): the share of forward, backward and optimizer, and the operators that take the most time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

# (name, finetune overrides, torch threads, compile)
SETTINGS = [
    ("HF Trainer's default batch (8), fp32, 2 threads", {"batch_size": 8}, 2, False),
    ("florabert default: batch 32, fp32, 2 threads", {}, 2, False),
    ("batch 16", {"batch_size": 16}, 2, False),
    ("batch 64", {"batch_size": 64}, 2, False),
    ("batch 32, 1 thread", {}, 1, False),
    ("batch 32, bf16 autocast on the CPU", {"bf16": "on"}, 2, False),
    ("batch 32, torch.compile (inductor)", {}, 2, True),
    ("batch 32, attention dropout 0.1 (the pre-trained model's)", {"attention_dropout": 0.1}, 2, False),
    ("batch 32, no attention dropout (fused attention kernel)", {"attention_dropout": 0.0}, 2, False),
]


def step_times(model: Path, data: Path, overrides: dict, threads: int, compile_: bool, warmup: int,
               steps: int, profile: bool = False) -> list[float]:
    """Seconds of each step after ``warmup`` steps of one fine-tuning run; with ``profile``, print where the
    timed steps spend it."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as profiler
    from transformers import TrainerCallback

    from florabert.config import FinetuneConfig, load_config
    from florabert.training.finetune import finetune

    marks: list[float] = []
    prof = profiler(activities=[ProfilerActivity.CPU]) if profile else None

    class Clock(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            if compile_:
                model.compile()  # dynamic=True fails in inductor here (ValueRangeError, torch 2.13 CPU)

        def on_step_end(self, args, state, control, **kwargs):
            marks.append(time.perf_counter())
            if prof is not None and len(marks) == warmup:
                prof.start()
            if prof is not None and len(marks) == warmup + steps:
                prof.stop()

    n = warmup + steps
    cfg = load_config(FinetuneConfig, file="deep_alone", overrides={
        "max_steps": n, "eval_steps": n, "warmup_steps": 1, "unfreeze_every": 0, "keep_better_start": False,
        "early_stopping_min_steps": 0, "seed": 0, **overrides})
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        finetune(model, data, Path(tmp) / "run", cfg, log=lambda m: None, callbacks=[Clock()])
    if prof is not None:
        report_profile(prof, steps, marks[-1] - marks[warmup - 1])
    return [b - a for a, b in zip(marks[warmup - 1:-1], marks[warmup:], strict=True)]


def report_profile(prof, steps: int, seconds: float) -> None:
    """The profiled steps' time: forward / backward / optimizer shares and the top operators by own time."""
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    backward = sum(e.self_cpu_time_total for e in events if "Backward" in e.key or "backward" in e.key)
    optim = next((e.cpu_time_total for e in events if e.key.startswith("Optimizer.step")), 0.0)
    print(f"\nprofile: {steps} steps, {seconds / steps:.3f} s / step; own time of backward operators "
          f"{100 * backward / total:.0f} %, optimizer step {100 * optim / total:.0f} % (inclusive), the rest "
          "forward, data and the Trainer\n")
    print("| operator | own time (% of all) | calls / step |")
    print("|---|---:|---:|")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:15]:
        print(f"| `{e.key}` | {100 * e.self_cpu_time_total / total:.1f} | {e.count / steps:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("bench_out/accuracy/gene_structure/data"))
    parser.add_argument("--model", type=Path, default=Path("bench_out/accuracy/gene_structure/pretrain/stage2"))
    parser.add_argument("--steps", type=int, default=20, help="timed steps per setting and round")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation, caches)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", default="", help="settings whose name has this text (the HF default always)")
    parser.add_argument("--profile", action="store_true", help="where the default setting's steps spend time")
    args = parser.parse_args()
    if args.profile:
        t = step_times(args.model, args.data, {}, 2, False, args.warmup, args.steps, profile=True)
        print(f"\nmedian {statistics.median(t):.3f} s / step unprofiled-equivalent (profiler overhead included)")
        return

    from florabert.data.dataset import load_expression_dataset

    n_train = load_expression_dataset(args.data).part("train").num_rows
    chosen = [s for i, s in enumerate(SETTINGS) if i == 0 or args.only in s[0]]
    times: dict[str, list[float]] = {s[0]: [] for s in chosen}
    failed: dict[str, str] = {}
    for r in range(args.repeats):
        for name, over, threads, comp in chosen:
            if name in failed:
                continue
            try:
                t = step_times(args.model, args.data, over, threads, comp, args.warmup, args.steps)
            except Exception as err:  # a setting that does not run is a row of the table
                failed[name] = f"{type(err).__name__}: {str(err).splitlines()[0][:80]}"
                print(f"round {r + 1}: {name}: failed ({failed[name]})", flush=True)
                continue
            times[name] += t
            print(f"round {r + 1}: {name}: median {statistics.median(t):.3f} s / step", flush=True)
    hf = chosen[0][0]
    base = None if hf in failed else 8 / statistics.median(times[hf])  # genes / s of the HF default (batch 8)
    print(f"\n{n_train:,} training genes; medians over {args.repeats} x {args.steps} steps, torch "
          f"{torch.__version__}\n")
    print("| setting | s / step | genes / s | epochs / min | genes / s vs HF default |")
    print("|---|---:|---:|---:|---:|")
    for name, over, _, _ in chosen:
        if name in failed:
            print(f"| {name} | failed: {failed[name]} | | | |")
            continue
        s = statistics.median(times[name])
        rate = over.get("batch_size", 32) / s
        ratio = f"{rate / base:.2f}" if base else "(no HF default)"
        print(f"| {name} | {s:.3f} | {rate:.1f} | {rate * 60 / n_train:.2f} | {ratio} |")


if __name__ == "__main__":
    main()
