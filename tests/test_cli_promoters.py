import gzip

import pyarrow.parquet as pq
import pytest

GFF_OK = "chr1\tt\tgene\t16\t25\t.\t+\t.\tID=g1;gene_biotype=protein_coding\n"


def test_promoters_command_writes_table_and_summary(run_cli, data_dir, tmp_path):
    out = tmp_path / "p.parquet"
    code, stdout, err = run_cli("promoters", "--genome", data_dir / "tiny.fa", "--annotation",
                                data_dir / "tiny.gff3", "--out", out, "--upstream", 5, "--species", "tiny")
    assert code == 0, err
    assert pq.read_table(out).column("gene_id").to_pylist() == ["gPlus", "gMinus", "gChr2"]
    assert "genes read" in stdout and "off_edge 2" in stdout and "missing_chrom 1" in stdout
    assert "missing from the FASTA" in err  # warning about chrX


def _bad_cases(tmp_path, data_dir):
    fa, gff = data_dir / "tiny.fa", data_dir / "tiny.gff3"
    w = tmp_path.joinpath
    w("noheader.fa").write_text("ACGT\nACGT\n")
    w("cols8.gff3").write_text(GFF_OK + "chr1\tt\tgene\t1\t4\t.\t+\tID=x\n")
    w("nonnum.gff3").write_text(GFF_OK + "chr1\tt\tgene\tone\t4\t.\t+\t.\tID=x\n")
    w("startend.gff3").write_text(GFF_OK + "chr1\tt\tgene\t9\t4\t.\t+\t.\tID=x\n")
    w("otherchroms.gff3").write_text("chrZ\tt\tgene\t16\t25\t.\t+\t.\tID=g1\n")
    blob = gzip.compress(b">chr1\n" + b"ACGT" * 100_000 + b"\n")
    w("trunc.fa.gz").write_bytes(blob[: len(blob) // 3])
    rows = "".join(f"chr1\tt\tgene\t{i}\t{i + 9}\t.\t+\t.\tID=g{i}\n" for i in range(1, 20000))
    gz = gzip.compress(rows.encode())
    w("trunc.gff3.gz").write_bytes(gz[: len(gz) // 2])
    return [
        (w("noheader.fa"), gff, "noheader.fa:1:"),
        (fa, w("cols8.gff3"), "cols8.gff3:2:"),
        (fa, w("nonnum.gff3"), "nonnum.gff3:2:"),
        (fa, w("startend.gff3"), "startend.gff3:2:"),
        (fa, w("otherchroms.gff3"), "otherchroms.gff3: none of its sequence names"),
        (w("trunc.fa.gz"), gff, "trunc.fa.gz"),
        (fa, w("trunc.gff3.gz"), "trunc.gff3.gz"),
        (w("missing.fa"), gff, "missing.fa: file not found"),
    ]


def test_bad_input_one_line_error_no_output(run_cli, data_dir, tmp_path):
    for genome, annotation, expected in _bad_cases(tmp_path, data_dir):
        out = tmp_path / "out" / "p.parquet"
        code, _, err = run_cli("promoters", "--genome", genome, "--annotation", annotation, "--out", out)
        assert code == 1, (expected, err)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1, err
        assert lines[0].startswith("error: ") and expected in lines[0], (expected, err)
        assert "Traceback" not in err
        assert not out.exists()
        assert not list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True


def test_failed_run_keeps_the_previous_output(run_cli, data_dir, tmp_path):
    out = tmp_path / "p.tsv"
    out.write_text("gene_id\tsequence\nprevious\tACGT\n")  # a florabert table: a rerun may replace it
    (tmp_path / "bad.gff3").write_text("chr1\tt\tgene\n")
    code, _, err = run_cli("promoters", "--genome", data_dir / "tiny.fa", "--annotation",
                           tmp_path / "bad.gff3", "--out", out)
    assert code == 1 and "bad.gff3:1:" in err
    assert out.read_text() == "gene_id\tsequence\nprevious\tACGT\n"


def test_bad_option_values_are_usage_errors(run_cli, data_dir, tmp_path):
    code, _, err = run_cli("promoters", "--genome", data_dir / "tiny.fa", "--annotation",
                           data_dir / "tiny.gff3", "--out", tmp_path / "p.parquet", "--edge", "wrap")
    assert code == 1 and "wrap" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("promoters", "--genome", data_dir / "tiny.fa", "--annotation",
                           data_dir / "tiny.gff3", "--out", tmp_path / "p.bed")
    assert code == 1 and ".parquet, .tsv or .fa" in err


@pytest.mark.parametrize("entry", [["-m", "florabert"], []])
def test_module_and_console_script_entry_points(entry, data_dir, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    cmd = [sys.executable, *entry] if entry else [str(Path(sys.executable).parent / "florabert")]
    proc = subprocess.run([*cmd, "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "promoters" in proc.stdout
