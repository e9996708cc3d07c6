"""Multi-species promoter corpus: a YAML manifest of genomes -> Parquet shards + manifest.json.

Manifest format::

    genomes:
      - species: Arabidopsis thaliana
        fasta: path/or/URL.fa.gz          # relative paths are relative to the manifest file
        annotation: path/or/URL.gff3.gz   # or .gtf(.gz)
        sha256: {fasta: "...", annotation: "..."}   # optional
      - species: Arabidopsis lyrata       # no annotation: windows tiled over the assembly (pre-training only)
        fasta: Alyr.fa.gz
        tile: {stride: 1000, max_n: 0.1, strands: both}   # optional (these are the defaults for 1 kb)

Output directory: ``<species-slug>-<nnnnn>.parquet`` shards (columns of the promoter table) and
``manifest.json`` (options, per-species counts, shards in order). Genomes are processed in parallel
processes; each writes its own shards, atomically.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from florabert.errors import FloraBertError, InputError
from florabert.genome.download import fetch
from florabert.io import atomic_path, parquet_schema, read_parquet, read_yaml

MANIFEST_NAME = "manifest.json"


def slug(species: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", species).strip("_").lower() or "species"


def load_manifest(path: str | Path) -> list[dict]:
    """Parse and check a corpus manifest; returns the genome entries with paths resolved."""
    path = Path(path)
    doc = read_yaml(path)
    genomes = doc.get("genomes") if isinstance(doc, dict) else None
    if not isinstance(genomes, list) or not genomes:
        raise InputError(path, "expected a top-level 'genomes:' list")
    entries, seen = [], set()
    for i, g in enumerate(genomes, 1):
        if not isinstance(g, dict):
            raise InputError(path, f"genome #{i} must be a mapping with species, fasta, annotation")
        missing = [k for k in ("species", "fasta") if not g.get(k)]
        if missing:
            raise InputError(path, f"genome #{i} lacks {', '.join(missing)}")
        tile = g.get("tile") or {}
        unknown = sorted(set(tile) - {"stride", "max_n", "strands"}) if isinstance(tile, dict) else ["?"]
        if unknown:
            raise InputError(path, f"genome #{i}: tile takes stride, max_n and strands (not {', '.join(unknown)})")
        if g["species"] in seen:
            raise InputError(path, f"species {g['species']!r} is listed twice")
        seen.add(g["species"])
        entry = {"species": str(g["species"]), "sha256": dict(g.get("sha256") or {}), "tile": dict(tile)}
        for key in ("fasta", "annotation"):
            if not g.get(key):
                continue
            loc = str(g[key])
            if "://" not in loc and not Path(loc).is_absolute():
                loc = str((path.parent / loc).resolve())
            entry[key] = loc
        entries.append(entry)
    slugs: dict[str, str] = {}
    for e in entries:
        other = slugs.setdefault(slug(e["species"]), e["species"])
        if other != e["species"]:
            raise InputError(path, f"species {other!r} and {e['species']!r} would share the shard name "
                             f"{slug(e['species'])!r}; rename one")
    return entries


def _build_one(entry: dict, out: str, cache: str, options: dict, shard_rows: int) -> dict:
    """Worker: fetch one genome, extract its promoters, write its shards. Runs in a child process."""
    from florabert.genome.promoters import extract_promoters

    fasta = fetch(entry["fasta"], cache, sha256=entry["sha256"].get("fasta"))
    if entry.get("annotation"):
        annotation = fetch(entry["annotation"], cache, sha256=entry["sha256"].get("annotation"))
        result = extract_promoters(fasta, annotation, species=entry["species"], **options)
    else:  # no annotation: tiles in the layout's shape, for pre-training
        from florabert.genome.tiles import tile_genome
        from florabert.layout import Layout

        result = tile_genome(fasta, species=entry["species"], layout=Layout.parse(options["layout"]),
                             **entry.get("tile", {}))
    shards = _write_shards(result.table, Path(out), slug(entry["species"]), shard_rows)
    return {"summary": result.summary(), "warnings": result.warnings, "shards": shards}


def _write_shards(table, out: Path, prefix: str, shard_rows: int) -> list[dict]:
    import pyarrow.parquet as pq

    shards = []
    for k, offset in enumerate(range(0, max(table.num_rows, 1), shard_rows)):
        part = table.slice(offset, shard_rows)
        name = f"{prefix}-{k:05d}.parquet"
        with atomic_path(out / name) as tmp:
            pq.write_table(part, tmp, compression="zstd")
        shards.append({"path": name, "rows": part.num_rows})
    return shards


def build_corpus(
    manifest: str | Path,
    out: str | Path,
    *,
    workers: int | None = None,
    cache: str | Path | None = None,
    upstream: int = 1000,
    downstream: int = 0,
    biotype: str | None = "protein_coding",
    edge: str = "drop",
    clip_neighbors: bool = False,
    layout: str | None = None,
    dedup: bool = False,
    shard_rows: int = 50_000,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> dict:
    """Build the corpus of every genome in ``manifest`` into ``out``; returns the manifest.json content.

    layout: the windows cut from every gene (e.g. ``"tss:-1000:+500,tts:-500:+1000"``, see
    :mod:`florabert.layout`), else one window of ``upstream``/``downstream`` bases around the TSS; recorded
    in manifest.json (``options.layout``) and in every shard's metadata.
    dedup: drop a promoter whose sequence already occurred earlier in the corpus (manifest order),
    within or across species. Identical sequences within a species are always counted in the summary.
    ``out`` follows the ``--out`` rule (:mod:`florabert.outputs`): built beside it, moved in when complete;
    the download cache of an earlier corpus at ``out`` (``downloads/``) is kept.
    """
    from florabert.layout import Layout
    from florabert.outputs import claim_dir, output_dir

    lay = (Layout.parse(layout, biotype=biotype, edge=edge, clip_neighbors=clip_neighbors) if layout
           else Layout.promoter(upstream, downstream, biotype=biotype, edge=edge, clip_neighbors=clip_neighbors))
    entries = load_manifest(manifest)
    if shard_rows < 1:
        raise FloraBertError(f"--shard-rows must be >= 1 (got {shard_rows})")
    final = Path(out)
    claim_dir(final, "corpus", force=force)
    with output_dir(final, "corpus", force=force, keep=("downloads",)) as out:
        if cache is None:
            cache = final / "downloads" if (final / "downloads").is_dir() else out / "downloads"
        return _build(entries, out, Path(cache), lay, dedup, workers, shard_rows, log)


def _build(entries, out: Path, cache: Path, lay, dedup: bool, workers, shard_rows: int, log) -> dict:
    options = {"layout": lay.spec, "biotype": lay.biotype, "edge": lay.edge, "clip_neighbors": lay.clip_neighbors}
    workers = max(1, min(workers or os.cpu_count() or 1, len(entries)))
    log(f"building promoters of {len(entries)} genomes with {workers} processes")
    results: list[dict] = []
    if workers == 1:
        results = [_build_one(e, str(out), str(cache), options, shard_rows) for e in entries]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_build_one, e, str(out), str(cache), options, shard_rows) for e in entries]
            results = [f.result() for f in futures]
    for r in results:
        for w in r["warnings"]:
            log(f"warning: {w}")
    dropped_cross = _dedup_shards(out, results) if dedup else 0
    info = {
        "options": {**lay.to_dict(), "dedup": dedup},
        "genomes": entries,
        "species": [r["summary"] for r in results],
        "shards": [{**s, "species": r["summary"]["species"]} for r in results for s in r["shards"]],
        "duplicates_dropped": dropped_cross,
    }
    info["total"] = sum(s["rows"] for s in info["shards"])
    with atomic_path(out / MANIFEST_NAME) as tmp:
        tmp.write_text(json.dumps(info, indent=2))
    return info


def _dedup_shards(out: Path, results: list[dict]) -> int:
    """Rewrite shards without sequences seen earlier in the corpus; returns how many rows were dropped."""
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    seen: set[bytes] = set()
    dropped = 0
    for r in results:
        for shard in r["shards"]:
            table = pq.read_table(out / shard["path"])
            keep = []
            for seq in table.column("sequence").to_pylist():
                digest = hashlib.blake2b(seq.encode(), digest_size=16).digest()
                keep.append(digest not in seen)
                seen.add(digest)
            n_drop = keep.count(False)
            if n_drop:
                table = table.filter(pa.array(keep))
                with atomic_path(out / shard["path"]) as tmp:
                    pq.write_table(table, tmp, compression="zstd")
                shard["rows"] = table.num_rows
                r["summary"]["written"] -= n_drop
                r["summary"]["dropped"]["duplicate_sequence"] = n_drop
                dropped += n_drop
    return dropped


def corpus_layout(path: str | Path):
    """The :class:`~florabert.layout.Layout` a corpus (directory or .parquet file) was cut with: from
    manifest.json, else the first shard's metadata; None when unknown."""
    import pyarrow.parquet as pq

    from florabert.genome.promoters import META_KEY
    from florabert.layout import Layout

    path = Path(path)
    if (path / MANIFEST_NAME).exists():
        return Layout.from_dict(json.loads((path / MANIFEST_NAME).read_text()).get("options"))
    files = corpus_files(path)
    meta = pq.read_schema(files[0]).metadata or {}
    return Layout.from_dict(json.loads(meta[META_KEY])) if META_KEY in meta else None


def corpus_files(path: str | Path, species: list[str] | None = None) -> list[Path]:
    """Parquet files of a corpus: a directory with manifest.json (in its order), a directory of
    .parquet files, or one .parquet file. ``species`` keeps only those species' shards."""
    path = Path(path)
    manifest = path / MANIFEST_NAME
    if manifest.exists():
        try:
            shards = json.loads(manifest.read_text())["shards"]
            names = {s["species"] for s in shards}
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(manifest, f"not a corpus manifest ({type(exc).__name__}: {str(exc)[:80]})") from None
        if species:
            _check_species(path, species, names)
            shards = [s for s in shards if s["species"] in species]
        files = [path / s["path"] for s in shards]
        for f in files:
            parquet_schema(f, needs=("sequence",))
        return files
    files = [path] if path.is_file() else sorted(path.glob("*.parquet")) if path.is_dir() else []
    if not files:
        raise InputError(path, "no Parquet corpus here (expected a file, or a directory of .parquet shards)")
    for f in files:
        parquet_schema(f, needs=("sequence",))
    if species:
        import pyarrow.compute as pc

        known = set()
        for f in files:
            known.update(pc.unique(read_parquet(f, columns=["species"], needs=("species",)).column(0)).to_pylist())
        _check_species(path, species, known)
    return files


def _check_species(path: Path, wanted: list[str], known: set[str]) -> None:
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise FloraBertError(f"{path}: species not in this corpus: {', '.join(unknown)} "
                             f"(it has {', '.join(sorted(known))})")
