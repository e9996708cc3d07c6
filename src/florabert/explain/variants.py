"""Predicted effect of sequence variants (VCF) on the expression of the genes whose windows they hit.

Every ALT allele of every VCF record is tested against every window of every gene it overlaps (windows cut
from ``--genome`` + ``--annotation`` exactly as the model's training windows were, settings stored in the
model); all the windows of one gene that a variant hits change together (a SNP in the last exon can sit in both
a ``tts`` and a ``cds`` window), and each (variant allele, gene) pair is one row. A mutant TSS/TTS window keeps
the reference window's length and its anchored end (the TSS side of a promoter): an insertion pushes the far end
inwards, a deletion pulls in more sequence (past a chromosome end: N). A ``cds`` window is the spliced coding
sequence from the start codon: a variant in a coding exon is applied to the spliced sequence (a SNP changes one
codon; an indel shifts every base after it, so the codons read in frame from the start codon change from there
on: a frameshift), the window keeping its length and its start codon; a variant that crosses an exon-intron
boundary is not applied to the cds window (counted as ``cds_boundary_not_applied``).

Output ``variants.tsv``, sorted by effect size (largest |Δ| over outputs first): ``variant_id, chrom, pos, ref,
alt, gene_id, strand``, then ``tss_position`` (one-window models: the variant's first base relative to the TSS,
-1 = the base before it) or ``window`` and ``position`` (the windows hit and the landmark-relative position in
each, comma-separated; in a cds window the position counts coding bases from the A of the start codon), then
``ref_<output>``, ``alt_<output>``, ``delta_<output>`` (alt - ref) and ``max_abs_delta``. Variants that fall in
no window are listed too, with gene_id ``.`` and Δ 0, so that every input allele has an answer. Symbolic alleles
(``<DEL>``, ``*``) are skipped and counted.

The VCF is read with pysam (htslib): plain, gzip (decompressed to a temporary copy, since htslib reads only
bgzip) or bgzip. Each REF allele is checked against the genome; a mismatch is an error naming the VCF line
(wrong genome build or chromosome names).
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from florabert.errors import FloraBertError, InputError
from florabert.explain.inputs import scores, targets
from florabert.io import open_text
from florabert.outputs import claim_dir, output_dir
from florabert.plotting import progress

DNA = set("ACGTN")


@dataclass
class Variant:
    line: int
    chrom: str
    pos: int  # 1-based, as in the VCF
    vid: str
    ref: str
    alt: str


def _header_lines(path: Path) -> int:
    """Header lines of a VCF; reads the whole file, so truncated or corrupt (b)gzip data is reported here
    (htslib would abort or stop early)."""
    from florabert.io import reading_errors

    n, lineno, body = 0, 0, False
    with open_text(path) as fh, reading_errors(path, lambda: lineno + 1):
        for lineno, line in enumerate(fh):  # noqa: B007 - lineno is read by the error handler
            if not body and line.startswith("#"):
                n += 1
            else:
                body = True
    return n


def _diagnose(path: Path, lineno: int) -> str:
    """Why a data line is malformed (pysam only says 'truncated file' or similar)."""
    with open_text(path) as fh:
        for i, line in enumerate(fh, start=1):
            if i == lineno:
                f = line.rstrip("\r\n").split("\t")
                if len(f) < 8:
                    return f"expected at least 8 tab-separated columns, found {len(f)}"
                if not f[1].isdigit():
                    return f"POS {f[1]!r} is not a positive integer"
                return "malformed VCF record"
    return "malformed VCF record"


def read_vcf(path: str | Path) -> tuple[list[Variant], int]:
    """Biallelic (chrom, pos, id, ref, alt) records, one per ALT allele; returns (variants, skipped
    symbolic alleles)."""
    import pysam

    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    pysam.set_verbosity(0)
    header_n = _header_lines(path)
    with _htslib_readable(path) as readable:
        return _read_records(path, readable, header_n)


@contextlib.contextmanager
def _htslib_readable(path: Path):
    """``path``, or for plain gzip (which htslib cannot read; it needs bgzip) a decompressed copy of it in a
    temporary folder."""
    from florabert.io import is_bgzf, is_gzip

    if not is_gzip(path) or is_bgzf(path):
        yield path
        return
    import shutil
    import tempfile

    from florabert.io import open_binary

    with tempfile.TemporaryDirectory(prefix="florabert-vcf-") as tmp:
        plain = Path(tmp) / path.name.removesuffix(".gz")
        with open_binary(path) as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
        yield plain


def _read_records(path: Path, readable: Path, header_n: int) -> tuple[list[Variant], int]:
    import pysam

    try:
        vcf = pysam.VariantFile(str(readable))
    except (OSError, ValueError) as exc:
        raise InputError(path, f"not a VCF file ({exc})", line=1) from None
    out, skipped, i = [], 0, 0
    try:
        with vcf:
            for i, rec in enumerate(vcf, start=1):
                line = header_n + i
                ref = (rec.ref or "").upper()
                if not ref or set(ref) - DNA:
                    raise InputError(path, f"REF {rec.ref!r} is not a DNA sequence", line=line)
                if rec.pos < 1:
                    raise InputError(path, f"POS {rec.pos} must be >= 1", line=line)
                for alt in rec.alts or ():
                    alt = alt.upper()
                    if alt.startswith("<") or alt in ("*", "."):
                        skipped += 1
                        continue
                    if set(alt) - DNA:
                        raise InputError(path, f"ALT {alt!r} is not a DNA sequence", line=line)
                    out.append(Variant(line, rec.chrom, rec.pos, rec.id or f"{rec.chrom}:{rec.pos}", ref, alt))
    except (OSError, ValueError) as exc:
        line = header_n + i + 1
        raise InputError(path, f"{_diagnose(readable, line)} ({exc})", line=line) from None
    if not out:
        raise InputError(path, "no SNV or indel records")
    return out, skipped


def _cds_pieces(annotation, layout) -> dict[str, tuple] | None:
    """Gene id -> the coding pieces its cds window is cut from (None when the layout has no cds window)."""
    if "cds" not in layout.landmarks:
        return None
    from florabert.genome.annotation import read_annotation

    ann = read_annotation(annotation, feature=layout.feature, biotype=layout.biotype,
                          id_attribute=layout.id_attribute, cds=True)
    return {g.gene_id: g.cds for g in ann.genes if g.cds}


def _mapped(x: int, v0: int, ref_len: int, alt_len: int) -> int:
    """Reference coordinate x -> coordinate in the mutated sequence."""
    if x <= v0:
        return x
    if x >= v0 + ref_len:
        return x + alt_len - ref_len
    return v0 + min(x - v0, alt_len)


def _segment(chrom_seq: bytes, lo: int, hi: int) -> str:
    """chrom_seq[lo:hi] with N beyond the ends."""
    n = len(chrom_seq)
    inner = chrom_seq[max(lo, 0):max(min(hi, n), 0)].decode("ascii").upper()
    return "N" * max(0, -lo) + inner + "N" * max(0, hi - max(n, lo))


def mutant_window(chrom_seq: bytes, lo: int, hi: int, strand: str, v: Variant, anchor_right: bool = True
                  ) -> tuple[str, str]:
    """(reference, mutant) sequences (5'->3' on the gene's strand) of the window [lo, hi) for variant ``v``;
    the mutant keeps the window's length and its anchored end (``anchor_right``: the 3' end on the gene's
    strand, the TSS side of FloraBERT's promoters; else the 5' end)."""
    from florabert.genome.fasta import reverse_complement

    v0, rl, al = v.pos - 1, len(v.ref), len(v.alt)
    width = hi - lo
    extra = max(0, rl - al) + 1
    seg_lo, seg_hi = min(lo, v0) - extra, max(hi, v0 + rl) + extra
    seg = _segment(chrom_seq, seg_lo, seg_hi)
    alt_seg = seg[:v0 - seg_lo] + v.alt + seg[v0 + rl - seg_lo:]
    ref_win = seg[lo - seg_lo:hi - seg_lo]
    if (strand == "+") == anchor_right:  # keep the genomic right end
        end = _mapped(hi, v0, rl, al) - seg_lo
        alt_win = alt_seg[end - width:end]
    else:
        start = _mapped(lo, v0, rl, al) - seg_lo
        alt_win = alt_seg[start:start + width]
    if strand == "-":
        ref_win = reverse_complement(ref_win.encode()).decode()
        alt_win = reverse_complement(alt_win.encode()).decode()
    return ref_win, alt_win


def _window_index(table, layout, cds: dict[str, tuple] | None = None) -> dict[str, list[tuple]]:
    """Per chromosome, sorted by start: (lo, hi, strand, gene_id, window index, genomic position of the window's
    landmark-relative 0, the gene's window sequences) for every window of every gene. A cds window spans its
    gene's coding pieces (``cds``: gene id -> the [start, end) pieces, + strand), its "zero" is those pieces."""
    from florabert.genome.promoters import window_coords

    out: dict[str, list[tuple]] = {}
    cols = [table.column(c).to_pylist() for c in ("gene_id", "chrom", "strand", "tss", "sequence")]
    tts = table.column("tts").to_pylist() if "tts" in table.column_names else [None] * table.num_rows
    for (gid, chrom, strand, tss, seq), t, coords in zip(zip(*cols, strict=True), tts, window_coords(table),
                                                          strict=True):
        parts = tuple(seq.split("|"))
        for j, (lo, hi) in enumerate(coords):
            landmark = layout.windows[j].landmark
            if landmark == "cds":
                pieces = (cds or {}).get(gid)
                if pieces:
                    out.setdefault(chrom, []).append((pieces[0][0], pieces[-1][1], strand, gid, j, pieces, parts))
                continue
            zero = tss if landmark == "tss" else (t + 1 if strand == "+" else t - 1)
            out.setdefault(chrom, []).append((lo, hi, strand, gid, j, zero, parts))
    for ws in out.values():
        ws.sort(key=lambda w: w[:2])
    return out


def cds_mutant(chrom_seq: bytes, pieces, strand: str, v: Variant, start: int, end: int
               ) -> tuple[str, str, int] | None:
    """(reference, mutant, position) of the cds window ``start``..``end - 1`` (bases of the spliced coding
    sequence from the A of the start codon, 5'->3' on the gene's strand) for variant ``v``, and the variant's
    first base in those coordinates; None when the variant is outside the window's bases or crosses a splice
    boundary (partly intronic: not applied). The window keeps its length and its 5' end (the start codon): an
    indel shifts the bases after it, so the codons read in frame from the start codon change from there on
    (a frameshift), as the wide path's codon usage then sees them."""
    from florabert.genome.fasta import reverse_complement

    v0, v1 = v.pos - 1, v.pos - 1 + len(v.ref)
    offset = 0
    for s, e in pieces:
        if s <= v0 and v1 <= e:
            offset += v0 - s
            break
        if v0 < e and v1 > s:
            return None  # the variant crosses an exon-intron boundary
        offset += e - s
    else:
        return None
    ref = "".join(chrom_seq[s:e].decode("ascii").upper() for s, e in pieces)
    alt = ref[:offset] + v.alt + ref[offset + len(v.ref):]
    if strand == "-":
        ref, alt = (reverse_complement(x.encode()).decode() for x in (ref, alt))
        offset = len(ref) - offset - len(v.ref)
    if not (offset < end and offset + max(len(v.ref), 1) > start):
        return None
    return ref[start:end], alt[start:end], offset


# Over 80 lines on purpose: match variants to windows, score unique sequences once, write: one pass over shared
# tables.
MOTIF_COLUMNS = ["motif", "motif_tf", "motif_family", "motif_ref_bits", "motif_alt_bits", "motif_effect",
                 "motifs"]


def motif_cells(sites) -> list[str]:
    """The variants.tsv cells of the motifs an edit touches: the most changed one in columns, up to three in
    ``motifs`` (empty when no known site is touched)."""
    if not sites:
        return [""] * len(MOTIF_COLUMNS)
    top = sites[0]

    def bits(x):
        return f"{x:.2f}" if np.isfinite(x) else ""

    return [top.matrix_id, top.tf, top.family, bits(top.ref_score), bits(top.alt_score), top.effect,
            "; ".join(s.describe() for s in sites)]


def variant_effects(model_dir: str | Path, vcf: str | Path, genome: str | Path, annotation: str | Path,
                    out: str | Path, *, batch_size: int = 64, bf16: bool = False,
                    show_progress: bool = True, force: bool = False) -> dict:
    """Write ``variants.tsv`` (and ``variants_summary.json``) to the directory ``out``."""
    claim_dir(out, "explain variants", force=force)
    from florabert.genome.fasta import iter_fasta
    from florabert.genome.records import cut_as_trained
    from florabert.predict import Predictor

    predictor = Predictor(model_dir, batch_size=batch_size, bf16=bf16)
    config = predictor.config
    names = targets(config)
    if not config.promoter_window:
        raise FloraBertError(f"{model_dir}: the model does not record how its promoters were cut")
    layout = config.layout
    multi = len(layout) > 1
    variants, symbolic = read_vcf(vcf)
    table = cut_as_trained(genome, annotation, config.promoter_window).table
    windows = _window_index(table, layout, _cds_pieces(annotation, layout))
    longest = {c: max(hi - lo for lo, hi, *_ in ws) for c, ws in windows.items()}

    by_chrom: dict[str, list[Variant]] = {}
    for v in variants:
        by_chrom.setdefault(v.chrom, []).append(v)
    # (variant, gene) -> [strand, reference windows, mutant windows, {window index: landmark-relative position}]
    hits: dict[tuple[int, str], list] = {}
    crossing = 0  # variants that cross an exon-intron boundary of a cds window (not applied to it)
    seen: set[str] = set()
    for chrom, seq in iter_fasta(genome):
        if chrom not in by_chrom:
            continue
        seen.add(chrom)
        ws = windows.get(chrom, [])
        starts = [w[0] for w in ws]
        for v in by_chrom[chrom]:
            v0, v1 = v.pos - 1, v.pos - 1 + len(v.ref)
            if v1 > len(seq):
                raise InputError(vcf, f"{chrom}:{v.pos} {v.ref} runs past the end of {chrom} ({len(seq):,} bp)",
                                 line=v.line)
            found = seq[v0:v1].decode("ascii").upper()
            if found != v.ref and "N" not in v.ref:
                raise InputError(vcf, f"REF {v.ref} at {chrom}:{v.pos} does not match the genome ({found}); "
                                 "wrong genome build?", line=v.line)
            first = bisect.bisect_left(starts, v0 - longest.get(chrom, 0))
            for lo, hi, strand, gid, j, zero, parts in ws[first:bisect.bisect_left(starts, v1)]:
                if not (hi > v0 and lo < v1):
                    continue
                w = layout.windows[j]
                if w.landmark == "cds":
                    cut = cds_mutant(seq, zero, strand, v, w.start, w.end)
                    if cut is None:
                        crossing += any(v0 < e and v1 > s and not (s <= v0 and v1 <= e) for s, e in zero)
                        continue
                    ref_w, alt_w, rel = cut
                else:
                    ref_w, alt_w = mutant_window(seq, lo, hi, strand, v, anchor_right=w.anchor_right)
                    rel = v0 - zero if strand == "+" else zero - v0
                entry = hits.setdefault((id(v), gid), [v, strand, list(parts), list(parts), {}])
                entry[3][j] = alt_w
                entry[4][j] = rel
    if not seen:
        raise InputError(vcf, f"none of its chromosomes ({', '.join(list(by_chrom)[:3])}) is in {genome}")
    jobs = [(v, gid, strand, where, "|".join(ref_s), "|".join(alt_s))
            for (_, gid), (v, strand, ref_s, alt_s, where) in hits.items()]
    hit = {id(j[0]) for j in jobs}
    # (gene, sequence) pairs: a gene-model-reading model scores the same sequence differently for another gene
    unique = list(dict.fromkeys((j[1], s) for j in jobs for s in (j[4], j[5])))
    lookup = None
    if predictor.gene_features:  # kept fixed: a variant in a window does not change the gene model
        from florabert.predict import GeneLookup

        lookup = GeneLookup.from_table(predictor, table, annotation)
    values: dict[tuple[str, str], np.ndarray] = {}
    step = max(batch_size * 8, 512)
    with progress(len(unique), f"variant effects ({len(jobs):,} variant-gene pairs)", show_progress) as advance:
        for s in range(0, len(unique), step):
            part = unique[s:s + step]
            genes = lookup.rows([g for g, _ in part]) if lookup is not None else None
            values.update(zip(part, scores(predictor, [q for _, q in part], config, genes), strict=True))
            advance(len(part))
    rows = []
    for v, gid, strand, hit_where, ref_w, alt_w in jobs:
        r, a = values[(gid, ref_w)], values[(gid, alt_w)]
        js = sorted(hit_where)
        where = ([",".join(layout.names[j] for j in js), ",".join(str(hit_where[j]) for j in js)] if multi
                 else [hit_where[js[0]]])
        rows.append((float(np.abs(a - r).max()), v, gid, strand, where, r, a))
    zero = np.zeros(len(names))
    # the known motifs whose sites the edit touches, in the first window it falls in (florabert.motifs.annotate)
    from florabert.motifs.annotate import variant_motifs

    firsts = [min(j[3]) for j in jobs]
    named = variant_motifs([j[4].split("|")[k] for j, k in zip(jobs, firsts, strict=True)],
                           [j[5].split("|")[k] for j, k in zip(jobs, firsts, strict=True)])
    rows = [(*row, sites) for row, sites in zip(rows, named, strict=True)]
    rows += [(0.0, v, ".", ".", [".", ""] if multi else [""], None, None, [])
             for v in variants if id(v) not in hit]
    rows.sort(key=lambda r: -r[0])
    with output_dir(out, "explain variants", force=force) as tmp:
        with open(tmp / "variants.tsv", "w", newline="") as fh:
            w = csv.writer(fh, delimiter="\t", lineterminator="\n")
            # ref and alt as the VCF gives them: on the genome's forward strand (allele_strand "+"), whatever
            # the gene's strand
            w.writerow(["variant_id", "chrom", "pos", "ref", "alt", "allele_strand", "gene_id", "strand",
                        *(["window", "position"] if multi else [f"{layout.windows[0].landmark}_position"]),
                        *(f"ref_{t}" for t in names), *(f"alt_{t}" for t in names),
                        *(f"delta_{t}" for t in names), "max_abs_delta", *MOTIF_COLUMNS])
            for effect, v, gid, strand, where, r, a, sites in rows:
                pred = [f"{x:.6g}" for x in (*r, *a)] if r is not None else [""] * (2 * len(names))
                delta = (a - r) if r is not None else zero
                w.writerow([v.vid, v.chrom, v.pos, v.ref, v.alt, "+", gid, strand, *where, *pred,
                            *(f"{x:.6g}" for x in delta), f"{effect:.6g}", *motif_cells(sites)])
        summary = {"alleles": len(variants), "in_promoters": len(hit), "variant_gene_pairs": len(jobs),
                   "touching_known_motifs": sum(bool(r[-1]) for r in rows),
                   "destroying_a_motif_site": sum(any(x.effect == "destroyed" for x in r[-1]) for r in rows),
                   "outside_promoters": len(variants) - len(hit), "symbolic_skipped": symbolic,
                   "cds_boundary_not_applied": crossing,
                   "chromosomes_not_in_genome": sorted(set(by_chrom) - seen), "outputs": names}
        (tmp / "variants_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
