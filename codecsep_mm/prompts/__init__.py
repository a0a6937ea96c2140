"""Prompt encoders: text, audio and image prompts -> vectors of a named embedding space."""

from codecsep_mm.prompts import hashing as _hashing  # noqa: F401  (registers hash-text)
from codecsep_mm.prompts.base import (
    ENTRY_POINT_GROUP,
    MODALITIES,
    PromptEncoder,
    available,
    create,
    l2_normalize,
    register,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "MODALITIES",
    "PromptEncoder",
    "available",
    "create",
    "l2_normalize",
    "register",
]
