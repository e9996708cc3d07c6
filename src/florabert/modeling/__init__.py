"""Model classes (importing this module imports torch and transformers)."""

from florabert.modeling.configuration import FloraBertConfig
from florabert.modeling.modeling import (
    FloraBertForExpression,
    FloraBertForMaskedLM,
    FloraBertModel,
    TrackChannel,
    adopt_layout,
    encode,
    loading,
    masked_mean,
    quiet_loading,
)
from florabert.modeling.positions import layout_position_ids, segment_ids, tss_position_ids

__all__ = [
    "FloraBertConfig",
    "FloraBertForExpression",
    "FloraBertForMaskedLM",
    "FloraBertModel",
    "TrackChannel",
    "adopt_layout",
    "encode",
    "layout_position_ids",
    "loading",
    "masked_mean",
    "quiet_loading",
    "segment_ids",
    "tss_position_ids",
]
