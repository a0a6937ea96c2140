"""codecsep-mm: prompt-driven sound separation in the latent space of a frozen neural audio codec.

``import codecsep_mm`` is light: torch, dac and the prompt encoders load on first use.

Example:
    >>> from codecsep_mm import Separator
    >>> separator = Separator.from_pretrained("tiny")  # doctest: +SKIP
    >>> result = separator.separate("mix.wav", ["speech", "a dog barking"], residual=True)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Separator", "SeparationResult", "SeparationSettings", "__version__"]

if TYPE_CHECKING:
    from codecsep_mm.separator import SeparationResult, SeparationSettings, Separator


def __getattr__(name: str) -> Any:
    if name in ("Separator", "SeparationResult", "SeparationSettings"):
        from codecsep_mm import separator

        return getattr(separator, name)
    raise AttributeError(f"module 'codecsep_mm' has no attribute {name!r}")
