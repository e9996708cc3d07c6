"""Masked-LM training data: tokenized corpus shards, the gene-level held-out split, and the MLM output bias
started at the token frequencies."""

from __future__ import annotations

import hashlib

import torch

from florabert.config import PretrainConfig
from florabert.errors import FloraBertError


def gene_hash(gene_id: str) -> float:
    """A gene id's place in [0, 1], the same in every process and run."""
    return int(hashlib.md5(gene_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def held_out(gene_id: str, fraction: float) -> bool:
    """Deterministic gene-level hold-out: the same genes whatever the shard order or process count."""
    return gene_hash(gene_id) < fraction


def load_mlm_datasets(corpus, tokenizer, config: PretrainConfig, *, species=None, cache_dir=None,
                      max_length: int | None = None):
    """Tokenized train/eval datasets (columns ``input_ids``, ``length``) from corpus Parquet shards; windows
    truncated to ``max_length`` tokens (default: the model config's)."""
    import datasets

    from florabert.genome.corpus import corpus_files

    files = [str(f) for f in corpus_files(corpus, species=species)]
    datasets.disable_progress_bars()
    # only what pre-training reads: annotated genomes' shards carry gene-model columns that tiles lack
    raw = datasets.load_dataset("parquet", data_files=files, split="train", streaming=config.streaming,
                                cache_dir=str(cache_dir) if cache_dir else None,
                                columns=["species", "gene_id", "sequence"])
    if species:
        raw = raw.filter(lambda b: [s in species for s in b["species"]], batched=True)
    max_length = max_length or config.model.window_length

    def encode(batch):
        ids = tokenizer(batch["sequence"], truncation=True, max_length=max_length)["input_ids"]
        return {"input_ids": ids, "length": [len(x) for x in ids]}

    frac = config.eval_fraction
    if not config.streaming:  # a small corpus may have no gene below the fraction: hold out the lowest ones
        genes = sorted({gene_hash(g) for g in raw["gene_id"]})
        if len(genes) < 2:
            raise FloraBertError(f"{corpus}: {len(genes)} gene(s); pre-training needs at least 2 (genes are held "
                                 "out for the MLM loss)")
        if genes[0] >= frac:
            frac = genes[max(1, round(len(genes) * frac)) - 1] + 1e-12
    columns = ["species", "gene_id", "chrom", "strand", "tss", "tts", "start", "end", "sequence"]
    train = raw.filter(lambda b: [not held_out(g, frac) for g in b["gene_id"]], batched=True)
    evals = raw.filter(lambda b: [held_out(g, frac) for g in b["gene_id"]], batched=True)
    drop = [c for c in columns if c in (raw.column_names or columns)]
    train = train.map(encode, batched=True, remove_columns=drop)
    evals = evals.map(encode, batched=True, remove_columns=drop)
    if config.streaming:
        evals = evals.take(config.max_eval_sequences)
        return train, datasets.Dataset.from_list(list(evals))
    if len(evals) > config.max_eval_sequences:
        evals = evals.select(range(config.max_eval_sequences))
    if len(train) == 0:
        raise FloraBertError(f"{corpus}: no training sequences")
    return train, evals


def set_bias_to_log_frequencies(model, train, vocab_size: int, special_ids, max_sequences: int = 200_000) -> None:
    """MLM output bias <- log of the (add-one smoothed) token frequencies of the training data."""
    import itertools

    import numpy as np

    counts = np.zeros(vocab_size, dtype=np.float64)
    for row in itertools.islice(iter(train), max_sequences):
        counts += np.bincount(np.asarray(row["input_ids"]), minlength=vocab_size)
    counts[list(special_ids)] = 0  # never a label
    log_p = np.log((counts + 1) / (counts + 1).sum())
    with torch.no_grad():
        model.lm_head.bias.copy_(torch.as_tensor(log_p, dtype=model.lm_head.bias.dtype))


__all__ = ["held_out", "load_mlm_datasets", "set_bias_to_log_frequencies"]
