"""Every failure is one line with exit code 1, and nothing a user had is lost (the --out rule)."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import shutil
import time

import pytest

from florabert.errors import FloraBertError, InputError


def one_line_error(code: int, err: str, *fragments: str) -> None:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in err, (f, err)


# --- the --out rule ---------------------------------------------------------------------------------------


def test_out_with_foreign_files_is_refused_and_force_deletes_nothing(run_cli, tmp_path):
    out = tmp_path / "p"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    code, _, err = run_cli("tokenizer", "train", "--kind", "kmer", "--k", "3", "--out", out)
    one_line_error(code, err, "notes.txt", "--force")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    code, _, err = run_cli("tokenizer", "train", "--kind", "kmer", "--k", "3", "--out", out, "--force")
    assert code == 0, err
    assert (out / "notes.txt").read_text() == "mine\n" and (out / "tokenizer.json").exists()


def test_own_output_is_replaced_and_a_file_is_never_turned_into_a_directory(run_cli, tmp_path):
    out = tmp_path / "tok"
    assert run_cli("tokenizer", "train", "--kind", "kmer", "--k", "3", "--out", out)[0] == 0
    (out / "stale.json").write_text("{}")  # a file of the earlier run's kind that the new run does not write
    (out / ".florabert.json").write_text(json.dumps({"command": "tokenizer train"}))
    assert run_cli("tokenizer", "train", "--kind", "kmer", "--k", "4", "--out", out)[0] == 0
    assert json.loads((out / "florabert_tokenizer.json").read_text())["k"] == 4
    assert not (out / "stale.json").exists()  # replaced as a whole: it was florabert's
    assert not list(tmp_path.glob(".tok*"))  # no staging folder left
    f = tmp_path / "file.txt"
    f.write_text("keep\n")
    for force in ((), ("--force",)):
        code, _, err = run_cli("tokenizer", "train", "--kind", "kmer", "--k", "3", "--out", f, *force)
        one_line_error(code, err, "is a file")
        assert f.read_text() == "keep\n"


def test_working_directory_is_never_renamed(run_cli, tmp_path, monkeypatch):
    (tmp_path / "data.txt").write_text("x\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("tokenizer", "train", "--kind", "kmer", "--k", "3", "--out", ".")
    one_line_error(code, err, "did not write")
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    assert run_cli("tokenizer", "train", "--kind", "kmer", "--k", "3", "--out", ".")[0] == 0
    assert (empty / "tokenizer.json").exists() and empty.is_dir()
    assert run_cli("tokenizer", "train", "--kind", "kmer", "--k", "3", "--out", ".")[0] == 0  # own output


def test_file_outputs_replace_only_florabert_files(run_cli, data_dir, tmp_path):
    args = ("promoters", "--genome", data_dir / "tiny.fa", "--annotation", data_dir / "tiny.gff3",
            "--upstream", "5", "--out")
    mine = tmp_path / "p.tsv"
    mine.write_text("my,own,table\n")
    code, _, err = run_cli(*args, mine)
    one_line_error(code, err, "not written by florabert")
    assert mine.read_text() == "my,own,table\n"
    assert run_cli(*args, mine, "--force")[0] == 0
    assert "\tgene_id\t" in mine.read_text().splitlines()[0]
    assert run_cli(*args, mine)[0] == 0  # now it is florabert's: replaced without --force
    d = tmp_path / "d.parquet"
    d.mkdir()
    one_line_error(*run_cli(*args, d, "--force")[::2], "is a directory")


def test_empty_result_never_overwrites_a_good_output(run_cli, data_dir, tmp_path):
    out = tmp_path / "p.tsv"
    assert run_cli("promoters", "--genome", data_dir / "tiny.fa", "--annotation", data_dir / "tiny.gff3",
                   "--upstream", "5", "--out", out)[0] == 0
    before = out.read_text()
    cds_only = tmp_path / "cds.gff3"
    cds_only.write_text("##gff-version 3\nchr1\tt\tCDS\t100\t400\t.\t+\t0\tID=c1\n")
    code, _, err = run_cli("promoters", "--genome", data_dir / "tiny.fa", "--annotation", cds_only, "--out", out)
    one_line_error(code, err, "cds.gff3", "no gene windows")
    assert out.read_text() == before


# --- errors from outside florabert become one line ---------------------------------------------------------


def test_input_error_survives_a_worker_process():
    exc = pickle.loads(pickle.dumps(InputError("g.fa", "bad base", line=3)))
    assert isinstance(exc, InputError) and str(exc) == "g.fa:3: bad base" and exc.line == 3


def test_unexpected_errors_are_one_line_and_debug_shows_the_traceback(run_cli, monkeypatch, tmp_path):
    import florabert.tokenization as tokenization

    def boom(*a, **k):
        raise RuntimeError("x" * 100_000 + "\nsecond line")

    monkeypatch.setattr(tokenization, "train_tokenizer", boom)
    monkeypatch.setenv("FLORABERT_DEBUG", "0")  # restored after the test (--debug below sets it)
    code, _, err = run_cli("tokenizer", "train", "--kind", "kmer", "--out", tmp_path / "t")
    one_line_error(code, err, "RuntimeError", "--debug")
    assert len(err) < 1000
    with pytest.raises(RuntimeError):
        run_cli("--debug", "tokenizer", "train", "--kind", "kmer", "--out", tmp_path / "t")


def test_broken_model_folders(run_cli, planted_model, tmp_path, data_dir):
    fa = tmp_path / "p.fa"
    fa.write_text(">g1\n" + "ACGT" * 30 + "\n")
    cut = tmp_path / "cut"
    shutil.copytree(planted_model, cut)
    weights = cut / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    one_line_error(*run_cli("predict", "--model", cut, "--fasta", fa, "--out", tmp_path / "o.tsv")[::2],
                   str(cut), "cannot load")
    assert not (tmp_path / "o.tsv").exists()
    other = tmp_path / "other"
    shutil.copytree(planted_model, other)
    assert run_cli("tokenizer", "train", "--kind", "kmer", "--k", "3", "--out", tmp_path / "k3")[0] == 0
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "florabert_tokenizer.json"):
        if (tmp_path / "k3" / f).exists():
            shutil.copy(tmp_path / "k3" / f, other / f)
    one_line_error(*run_cli("predict", "--model", other, "--fasta", fa, "--out", tmp_path / "o.tsv")[::2],
                   "tokenizer has")
    bad_json = tmp_path / "badjson"
    shutil.copytree(planted_model, bad_json)
    (bad_json / "config.json").write_text("{not json")
    one_line_error(*run_cli("predict", "--model", bad_json, "--fasta", fa, "--out", tmp_path / "o.tsv")[::2],
                   str(bad_json))


def test_non_parquet_corpus(run_cli, tmp_path):
    bad = tmp_path / "c.parquet"
    bad.write_text("gene_id\tsequence\n")
    one_line_error(*run_cli("tokenizer", "train", "--corpus", bad, "--out", tmp_path / "t")[::2],
                   "c.parquet", "not a readable Parquet")


def test_truncated_vcf_gz(tmp_path):
    from florabert.explain.variants import read_vcf

    rng = __import__("random").Random(0)  # an incompressible header, cut inside it
    text = "##fileformat=VCFv4.2\n" + "".join(f"##note={rng.getrandbits(64):x}\n" for i in range(3000)) + (
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchr1\t100\t.\tA\tG\t.\t.\t.\n")
    data = gzip.compress(text.encode())
    (tmp_path / "v.vcf.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"truncated|corrupt"):
        read_vcf(tmp_path / "v.vcf.gz")


# --- options and configs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("yaml", "fragment"), [
    ("batch_size: lots\n", "batch_size: expected a whole number, got 'lots'"),
    ("model: 5\n", "model: expected a mapping"),
    ("model: {hidden_size: 100, num_attention_heads: 3}\n", "divisible"),
    ("max_steps: -3\n", "max_steps: must be >= 1"),
    ("masking: {strategy: whole}\n", "masking.strategy: must be one of"),
    ("learning_rate: .inf\n", "finite"),
])
def test_config_values_are_checked_with_their_file(tmp_path, yaml, fragment):
    from florabert.config import PretrainConfig, load_config

    (tmp_path / "c.yaml").write_text(yaml)
    with pytest.raises(FloraBertError, match=r"c\.yaml") as info:
        load_config(PretrainConfig, preset="tiny", file=tmp_path / "c.yaml")
    assert fragment in str(info.value)


def test_config_number_written_like_1e_3_is_read_and_huge_values_are_not_echoed(tmp_path):
    from florabert.config import FinetuneConfig, load_config

    (tmp_path / "c.yaml").write_text("learning_rate: 1e-3\n")  # PyYAML reads this as a string
    assert load_config(FinetuneConfig, file=tmp_path / "c.yaml").learning_rate == 0.001
    anchors = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1]"] + [
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 8)}]" for i in range(1, 9)]
    (tmp_path / "bomb.yaml").write_text("warmup_steps: {" + ", ".join(anchors) + "}\n")
    with pytest.raises(FloraBertError) as info:
        load_config(FinetuneConfig, file=tmp_path / "bomb.yaml")
    assert len(str(info.value)) < 300


def test_cli_options_are_checked(run_cli, planted, tmp_path):
    for args, fragment in [
        (("finetune", "--model", planted / "pre", "--data", planted / "data", "--out", tmp_path / "f",
          "--max-steps", "0"), "max_steps: must be >= 1"),
        (("finetune", "--model", planted / "pre", "--data", planted / "data", "--out", tmp_path / "f",
          "--loss", "msee"), "loss: must be one of mse, poisson"),
        (("predict", "--model", planted / "pre", "--fasta", "x.fa", "--out", tmp_path / "o.tsv", "--batch-size",
          "0"), "--batch-size"),
        (("expression", "--tpm", planted / "tpm.tsv", "--promoters", planted / "p.parquet", "--out",
          tmp_path / "e", "--test-fraction", "1.5"), "--test-fraction"),
        (("expression", "--tpm", planted / "tpm.tsv", "--promoters", planted / "p.parquet", "--out",
          tmp_path / "e", "--gene-column", "nope"), "no column 'nope'"),
    ]:
        one_line_error(*run_cli(*args)[::2], fragment)
    assert not (tmp_path / "f").exists() and not (tmp_path / "e").exists()


def test_family_table_and_sample_sheet_need_their_headers(tmp_path):
    from florabert.data.expression import read_sample_sheet
    from florabert.data.splits import read_families

    (tmp_path / "fam.tsv").write_text("g1\tF1\ng2\tF1\n")
    with pytest.raises(InputError, match=r"fam\.tsv:1: expected a header with columns 'gene_id' and 'family_id'"):
        read_families(tmp_path / "fam.tsv", ["g1", "g2"])
    (tmp_path / "s.tsv").write_text("s1\tleaf\ns2\troot\n")
    with pytest.raises(InputError, match=r"s\.tsv:1: expected a header with columns 'sample' and 'tissue'"):
        read_sample_sheet(tmp_path / "s.tsv")


# --- silent wrong results -----------------------------------------------------------------------------------


def test_predict_refuses_sequences_that_are_not_dna(run_cli, planted_model, tmp_path):
    for body, fragment in (("g1\tACGT123\n", "invalid character '1'"), ("g1\t\n", "empty sequence")):
        (tmp_path / "s.tsv").write_text("gene_id\tsequence\n" + body)
        one_line_error(*run_cli("predict", "--model", planted_model, "--tsv", tmp_path / "s.tsv", "--out",
                                tmp_path / "o.tsv")[::2], "s.tsv:2", fragment)
    (tmp_path / "e.fa").write_text(">g1\n>g2\nACGT\n")
    one_line_error(*run_cli("predict", "--model", planted_model, "--fasta", tmp_path / "e.fa", "--out",
                            tmp_path / "o.tsv")[::2], "empty sequence")
    assert not (tmp_path / "o.tsv").exists()


def test_same_named_models_get_distinct_labels(tmp_path):
    from florabert.evaluation.evaluate import model_labels

    a, b = tmp_path / "a" / "model", tmp_path / "b" / "model"
    assert model_labels([a, b]) == ["a-model", "b-model"]
    assert model_labels([tmp_path / "x"]) == ["x"]
    assert model_labels([tmp_path / "kmer_linear"], reserved=["kmer_linear"]) == [f"{tmp_path.name}-kmer_linear"]


def test_gene_file_names_do_not_collide():
    from florabert.plotting import file_stem

    stems = {file_stem(g) for g in ("a/b", "a_b", "a b", "AT1G01010", "../x")}
    assert len(stems) == 5 and "AT1G01010" in stems and all("/" not in s and not s.startswith(".")
                                                            for s in stems)


def test_corpus_species_that_share_a_shard_name(tmp_path):
    from florabert.genome.corpus import load_manifest

    (tmp_path / "g.yaml").write_text("genomes:\n  - {species: Zea mays, fasta: a.fa}\n"
                                     "  - {species: zea_mays, fasta: b.fa}\n")
    with pytest.raises(InputError, match="share the shard name"):
        load_manifest(tmp_path / "g.yaml")


def test_markdown_outputs_escape_names():
    from florabert.htmlreport import md_code, md_escape

    assert md_escape("leaf|<script>") == "leaf\\|&lt;script&gt;"
    assert md_code("a`b") == "``a`b``"


def test_download_limit_and_stale_part(tmp_path, monkeypatch):
    from florabert.genome.download import cache_name, fetch

    src = tmp_path / "g.fa"
    src.write_bytes(b">c\n" + b"A" * 4000 + b"\n")
    url = src.as_uri()
    part = tmp_path / "cache" / (cache_name(url) + ".part")
    monkeypatch.setenv("FLORABERT_MAX_DOWNLOAD_GB", str(1000 / 2**30))
    with pytest.raises(FloraBertError, match="download limit"):
        fetch(url, tmp_path / "cache")
    assert not part.exists()
    monkeypatch.delenv("FLORABERT_MAX_DOWNLOAD_GB")
    part.write_bytes(src.read_bytes()[:100])  # an interrupted download of this very file: resumed
    assert fetch(url, tmp_path / "cache").read_bytes() == src.read_bytes()
    other = tmp_path / "cache2" / part.name
    other.parent.mkdir()
    other.write_bytes(b"GARBAGE FROM ANOTHER FILE")  # no record of where it came from: not trusted
    assert fetch(url, tmp_path / "cache2").read_bytes() == src.read_bytes()


def test_crashed_finetune_leaves_no_output_and_resumes(planted, tmp_path):
    from transformers import TrainerCallback

    from florabert.config import FinetuneConfig, load_config
    from florabert.training.finetune import finetune

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 7:
                raise RuntimeError("power cut")

    cfg = load_config(FinetuneConfig, overrides={"max_steps": 10, "eval_steps": 5, "batch_size": 16,
                                                 "optimizer": "adamw", "wide_kmers": [], "wide_motifs": False})
    out = tmp_path / "ft"
    with pytest.raises(RuntimeError):
        finetune(planted / "pre", planted / "data", out, cfg, log=lambda m: None, callbacks=[Crash()])
    assert not out.exists() and (tmp_path / ".ft.partial" / "checkpoints" / "checkpoint-5").is_dir()
    logs = []
    metrics = finetune(planted / "pre", planted / "data", out, cfg, resume=True, log=logs.append)
    assert any("resuming from" in m and "checkpoint-5" in m for m in logs)
    assert metrics["steps"] == 10 and (out / "model.safetensors").exists()
    assert not (tmp_path / ".ft.partial").exists() and not (out / "checkpoints").exists()


def test_a_killed_writers_lock_and_staging_are_cleaned_by_the_next_run(tmp_path):
    """A lock whose process is gone (or that was left empty) is taken over; the staging the dead run left
    (a half-written file output's .tmp, a folder's .partial) is removed; a training run's .partial stays."""
    import socket
    import subprocess
    import sys

    from florabert.outputs import claim_file, lock_path, release_lock

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "pred.tsv"
    lock_path(out).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "command": "predict"}))
    (tmp_path / ".pred.tsv.ab12cd.tmp").write_text("gene_id\tleaf\nG1\t1.")  # killed mid-write
    (tmp_path / ".pred.tsv.x9.partial").mkdir()
    (tmp_path / ".pred.tsv.partial").mkdir()  # a training run's, kept for --resume
    (tmp_path / ".other.tsv.zz.tmp").write_text("not ours")
    claim_file(out)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [".other.tsv.zz.tmp", ".pred.tsv.lock", ".pred.tsv.partial"]
    assert json.loads(lock_path(out).read_text())["pid"] == os.getpid()
    release_lock(out)

    lock_path(out).write_text("")  # created, never written: its process died in between
    old = time.time() - 60
    os.utime(lock_path(out), (old, old))
    claim_file(out)
    assert json.loads(lock_path(out).read_text())["pid"] == os.getpid()
    release_lock(out)


def test_a_full_disk_without_a_file_name_names_the_out_path():
    import errno

    from florabert.errors import describe

    msg = describe(OSError(errno.ENOSPC, "No space left on device"), out="results/model")
    assert msg.startswith("results/model: no space left on device") and "\n" not in msg
    with_file = OSError(errno.ENOSPC, "No space left on device", "results/model/x.bin")
    assert describe(with_file, out="results/model").startswith("results/model/x.bin: No space left")
