"""Fault injection: every command with --out killed at random moments, a full disk, two runs at once.

For each command: run it once uninterrupted (the reference), then start it again ``--kills`` times over that
finished output and SIGKILL it at a random moment (seeded, spread over the reference run's duration), and after
every kill check that ``--out`` is exactly as it was (every file's bytes) or a complete new output (its marker
says so, with the reference's files), never half. Then rerun it to completion (``--resume`` for training runs)
and check the staging folders are gone and the result equals the reference (the files that are deterministic:
tables, predictions, model weights). Separately: the same commands writing to a full tmpfs (one line naming the
path and "no space left", exit 1, earlier outputs intact) and two runs at once into the same --out (the second
stops with one line).

    python benchmarks/check_faults.py --out bench_out/faults [--kills 20] [--seed 0] [--commands promoters,...]

Prints a table: command, kills, outputs left as before / complete new / half (must be 0), rerun equal.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_planted import build_planted

VOLATILE = ("metrics.json", "README.md", "report.html", "report.md", ".florabert.json", "log.csv", "loss.png",
            "loss.svg", "trainer_state.json", "seed.txt", "config.yaml", "summary.json", "events.out")


def snapshot(path: Path) -> dict[str, str]:
    """Every file under ``path`` (or the file itself) -> sha256; {} when absent."""
    if not path.exists():
        return {}
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p.relative_to(path.parent)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def stable(snap: dict[str, str]) -> dict[str, str]:
    """The deterministic part of a snapshot (not logs, timings, markers)."""
    return {k: v for k, v in snap.items() if not any(part in k for part in VOLATILE)}


def leftovers(out: Path, training: bool) -> list[str]:
    """Staging folders and locks of ``out`` still beside it."""
    keep = {f".{out.name}.partial"} if training else set()
    return sorted(p.name for p in out.parent.glob(f".{out.name}.*") if p.name not in keep)


# every command runs on one CPU thread: the kills are timed against the first run's duration, which two
# threads per command would stretch when pytest-xdist runs two workers on the 2-core machine (a resumed run is
# bit-identical on two threads too: tests/test_pretrain.py checks it)
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def florabert(args: list, *, env=None, timeout: float | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "florabert", *map(str, args)], capture_output=True, text=True,
                          env=env or ONE_THREAD, timeout=timeout)


def commands(root: Path) -> dict[str, dict]:
    """name -> {args (with OUT for the output), training, resume args}; inputs built under ``root``."""
    d = root / "inputs"
    tiny_pre = d / "tiny_pretrain.yaml"
    tiny_ft = d / "tiny_finetune.yaml"
    return {
        "promoters": {"args": ["promoters", "--genome", d / "genome.fa", "--annotation", d / "genes.gff3",
                               "--out", "OUT.parquet"]},
        "corpus": {"args": ["corpus", "--manifest", d / "genomes.yaml", "--out", "OUT", "--workers", "1"]},
        "tokenizer": {"args": ["tokenizer", "train", "--corpus", d / "promoters.parquet", "--kind", "bpe",
                               "--vocab-size", "200", "--out", "OUT"]},
        "expression": {"args": ["expression", "--tpm", d / "tpm.tsv", "--promoters", d / "promoters.parquet",
                                "--families", d / "families.tsv", "--out", "OUT"]},
        "pretrain": {"args": ["pretrain", "--corpus", d / "promoters.parquet", "--preset", "tiny", "--config",
                              tiny_pre, "--out", "OUT"], "training": True},
        "finetune": {"args": ["finetune", "--model", d / "pre", "--data", d / "data", "--config", tiny_ft,
                              "--out", "OUT"], "training": True},
        "predict": {"args": ["predict", "--model", d / "ft", "--genome", d / "genome.fa", "--annotation",
                             d / "genes.gff3", "--out", "OUT.tsv"]},
        "evaluate": {"args": ["evaluate", "--data", d / "data", "--models", d / "ft", "--baselines",
                              "const_mean,kmer_linear", "--bootstrap", "20", "--out", "OUT"]},
        "explain positional": {"args": ["explain", "positional", "--model", d / "ft", "--promoters",
                                        d / "promoters.parquet", "--max-sequences", "4", "--lengths", "1,3",
                                        "--step", "20", "--samples", "1", "--out", "OUT"]},
        "explain ism": {"args": ["explain", "ism", "--model", d / "ft", "--promoters", d / "promoters.parquet",
                                 "--max-sequences", "1", "--region=-100:0", "--out", "OUT"]},
        "explain variants": {"args": ["explain", "variants", "--model", d / "ft", "--vcf", d / "edits.vcf",
                                      "--genome", d / "genome.fa", "--annotation", d / "genes.gff3",
                                      "--out", "OUT"]},
        "explain attention": {"args": ["explain", "attention", "--model", d / "ft", "--promoters",
                                       d / "promoters.parquet", "--max-sequences", "1", "--out", "OUT"]},
        "explain species": {"args": ["explain", "species", "--model", d / "pre", "--corpus",
                                     d / "two_species.parquet", "--per-species", "20", "--out", "OUT"]},
        "tracks profile": {"args": ["tracks", "profile", "--tracks", d / "tracks.yaml", "--promoters",
                                    d / "promoters.parquet", "--out", "OUT"]},
        "tasks": {"args": ["tasks", "--task", "promoter", "--genome", d / "genome.fa", "--annotation",
                           d / "genes.gff3", "--min-distance", "500", "--out", "OUT"]},
    }


def build_inputs(root: Path, genes: int) -> None:
    """A planted genome and the inputs every command needs (a pre-trained and a fine-tuned model)."""
    d = (root / "inputs").resolve()  # the manifest's paths are read relative to its folder: absolute here
    if (d / "ft" / "model.safetensors").exists():
        extra_inputs(d)
        return
    build_planted(d, genes=genes, seed=1)
    (d / "genomes.yaml").write_text(f"genomes:\n  - species: planted\n    fasta: {d / 'genome.fa'}\n"
                                    f"    annotation: {d / 'genes.gff3'}\n")
    (d / "tiny_pretrain.yaml").write_text("max_steps: 30\nsave_steps: 10\neval_steps: 30\nbatch_size: 16\n")
    (d / "tiny_finetune.yaml").write_text("max_steps: 30\neval_steps: 10\nbatch_size: 16\n")
    for args in (["promoters", "--genome", d / "genome.fa", "--annotation", d / "genes.gff3", "--out",
                  d / "promoters.parquet"],
                 ["expression", "--tpm", d / "tpm.tsv", "--promoters", d / "promoters.parquet", "--families",
                  d / "families.tsv", "--out", d / "data"],
                 ["pretrain", "--corpus", d / "promoters.parquet", "--config", d / "tiny_pretrain.yaml", "--out",
                  d / "pre"],
                 ["finetune", "--model", d / "pre", "--data", d / "data", "--config", d / "tiny_finetune.yaml",
                  "--out", d / "ft"]):
        res = florabert(args)
        if res.returncode:
            sys.exit(f"building the inputs failed: {res.stderr[-800:]}")
    extra_inputs(d)
    seq = "".join(line.strip() for line in (d / "genome.fa").read_text().splitlines()[1:])
    (d / "edits.vcf").write_text("##fileformat=VCFv4.2\n##contig=<ID=chr1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\t"
                                 "FILTER\tINFO\n" + "".join(f"chr1\t{p}\tv{p}\t{seq[p - 1]}\t"
                                                          f"{'A' if seq[p - 1] != 'A' else 'C'}\t.\t.\t.\n"
                                                          for p in range(1500, 40_000, 997)))


def kill_check(name: str, spec: dict, root: Path, kills: int, rng: random.Random) -> dict:
    """The kill test of one command (see the module doc)."""
    work = root / "kill" / name.replace(" ", "_")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    args = [str(a).replace("OUT", str(work / "out")) if str(a).startswith("OUT") else a for a in spec["args"]]
    out = Path(next(a for a in args if str(a).startswith(str(work / "out"))))
    training = spec.get("training", False)
    t0 = time.perf_counter()
    first = florabert(args)
    duration = time.perf_counter() - t0
    if first.returncode:
        return {"command": name, "error": first.stderr.strip().splitlines()[-1][:200]}
    reference = snapshot(out)
    before, new, half = 0, 0, []
    for k in range(kills):
        prior = snapshot(out)
        proc = subprocess.Popen([sys.executable, "-m", "florabert", *map(str, args), "--force"], env=ONE_THREAD,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(0.2, duration * 1.1))
        finished = proc.poll() is not None
        if not finished:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        after = snapshot(out)
        marker = json.loads((out / ".florabert.json").read_text()) if (out / ".florabert.json").exists() else {}
        if after == prior:
            before += 1
        elif set(stable(after)) == set(stable(reference)) and (out.is_file() or not training
                                                               or marker.get("complete")):
            new += 1
        else:
            half.append({"kill": k, "finished": finished, "missing": sorted(set(reference) - set(after))[:5],
                         "extra": sorted(set(after) - set(reference))[:5], "complete": marker.get("complete")})
    rerun_args = [*args, "--force"] + (["--resume"] if training and (out.parent / f".{out.name}.partial").exists()
                                       else [])
    rerun = florabert(rerun_args)
    left = leftovers(out, training=False)
    ref, now = stable(reference), stable(snapshot(out))
    equal = now == ref
    return {"command": name, "kills": kills, "seconds": round(duration, 1), "unchanged": before,
            "complete_new": new, "half": len(half), "half_detail": half,
            "rerun_ok": rerun.returncode == 0, "leftovers": left,
            "rerun_equal": equal,
            "rerun_differs": sorted(k for k in set(ref) | set(now) if ref.get(k) != now.get(k))}


def extra_inputs(d: Path) -> None:
    """The promoter table with every other gene labelled a second species (explain species compares them), and
    a track sheet with one bedGraph over chr1 (tracks profile)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    length = sum(len(line.strip()) for line in (d / "genome.fa").read_text().splitlines()[1:])
    (d / "leaf.bedGraph").write_text("".join(f"chr1\t{i}\t{min(i + 50, length)}\t{(i // 50) % 7 / 2}\n"
                                             for i in range(0, length, 50)))
    (d / "tracks.yaml").write_text(f"tracks:\n  - {{tissue: leaf, mark: ATAC, file: {d / 'leaf.bedGraph'}}}\n")

    table = pq.read_table(d / "promoters.parquet")
    species = [s if i % 2 else f"{s} B" for i, s in enumerate(table.column("species").to_pylist())]
    table = table.set_column(table.schema.get_field_index("species"), "species", pa.array(species))
    pq.write_table(table, d / "two_species.parquet")


def full_disk_check(name: str, spec: dict, root: Path, size_kb: int) -> dict:
    """The command writing into a tmpfs of ``size_kb`` KiB already holding an earlier output: exit 1, one line
    naming the path and 'no space left', the earlier output intact. Needs root (mount); skipped otherwise."""
    mnt = root / "disk" / name.replace(" ", "_")
    mnt.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mnt)],
                      capture_output=True).returncode:
        return {"command": name, "skipped": "cannot mount a tmpfs (needs root)"}
    try:
        args = [str(a).replace("OUT", str(mnt / "out")) if str(a).startswith("OUT") else a for a in spec["args"]]
        out = Path(next(a for a in args if str(a).startswith(str(mnt / "out"))))
        (out if out.suffix else out / "keep.txt").parent.mkdir(parents=True, exist_ok=True)
        earlier = out if out.suffix else out / "earlier.txt"
        earlier.write_text("an earlier result\n")
        filler = mnt / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1k", f"count={size_kb}"], capture_output=True)
        res = florabert([*args, "--force"])
        lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
        return {"command": name, "exit": res.returncode,
                "one_line": len(lines) == 1 and "Traceback" not in res.stderr,
                "says_no_space": "no space left" in res.stderr.lower(), "names_path": str(mnt) in res.stderr,
                "earlier_intact": earlier.read_text() == "an earlier result\n",
                "message": lines[-1][:160] if lines else ""}
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def concurrent_check(name: str, spec: dict, root: Path) -> dict:
    """Two runs into the same --out: the second one stops with one line while the first runs (paused with
    SIGSTOP once it holds the lock, so that the second always meets it)."""
    work = root / "twice" / name.replace(" ", "_")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    args = [str(a).replace("OUT", str(work / "out")) if str(a).startswith("OUT") else a for a in spec["args"]]
    first = subprocess.Popen([sys.executable, "-m", "florabert", *map(str, args)], env=ONE_THREAD,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = next(iter(work.glob(".out*.lock")), None)
    for _ in range(300):
        lock = next(iter(work.glob(".out*.lock")), None)
        if lock is not None or first.poll() is not None:
            break
        time.sleep(0.05)
    paused = lock is not None and first.poll() is None
    if paused:  # the first holds the lock: paused while the second runs, so even a fast command is caught
        os.kill(first.pid, signal.SIGSTOP)
    try:
        second = florabert(args)
    finally:
        if paused:
            os.kill(first.pid, signal.SIGCONT)
    first.wait()
    lines = [ln for ln in second.stderr.strip().splitlines() if ln.strip()]
    return {"command": name, "lock_seen": lock is not None, "first_paused": paused,
            "second_exit": second.returncode,
            "second_one_line": len(lines) == 1, "says_another_run": "another florabert run" in second.stderr,
            "first_exit": first.returncode}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("bench_out/faults"))
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--genes", type=int, default=120)
    ap.add_argument("--commands", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--disk-kb", type=int, default=256, help="size of the full tmpfs")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    build_inputs(args.out, args.genes)
    specs = commands(args.out)
    chosen = [c for c in specs if not args.commands or c in args.commands.split(",")]
    rng = random.Random(args.seed)
    results = {"kill": [], "disk": [], "concurrent": []}
    for name in chosen:
        r = kill_check(name, specs[name], args.out, args.kills, rng)
        results["kill"].append(r)
        print(json.dumps(r), flush=True)
    for name in chosen:
        for kind, check in (("disk", lambda n=name: full_disk_check(n, specs[n], args.out, args.disk_kb)),
                            ("concurrent", lambda n=name: concurrent_check(n, specs[n], args.out))):
            r = check()
            results[kind].append(r)
            print(json.dumps(r), flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    kills = results["kill"]
    print(f"\nkills: {sum(r.get('kills', 0) for r in kills)} over {len(kills)} commands; half outputs: "
          f"{sum(r.get('half', 0) for r in kills)}; reruns equal to the reference: "
          f"{sum(bool(r.get('rerun_equal')) for r in kills)}/{len(kills)}")


if __name__ == "__main__":
    main()
