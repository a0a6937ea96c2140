"""What to extract: prompts of any modality, combined with weights, or negated.

Semantics (see docs/prompts.md):

- A :class:`Prompt` is one text, audio example or image, with a weight.
- A :class:`Query` combines prompts: each is embedded by its encoder, projected into the masker's
  space, and the conditioning vector is the L2-normalised weighted mean. One query gives one stem.
- A *negative* query ("everything except speech") gives the complement: the mixture latent minus the
  latent the positive query would take, ``z - z * m``. So the negative stem's latent plus the
  positive stem's latent is exactly the mixture latent.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from codecsep_mm.errors import PromptError


@dataclass(frozen=True)
class Prompt:
    """One prompt. Build with :meth:`text`, :meth:`audio` or :meth:`image`.

    Attributes:
        modality: ``"text"``, ``"audio"`` or ``"image"``.
        value: the text; a path or array for audio; a path, PIL image or array for images.
        weight: relative weight when combined in a :class:`Query` (> 0).
        sample_rate: for audio arrays.
        encoder: override the model's encoder for this modality by registry name.
        label: a name for the stem (default: derived from the value).
    """

    modality: str
    value: Any
    weight: float = 1.0
    sample_rate: int | None = None
    encoder: str | None = None
    label: str | None = None

    @classmethod
    def text(cls, text: str, weight: float = 1.0, encoder: str | None = None) -> Prompt:
        if not isinstance(text, str) or not text.strip():
            raise PromptError("empty text prompt; describe the sound, e.g. 'a dog barking'")
        return cls("text", text, weight, encoder=encoder)

    @classmethod
    def audio(
        cls, clip: Any, sample_rate: int | None = None, weight: float = 1.0, encoder: str | None = None
    ) -> Prompt:
        """An example of the sound: a file path, an array with its ``sample_rate`` (or an
        ``(array, sample_rate)`` pair, as the audio encoders take it), or a list of file paths
        (several examples, averaged by the encoder)."""
        if (sample_rate is None and isinstance(clip, tuple) and len(clip) == 2
                and not isinstance(clip[0], (str, os.PathLike)) and isinstance(clip[1], numbers.Real)):
            clip, sample_rate = clip
        paths = clip if isinstance(clip, (list, tuple)) else [clip]
        if sample_rate is None and not all(isinstance(p, (str, os.PathLike)) for p in paths):
            raise PromptError("an audio query given as an array needs its sample rate: "
                              "Prompt.audio(array, sample_rate=...)")
        return cls("audio", clip, weight, sample_rate, encoder)

    @classmethod
    def image(cls, image: Any, weight: float = 1.0, encoder: str | None = None) -> Prompt:
        """A picture of the source: a file path, a PIL image or an ``(h, w, 3)`` array."""
        return cls("image", image, weight, encoder=encoder)

    def with_weight(self, weight: float) -> Prompt:
        return replace(self, weight=weight)

    def describe(self) -> str:
        if self.label:
            return self.label
        if self.modality == "text":
            return str(self.value)
        if isinstance(self.value, (str, os.PathLike)):
            return f"{self.modality} {Path(self.value).stem}"
        if isinstance(self.value, (list, tuple)) and all(isinstance(v, (str, os.PathLike)) for v in self.value):
            return f"{self.modality} " + "+".join(Path(v).stem for v in self.value)
        return f"{self.modality} query"

    def encoder_input(self) -> Any:
        """What the encoder's ``encode`` receives for this prompt."""
        if self.modality == "audio" and self.sample_rate is not None:
            return (self.value, self.sample_rate)
        if isinstance(self.value, tuple):
            return list(self.value)
        return self.value


@dataclass(frozen=True)
class Query:
    """Prompts combined into one stem; ``negative=True`` takes everything *except* them."""

    parts: tuple[Prompt, ...]
    negative: bool = False
    label: str | None = None

    @classmethod
    def of(cls, *parts: Prompt | str, negative: bool = False, label: str | None = None) -> Query:
        prompts = tuple(Prompt.text(p) if isinstance(p, str) else p for p in parts)
        if not prompts:
            raise PromptError("a query needs at least one prompt")
        for prompt in prompts:
            if not isinstance(prompt, Prompt):
                raise PromptError(f"unsupported prompt {prompt!r}; use Prompt.text/audio/image")
            if not prompt.weight > 0:
                raise PromptError(f"prompt weights must be > 0, got {prompt.weight}")
        return cls(prompts, negative, label)

    @classmethod
    def everything_except(cls, *parts: Prompt | str, label: str | None = None) -> Query:
        return cls.of(*parts, negative=True, label=label)

    def describe(self) -> str:
        if self.label:
            return self.label
        name = " + ".join(part.describe() for part in self.parts)
        return f"not {name}" if self.negative else name


def as_query(item: Query | Prompt | str | Sequence[Prompt]) -> Query:
    """A string, a :class:`Prompt`, a list of prompts (combined) or a :class:`Query`."""
    if isinstance(item, Query):
        return item
    if isinstance(item, (str, Prompt)):
        return Query.of(item)
    if isinstance(item, (list, tuple)):
        return Query.of(*item)
    raise PromptError(f"unsupported prompt {item!r}; pass text, a Prompt or a Query")
