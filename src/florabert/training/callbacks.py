"""Trainer callbacks shared by pre-training and fine-tuning: CSV log, loss-curve PNG, curriculum."""

from __future__ import annotations

import csv
from pathlib import Path

from transformers import TrainerCallback

from florabert.plotting import savefig


class CSVLogger(TrainerCallback):
    """Appends every Trainer log record (step, loss, eval metrics, lr) to ``logs/log.csv``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        row = {"step": state.global_step, **{k: v for k, v in logs.items() if isinstance(v, (int, float))}}
        rows = []
        if self.path.exists():
            with open(self.path, newline="") as fh:
                rows = list(csv.DictReader(fh))
        rows = [r for r in rows if int(float(r["step"])) <= state.global_step]  # a resumed run rewrites
        rows.append(row)
        fields = list(dict.fromkeys(k for r in rows for k in r))
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(self.path)


def plot_loss_curve(csv_path: Path, png_path: Path, *, title: str = "loss") -> Path | None:
    """Training and evaluation loss against step (PNG + SVG) from a :class:`CSVLogger` file."""
    from florabert.plotting import pyplot

    plt = pyplot()

    if not Path(csv_path).exists():
        return None
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("loss", "training"), ("eval_loss", "held-out")):
        pts = [(float(r["step"]), float(r[key])) for r in rows if r.get(key)]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o" if key == "eval_loss" else None, ms=3, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (masked tokens, nats)" if "mlm" in title.lower() else "loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    savefig(fig, png_path, dpi=120)
    savefig(fig, Path(png_path).with_suffix(".svg"))
    plt.close(fig)
    return Path(png_path)
