"""Explain fine-tuned and pre-trained models: positional importance, in-silico mutagenesis, variant
effects, attention maps, species embeddings. Positions are always counted from the TSS (-1 is the base
next to it), whatever the promoter's length."""
