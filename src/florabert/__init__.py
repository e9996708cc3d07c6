"""florabert: predict tissue-specific plant gene expression from promoter DNA (FloraBERT).

Stages (each a subpackage, each also a ``florabert <command>``): :mod:`florabert.genome` (promoters,
corpora), :mod:`florabert.tokenization`, pre-training, fine-tuning, evaluation, interpretation.
"""

__version__ = "0.1.0"

from florabert import registration as _registration
from florabert.errors import FloraBertError, InputError

_registration.install()  # Auto classes learn model_type "florabert" (lazily: no torch import here)

__all__ = ["FloraBertError", "InputError", "__version__"]
