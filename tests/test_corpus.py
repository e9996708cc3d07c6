import hashlib
import http.server
import json
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from florabert.errors import FloraBertError, InputError
from florabert.genome.corpus import build_corpus, corpus_files, load_manifest
from florabert.genome.download import cache_name, fetch


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with byte-range support (enough to test resumed downloads)."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.headers.get("Range"))  # before replying: the client may be quick
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        if rng := self.headers.get("Range"):
            start = int(rng.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture
def http_dir(tmp_path):
    root = tmp_path / "www"
    root.mkdir()

    def handler(*a, **k):
        return _RangeHandler(*a, directory=str(root), **k)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


def test_http_download_resumes_and_verifies(tmp_path, http_dir, data_dir):
    root, base, server = http_dir
    payload = (data_dir / "tiny.fa").read_bytes() * 50
    (root / "g.fa").write_bytes(payload)
    url = f"{base}/g.fa"
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / (cache_name(url) + ".part")).write_bytes(payload[:1000])  # an interrupted earlier download
    digest = hashlib.sha256(payload).hexdigest()
    got = fetch(url, cache, sha256=digest)
    assert got.read_bytes() == payload
    assert server.requests == ["bytes=1000-"]
    fetch(url, cache, sha256=digest)  # cached: no new request
    assert len(server.requests) == 1
    with pytest.raises(FloraBertError, match="sha256 mismatch"):
        fetch(url, cache, sha256="0" * 64)
    assert not got.exists() and got.with_name(got.name + ".bad").exists()  # set aside, next run re-fetches


def test_file_url_and_missing_file(tmp_path, data_dir):
    got = fetch((data_dir / "tiny.fa").resolve().as_uri(), tmp_path / "c")
    assert got.read_bytes() == (data_dir / "tiny.fa").read_bytes()
    with pytest.raises(InputError, match="file not found"):
        fetch(str(tmp_path / "nope.fa"), tmp_path / "c")


def _manifest(tmp_path, data_dir, extra=""):
    (tmp_path / "g").mkdir(exist_ok=True)
    for name in ("tiny.fa", "tiny.gff3"):
        (tmp_path / "g" / name).write_bytes((data_dir / name).read_bytes())
    text = (
        "genomes:\n"
        "  - species: Species one\n"
        f"    fasta: {(data_dir / 'tiny.fa').resolve().as_uri()}\n"
        "    annotation: g/tiny.gff3\n"  # relative to the manifest
        "  - species: Species two\n"
        "    fasta: g/tiny.fa\n"
        f"    annotation: {data_dir.resolve() / 'tiny.gtf'}\n" + extra
    )
    path = tmp_path / "genomes.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("workers", [1, 2])
def test_build_corpus_shards_and_manifest(tmp_path, data_dir, workers):
    out = tmp_path / "corpus"
    info = build_corpus(_manifest(tmp_path, data_dir), out, workers=workers, upstream=5, log=lambda m: None)
    assert [s["species"] for s in info["species"]] == ["Species one", "Species two"]
    assert [s["written"] for s in info["species"]] == [3, 3]
    assert info["total"] == 6
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["shards"] == info["shards"]
    table = pq.read_table(corpus_files(out))
    assert table.num_rows == 6
    assert set(table.column("species").to_pylist()) == {"Species one", "Species two"}
    two = pq.read_table(corpus_files(out, species=["Species two"]))
    assert set(two.column("species").to_pylist()) == {"Species two"}
    with pytest.raises(FloraBertError, match="not in this corpus"):
        corpus_files(out, species=["Zea mays"])


def test_dedup_drops_sequences_seen_earlier(tmp_path, data_dir):
    info = build_corpus(_manifest(tmp_path, data_dir), tmp_path / "c", workers=1, upstream=5, dedup=True,
                        shard_rows=2, log=lambda m: None)
    # species two has exactly the promoters of species one
    assert info["duplicates_dropped"] == 3
    assert [s["written"] for s in info["species"]] == [3, 0]
    assert info["total"] == pq.read_table(corpus_files(tmp_path / "c")).num_rows == 3


def test_identical_sequences_within_a_species_are_reported(tmp_path, data_dir):
    gff = tmp_path / "twins.gff3"
    gff.write_text("chr1\tt\tgene\t16\t25\t.\t+\t.\tID=a\nchr1\tt\tgene\t16\t20\t.\t+\t.\tID=b\n")
    (tmp_path / "m.yaml").write_text(
        f"genomes:\n  - species: x\n    fasta: {data_dir / 'tiny.fa'}\n    annotation: {gff}\n")
    info = build_corpus(tmp_path / "m.yaml", tmp_path / "c", workers=1, upstream=5, log=lambda m: None)
    assert info["species"][0]["duplicate_sequences"] == 1


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("genomes: []\n", "top-level 'genomes:' list"),
        ("genomes:\n  - species: a\n", "lacks fasta"),
        ("genomes:\n  - species: a\n    fasta: x.fa\n    tile: {length: 5}\n", "tile takes stride"),
        ("genomes: [\n", "genomes.yaml:"),
    ],
)
def test_bad_manifest(tmp_path, text, fragment):
    (tmp_path / "genomes.yaml").write_text(text)
    with pytest.raises(InputError, match=fragment):
        load_manifest(tmp_path / "genomes.yaml")


def test_corpus_cli(run_cli, tmp_path, data_dir):
    code, stdout, err = run_cli("corpus", "--manifest", _manifest(tmp_path, data_dir), "--out",
                                tmp_path / "c", "--upstream", 5, "--workers", 2)
    assert code == 0, err
    assert "Species one" in stdout and (tmp_path / "c" / "manifest.json").exists()


def test_a_genome_without_annotation_is_tiled_for_pretraining(tmp_path, data_dir):
    fa, gff = data_dir / "tiny.fa", data_dir / "tiny.gff3"
    (tmp_path / "m.yaml").write_text(
        f"genomes:\n  - species: annotated\n    fasta: {fa}\n    annotation: {gff}\n"
        f"  - species: tiled\n    fasta: {fa}\n    tile: {{stride: 4, strands: '+'}}\n")
    info = build_corpus(tmp_path / "m.yaml", tmp_path / "c", workers=2, layout="tss:-4:0,tts:0:+4",
                        log=lambda m: None)
    tiled = pq.read_table(corpus_files(tmp_path / "c", species=["tiled"])).to_pylist()
    assert info["species"][1]["written"] == len(tiled) > 0
    assert all(len(r["sequence"]) == 9 and r["sequence"][4] == "|" and r["strand"] == "+" for r in tiled)
    assert tiled[0]["gene_id"] == "chr1:0-8(+)" and tiled[0]["sequence"] == "ACGT|ACGT"
