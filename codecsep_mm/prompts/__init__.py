"""Prompt encoders: text, audio and image prompts -> vectors of a named embedding space."""

from codecsep_mm.prompts import clap as _clap  # noqa: F401  (registers clap-text, clap-audio)
from codecsep_mm.prompts import hashing as _hashing  # noqa: F401  (registers hash-text)
from codecsep_mm.prompts import imagenet as _imagenet  # noqa: F401  (registers imagenet-image)
from codecsep_mm.prompts import minilm as _minilm  # noqa: F401  (registers minilm-text)
from codecsep_mm.prompts import openclip as _openclip  # noqa: F401  (openclip-image, openclip-text)
from codecsep_mm.prompts import starter_audio as _starter_audio  # noqa: F401  (starter-audio)
from codecsep_mm.prompts.base import (
    ENTRY_POINT_GROUP,
    MODALITIES,
    PromptEncoder,
    available,
    create,
    l2_normalize,
    register,
)
from codecsep_mm.prompts.cache import CachedEncoder, cached
from codecsep_mm.prompts.projection import (
    IdentityProjection,
    LabelBridge,
    LinearProjection,
    Projection,
    fit_text_bridge,
    sound_event_vocabulary,
)
from codecsep_mm.prompts.query import Prompt, Query, as_query

__all__ = [
    "CachedEncoder",
    "IdentityProjection",
    "LabelBridge",
    "LinearProjection",
    "Projection",
    "Prompt",
    "Query",
    "as_query",
    "cached",
    "fit_text_bridge",
    "sound_event_vocabulary",
    "ENTRY_POINT_GROUP",
    "MODALITIES",
    "PromptEncoder",
    "available",
    "create",
    "l2_normalize",
    "register",
]
