"""Every `florabert ...` example of the README and of the documentation's pages (in the site's order), run as
written on real data (a slice of the bundled genomes), with tiny settings appended where a run would be long
(steps, sequences, workers). An example that stops working fails here.

The files the examples name (TAIR10_chr1.fna.gz, g.gff3.gz, leaf_tpm.tsv, edits.vcf.gz, ...) are made in a
sandbox from the first 1.2 Mb of A. thaliana chr1 and of A. arenosa chr1: the genome slice, its genes (GFF3 and
GTF), their leaf TPM and families; files a user brings to an example (a FASTA of edited promoters, a second
model to compare) are made from earlier examples' outputs. Examples elided with `...`, launchers (`torchrun`,
`accelerate`, `make`), the benchmark scripts' measurements (minutes to hours; their `--write` of example data
runs) and the demo (tests/test_demo.py) are skipped.
"""

from __future__ import annotations

import gzip
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import requires_bundled

pytestmark = [pytest.mark.realdata, pytest.mark.slow, requires_bundled]

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def pages() -> list[Path]:
    """The README, then the documentation site's pages in the order of its navigation (mkdocs.yml)."""
    import yaml

    def walk(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for v in node.values():
                yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    return [README, *(ROOT / "docs" / p for p in walk(nav))]
SLICE = 1_200_000  # bases of each chromosome kept
# appended to the README's command (a later option wins): tiny runs of the same commands
TINY = {
    ("pretrain",): ["--max-steps", "3", "--save-steps", "3", "--eval-steps", "3", "--batch-size", "4"],
    ("finetune",): ["--max-steps", "4", "--eval-steps", "2", "--batch-size", "8"],
    ("corpus",): ["--workers", "1"],
    ("explain", "positional"): ["--max-sequences", "2", "--step", "100", "--samples", "1"],
    ("explain", "species"): ["--per-species", "20"],
    ("evaluate",): ["--bootstrap", "20"],
}


def readme_blocks() -> list[list[str]]:
    """The ```bash blocks of the README and of every documentation page, as lists of shell lines: continuation
    lines joined, comments and optional ``[...]`` parts dropped."""
    out = []
    text = "\n".join(p.read_text() for p in pages())
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        lines = []
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"(^|\s+)#.*$", "", line).strip()
            line = re.sub(r"\s*\[[^\]]*\]", "", line).strip()
            if line:
                lines.append(" ".join(line.split()))
        out.append(lines)
    return out


def slice_genome(src_fa: Path, src_gff: Path, src_gtf: Path, out: Path, stem: str) -> set[str]:
    """The first SLICE bases of the first chromosome and the genes (all rows of their features) wholly inside;
    returns the kept gene ids (locus tags)."""
    from florabert.genome.fasta import iter_fasta

    name, seq = next(iter_fasta(src_fa))
    part = seq[:SLICE].decode()
    with gzip.open(out / f"{stem}.fa.gz", "wt") as fh:
        fh.write(f">{name}\n" + "\n".join(part[i:i + 80] for i in range(0, len(part), 80)) + "\n")
    kept = set()
    for src, suffix in ((src_gff, "gff"), (src_gtf, "gtf")):
        lines = []
        with gzip.open(src, "rt") as fh:
            for line in fh:
                cols = line.split("\t")
                if line.startswith("#"):
                    lines.append(line)
                elif len(cols) == 9 and cols[0] == name and int(cols[4]) <= SLICE - 5000:
                    lines.append(line)
                    tag = re.search(r'locus_tag[= "]+([^;"\s]+)', cols[8])
                    if tag:
                        kept.add(tag.group(1))
        with gzip.open(out / f"{stem}.{suffix}.gz", "wt") as fh:
            fh.writelines(lines)
    return kept


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """The files the README's examples name."""
    from florabert.genome.cresschrom import bundled_genomes

    root = tmp_path_factory.mktemp("readme")
    at, aa = bundled_genomes()
    genes = slice_genome(at.fasta, at.gff, at.gtf, root, "at")
    slice_genome(aa.fasta, aa.gff, aa.gtf, root, "aa")
    for name in ("TAIR10_chr1.fna.gz", "g.fna.gz", "g.fa.gz", "genome.fa.gz"):
        shutil.copy(root / "at.fa.gz", root / name)
    for name in ("TAIR10_chr1.gff.gz", "g.gff.gz", "g.gff3.gz", "genes.gff3.gz"):
        shutil.copy(root / "at.gff.gz", root / name)
    with gzip.open(root / "at.fa.gz", "rb") as src, open(root / "g.fa", "wb") as dst:
        shutil.copyfileobj(src, dst)
    with gzip.open(root / "at.gff.gz", "rb") as src, open(root / "g.gff3", "wb") as dst:
        shutil.copyfileobj(src, dst)
    (root / "genomes.yaml").write_text(
        "genomes:\n  - species: Arabidopsis thaliana\n    fasta: at.fa.gz\n    annotation: at.gff.gz\n"
        "  - species: Arabidopsis arenosa\n    fasta: aa.fa.gz\n    annotation: aa.gff.gz\n")
    from florabert import bundled

    tpm = bundled.path("arabidopsis_leaf_tpm_train.tsv").read_text().splitlines()
    rows = [tpm[0]] + [r for r in tpm[1:] if r.split("\t", 1)[0] in genes]
    for name in ("leaf_tpm.tsv", "tpm.tsv"):
        (root / name).write_text("\n".join(rows) + "\n")
    fam = bundled.path("arabidopsis_chr1_families.tsv").read_text()
    for name in ("families.tsv", "fam.tsv"):
        (root / name).write_text(fam)
    return root


def prepare(cmd: list[str], root: Path) -> None:
    """Files a user brings to an example, made from what earlier examples wrote."""
    import pyarrow.parquet as pq

    from florabert.genome.promoters import read_promoters, write_promoters

    if "promoters.fa" in cmd and not (root / "promoters.fa").exists():
        table = read_promoters(root / "promoters.parquet")
        if "--model" in cmd:  # the windows the model reads, as a user cuts them for it
            import json

            from florabert.genome.promoters import extract_promoters
            from florabert.layout import layout_of

            model = root / cmd[cmd.index("--model") + 1]
            record = json.loads((model / "config.json").read_text())["promoter_window"]
            table = extract_promoters(root / "g.fa", root / "g.gff3", layout=layout_of(record)).table
        write_promoters(table, root / "promoters.fa")
        write_promoters(table.slice(0, 20), root / "genes.tsv")  # gene_id, sequence and the gm_* columns
        write_promoters(table.slice(0, 20).select(["gene_id"] + [c for c in table.column_names
                                                                 if c.startswith("gm_")]), root / "table.tsv")
        seqs = table.column("sequence").to_pylist()[:20]
        ids = table.column("gene_id").to_pylist()[:20]
        edited = [s[:-60] + "CACGTG" + s[-54:] for s in seqs]  # a G-box 60 bases before the TSS
        (root / "edited_promoters.tsv").write_text(
            "gene_id\tsequence\n" + "".join(f"{g}\t{s}\n" for g, s in zip(ids, edited, strict=True)))
        (root / "edited.fa").write_text("".join(f">{g}\n{s}\n" for g, s in zip(ids, edited, strict=True)))
        pq.write_table(table, root / "genes.parquet")
        pq.write_table(table.slice(0, 8), root / "test_promoters.parquet")
    if "edits.vcf.gz" in cmd and not (root / "edits.vcf.gz").exists():
        from florabert.genome.promoters import extract_promoters

        table = extract_promoters(root / "g.fa", root / "g.gff3").table  # one SNP in each of 10 promoters
        from florabert.genome.fasta import iter_fasta

        name, seq = next(iter_fasta(root / "g.fa"))
        lines = ["##fileformat=VCFv4.2", f"##contig=<ID={name}>", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
        for k, (start, end) in enumerate(zip(table.column("start").to_pylist()[:10],
                                             table.column("end").to_pylist()[:10], strict=True)):
            pos = (start + end) // 2 + 1
            ref = chr(seq[pos - 1]).upper()
            lines.append(f"{name}\t{pos}\tv{k}\t{ref}\t{'A' if ref != 'A' else 'G'}\t.\t.\t.")
        with gzip.open(root / "edits.vcf.gz", "wt") as fh:  # plain gzip, as a user writes it
            fh.write("\n".join(lines) + "\n")
    if "other_model/" in cmd and not (root / "other_model").exists():
        shutil.copytree(root / "model", root / "other_model")


def test_every_readme_and_docs_example_runs_as_written(sandbox, run_cli, monkeypatch):
    root = sandbox
    (root / "examples").symlink_to(README.parent / "examples")  # the EBERT example reads ../examples/*.yaml
    ran, skipped, done = [], [], set()
    for block in readme_blocks():
        cwd = root  # each block starts in the sandbox, as a new shell would
        for line in block:
            words = shlex.split(line)
            if ("..." in line or words[0] in ("make", "torchrun", "accelerate") or words[0].startswith(".venv")
                    or (words[0] == "python" and words[1].startswith("benchmarks/") and "--write" not in words)):
                skipped.append(line)
                continue
            if words[0] == "cd":
                cwd = (cwd / words[1]).resolve()
                continue
            if words[0] == "python":  # the README's scripts run from the repository root
                res = subprocess.run([sys.executable, str(README.parent / words[1]), *words[2:]], cwd=cwd,
                                     capture_output=True, text=True, env=_env())
                assert res.returncode == 0, f"{line}\n{res.stderr[-1500:]}"
                ran.append(line)
                continue
            assert words[0] == "florabert", line
            if words[1] == "demo" or (cwd, line) in done:  # the README and a docs page may show the same example
                skipped.append(line)
                continue
            prepare(words, root)
            extra = next((v for k, v in TINY.items() if tuple(words[1:1 + len(k)]) == k), [])
            if words[1] == "evaluate":  # the LightGBM and logistic baselines: test_evaluate / test_tasks
                task = any(w.startswith("tasks/") for w in words)
                extra = [*extra, "--baselines", "const_prior" if task else "const_mean,kmer_linear"]
            monkeypatch.chdir(cwd)  # in-process (the console entry point): one import for every example
            code, _, err = run_cli(*words[1:], *extra)
            assert code == 0, f"example failed: {line}\n{err[-1500:]}"
            ran.append(line)
            done.add((cwd, line))
    assert len(ran) >= 35, f"only {len(ran)} examples ran; skipped: {skipped}"


def _env() -> dict:
    import os

    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
