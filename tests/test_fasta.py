import gzip

import pytest

from florabert.errors import InputError
from florabert.genome.fasta import iter_fasta, read_fasta, reverse_complement

CHR1 = b"ACGTACGTAAccggttAAccGGGGRYTTTTACACACACGT"


def test_multi_and_single_line_give_the_same_records(data_dir):
    multi = read_fasta(data_dir / "tiny.fa")
    single = read_fasta(data_dir / "tiny_single_line.fa")
    assert multi == single
    assert list(multi) == ["chr1", "chr2"]  # name stops at the first whitespace
    assert multi["chr1"] == CHR1  # soft-masked case kept as stored


def test_crlf_gzip_and_bgzip_read_identically(data_dir, tmp_path):
    raw = (data_dir / "tiny.fa").read_bytes()
    (tmp_path / "crlf.fa").write_bytes(raw.replace(b"\n", b"\r\n"))
    with gzip.open(tmp_path / "crlf.fa.gz", "wb") as fh:
        fh.write(raw.replace(b"\n", b"\r\n"))
    # bgzip = concatenated gzip members
    (tmp_path / "multi.fa.gz").write_bytes(gzip.compress(raw[:30]) + gzip.compress(raw[30:]))
    expected = read_fasta(data_dir / "tiny.fa")
    for name in ("crlf.fa", "crlf.fa.gz", "multi.fa.gz"):
        assert read_fasta(tmp_path / name) == expected, name


def test_reverse_complement_by_hand():
    assert reverse_complement(b"AACGTN") == b"NACGTT"
    assert reverse_complement(b"ggccR") == b"Yggcc"  # case kept, IUPAC R <-> Y
    assert reverse_complement(b"KMSWBDHV") == b"BDHVWSKM"


@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        (b"ACGT\n>chr1\nACGT\n", 1, "before the first '>'"),
        (b">chr1\nACGT\n>\nACGT\n", 3, "no sequence name"),
        (b">chr1\nACGT\nAC1T\n", 3, "invalid character '1'"),
        (b">chr1\nACGT\n>chr1\nAC\n", 3, "duplicate sequence name"),
    ],
)
def test_bad_fasta_names_file_and_line(tmp_path, content, line, fragment):
    path = tmp_path / "bad.fa"
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        list(iter_fasta(path))
    assert f"bad.fa:{line}:" in str(err.value)
    assert fragment in str(err.value)


def test_empty_and_truncated_gzip(tmp_path):
    (tmp_path / "empty.fa").write_bytes(b"")
    with pytest.raises(InputError, match="no FASTA records"):
        list(iter_fasta(tmp_path / "empty.fa"))
    whole = gzip.compress(b">chr1\n" + b"ACGT" * 50_000 + b"\n")
    (tmp_path / "cut.fa.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match="truncated"):
        list(iter_fasta(tmp_path / "cut.fa.gz"))
    (tmp_path / "corrupt.fa.gz").write_bytes(b"\x1f\x8b" + b"not really gzip data" * 10)
    with pytest.raises(InputError, match=r"corrupt\.fa\.gz"):
        list(iter_fasta(tmp_path / "corrupt.fa.gz"))


@pytest.mark.parametrize("block", [1, 2, 3, 5, 7, 11, 64])
def test_block_boundaries_do_not_change_records(monkeypatch, data_dir, tmp_path, block):
    import florabert.genome.fasta as fasta

    raw = (data_dir / "tiny.fa").read_bytes()
    (tmp_path / "crlf.fa").write_bytes(raw.replace(b"\n", b"\r\n").rstrip())  # no final newline either
    expected = read_fasta(data_dir / "tiny.fa")
    monkeypatch.setattr(fasta, "BLOCK", block)
    assert read_fasta(data_dir / "tiny.fa") == expected
    assert read_fasta(tmp_path / "crlf.fa") == expected
    (tmp_path / "bad.fa").write_bytes(b">a\nACGT\n>b\nAC\nAXT\n")
    with pytest.raises(InputError, match=r"bad\.fa:5: invalid character 'X'"):
        read_fasta(tmp_path / "bad.fa")
    (tmp_path / "dup.fa").write_bytes(b">a\nACGT\nAAAA\n>a\nAC\n")
    with pytest.raises(InputError, match=r"dup\.fa:4: duplicate"):
        read_fasta(tmp_path / "dup.fa")


def test_open_indexed_random_access_matches_streaming(data_dir, tmp_path):
    from florabert.genome.fasta import open_indexed

    plain = tmp_path / "tiny.fa"
    plain.write_bytes((data_dir / "tiny.fa").read_bytes())
    fa = open_indexed(plain)
    assert fa["chr1"][10:15] == "CCGGT"  # 0-based half-open, upper-cased
    assert fa["chr2"][4:9] == "AAAAC"
    (tmp_path / "tiny.fa.gz").write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.raises(InputError, match="bgzip"):
        open_indexed(tmp_path / "tiny.fa.gz")
