"""The prompt-encoder contract and its registry.

A prompt encoder turns prompts of one modality into L2-normalised vectors of a named embedding
space. Encoders register by name with :func:`register`, or from another package through the
entry-point group ``codecsep_mm.prompt_encoders`` (each entry point names a factory callable).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

import torch

from codecsep_mm.errors import ConfigError, UnknownNameError

ENTRY_POINT_GROUP = "codecsep_mm.prompt_encoders"
MODALITIES = ("text", "audio", "image")


@runtime_checkable
class PromptEncoder(Protocol):
    """Prompts of one modality -> L2-normalised embeddings of one space (frozen, no gradient).

    Attributes:
        name: registry name, e.g. ``"clap-text"``.
        modality: ``"text"``, ``"audio"`` or ``"image"``.
        space: the embedding space, e.g. ``"clap-laion-630k"``; a masker trained on one space
            accepts any encoder (or projection) that ends in it.
        embed_dim: embedding size.

    An encoder may also have ``to_device(device)``, to run its model on ``device`` while still
    returning embeddings on the CPU; :meth:`Separator.prompt_encoders_to` calls it.
    """

    name: str
    modality: str
    space: str
    embed_dim: int

    def encode(self, prompts: Sequence[Any]) -> torch.Tensor:
        """``prompts`` (length b) -> ``(b, embed_dim)``, L2-normalised."""


Factory = Callable[..., PromptEncoder]
_FACTORIES: dict[str, Factory] = {}
_entry_points_loaded = False


def register(name: str, factory: Factory | None = None, overwrite: bool = False):
    """Register an encoder factory by name; usable as a decorator.

    Example:
        >>> @register("my-text")  # doctest: +SKIP
        ... def make_my_text(**options): return MyTextEncoder(**options)
    """

    def add(fn: Factory) -> Factory:
        if name in _FACTORIES and not overwrite and _FACTORIES[name] is not fn:
            raise ValueError(f"prompt encoder '{name}' is already registered")
        _FACTORIES[name] = fn
        return fn

    return add(factory) if factory is not None else add


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name not in _FACTORIES:
            _FACTORIES[point.name] = _lazy(point)


def _lazy(point) -> Factory:
    def factory(**options: Any) -> PromptEncoder:
        return point.load()(**options)

    factory.__doc__ = f"entry point {point.value}"
    return factory


def available() -> list[str]:
    """Names of every registered encoder (built-in, registered at run time, entry points)."""
    _load_entry_points()
    return sorted(_FACTORIES)


def create(name: str, **options: Any) -> PromptEncoder:
    """Build a registered prompt encoder by name."""
    _load_entry_points()
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown prompt encoder '{name}'; available: {', '.join(available())}"
        ) from None
    try:
        return factory(**options)
    except TypeError as error:  # an option the encoder does not take (and not a TypeError inside it)
        match = re.search(r"unexpected keyword argument '(\w+)'", str(error))
        if match is None or match.group(1) not in options:
            raise
        owner = re.match(r"([\w.]+)\(\)", str(error))
        raise ConfigError(f"prompt encoder '{name}' has no option '{match.group(1)}' (not an argument of "
                          f"{owner.group(1) if owner else 'its constructor'}); check the spelling") from None


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x.float(), dim=-1)
