"""Model classes (importing this module imports torch and transformers)."""

from florabert.modeling.configuration import FloraBertConfig
from florabert.modeling.modeling import (
    FloraBertForExpression,
    FloraBertForMaskedLM,
    FloraBertModel,
    TrackChannel,
    mean_pool,
    quiet_loading,
)
from florabert.modeling.positions import tss_position_ids

__all__ = [
    "FloraBertConfig",
    "FloraBertForExpression",
    "FloraBertForMaskedLM",
    "FloraBertModel",
    "TrackChannel",
    "mean_pool",
    "quiet_loading",
    "tss_position_ids",
]
