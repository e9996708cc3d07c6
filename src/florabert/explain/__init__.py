"""Explain fine-tuned and pre-trained models: positional importance, in-silico mutagenesis, variant
effects, attention maps, species embeddings. Positions are always counted from the window's landmark (-1 is
the base just 5' of it), whatever the promoter's length.

One module per command (each imports torch when called); :mod:`florabert.explain.inputs` holds what they
share (reading sequences, window coordinates, regions)."""

__all__ = ["attention", "inputs", "ism", "positional", "species", "variants"]
