"""An embedding cache around any prompt encoder: a repeated prompt is encoded once.

Keys are built from the prompt's content, never its identity: a text prompt is its string; a file
path is its resolved name plus a hash of the file's bytes (an edited file is a new prompt); an array
or image is a hash of its bytes, dtype and shape; ``(array, sample_rate)`` pairs and lists of
examples are keyed by their parts. A prompt with no key (an unknown object) is simply not cached.

Example:
    >>> from codecsep_mm.prompts import create
    >>> encoder = CachedEncoder(create("hash-text", embed_dim=16), max_items=100)
    >>> _ = encoder.encode(["a dog barking", "rain"]); _ = encoder.encode(["a dog barking"])
    >>> encoder.hits, encoder.misses
    (1, 2)
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from codecsep_mm.prompts.base import PromptEncoder

_HASH_BLOCK = 1 << 20


class CachedEncoder:
    """Wraps a :class:`~codecsep_mm.prompts.PromptEncoder` with a least-recently-used cache.

    It is itself a prompt encoder: ``name``, ``modality``, ``space``, ``embed_dim`` and
    ``options`` are the wrapped encoder's; other attributes are looked up on the wrapped encoder.

    Args:
        encoder: the encoder to wrap.
        max_items: how many embeddings to keep (least recently used are dropped first);
            ``0`` disables caching.

    Attributes:
        hits: prompts answered from the cache (a prompt repeated within one call counts as a hit).
        misses: prompts that had to be encoded.
        uncached: prompts that had no content key and were encoded without caching.
    """

    def __init__(self, encoder: PromptEncoder, max_items: int = 1024):
        if max_items < 0:
            raise ValueError(f"max_items must be >= 0, got {max_items}")
        self.encoder = encoder
        self.max_items = max_items
        self._store: OrderedDict[Hashable, torch.Tensor] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.uncached = 0

    # -- the PromptEncoder attributes, forwarded -------------------------------------------------
    @property
    def name(self) -> str:
        return self.encoder.name

    @property
    def modality(self) -> str:
        return self.encoder.modality

    @property
    def space(self) -> str:
        return self.encoder.space

    @property
    def embed_dim(self) -> int:
        return self.encoder.embed_dim

    @property
    def options(self) -> dict[str, Any]:
        return dict(getattr(self.encoder, "options", {}))

    def __getattr__(self, attribute: str) -> Any:
        if attribute == "encoder":  # not set yet (e.g. during unpickling): avoid recursion
            raise AttributeError(attribute)
        return getattr(self.encoder, attribute)

    def __len__(self) -> int:
        return len(self._store)

    def __repr__(self) -> str:
        return f"CachedEncoder({self.encoder!r}, max_items={self.max_items}, {self.cache_info()})"

    # -- caching ---------------------------------------------------------------------------------
    def cache_info(self) -> dict[str, int]:
        """Counters and size: ``{"hits", "misses", "uncached", "size", "max_items"}``."""
        return {
            "hits": self.hits,
            "misses": self.misses,
            "uncached": self.uncached,
            "size": len(self._store),
            "max_items": self.max_items,
        }

    def clear(self) -> None:
        """Forget every cached embedding and reset the counters."""
        self._store.clear()
        self.hits = self.misses = self.uncached = 0

    @torch.no_grad()
    def encode(self, prompts: Sequence[Any]) -> torch.Tensor:
        """``prompts`` (length b) -> ``(b, embed_dim)``; only prompts not seen before are encoded.

        The prompts that need encoding go to the wrapped encoder in one batch. Errors from the
        wrapped encoder propagate unchanged and nothing is cached for that call.
        """
        prompts = list(prompts)
        if not prompts:
            return torch.empty(0, self.embed_dim)
        keys = [prompt_key(prompt, self.modality) if self.max_items else None for prompt in prompts]
        rows: list[torch.Tensor | None] = [None] * len(prompts)
        todo: list[int] = []  # positions to encode
        repeats: list[tuple[int, int]] = []  # (position, position of its first occurrence)
        first_of: dict[Hashable, int] = {}
        hits = 0
        for position, key in enumerate(keys):
            if key is not None and key in self._store:
                self._store.move_to_end(key)
                rows[position] = self._store[key]
                hits += 1
            elif key is not None and key in first_of:
                repeats.append((position, first_of[key]))
                hits += 1
            else:
                if key is not None:
                    first_of[key] = position
                todo.append(position)
        if todo:
            encoded = self.encoder.encode([prompts[i] for i in todo])
            for position, row in zip(todo, encoded):
                rows[position] = stored = row.detach().clone()
                if keys[position] is not None:
                    self._remember(keys[position], stored)
        for position, source in repeats:
            rows[position] = rows[source]
        self.hits += hits
        self.misses += len(first_of)
        self.uncached += len(todo) - len(first_of)
        return torch.stack([row.clone() for row in rows if row is not None])

    def _remember(self, key: Hashable, row: torch.Tensor) -> None:
        self._store[key] = row
        while len(self._store) > self.max_items:
            self._store.popitem(last=False)


def cached(encoder: PromptEncoder, max_items: int = 1024) -> CachedEncoder:
    """``encoder`` wrapped in a :class:`CachedEncoder` (returned unchanged if it already is one)."""
    if isinstance(encoder, CachedEncoder):
        return encoder
    return CachedEncoder(encoder, max_items=max_items)


def prompt_key(prompt: Any, modality: str = "text") -> Hashable | None:
    """A hashable key describing ``prompt``'s content, or ``None`` when it has none.

    For the ``text`` modality a string is the text itself; for ``audio`` and ``image`` a string
    is a file path (keyed by the file's content). A missing file has no key, so the encoder gets
    to raise its own error.
    """
    if isinstance(prompt, str) and modality == "text":
        return ("text", prompt)
    if isinstance(prompt, (str, os.PathLike)):
        return _file_key(Path(prompt))
    if isinstance(prompt, np.ndarray):
        return _array_key(prompt)
    if isinstance(prompt, torch.Tensor):
        return _array_key(prompt.detach().cpu().numpy())
    if isinstance(prompt, (int, float, bool)) or prompt is None:
        return ("scalar", type(prompt).__name__, prompt)
    if isinstance(prompt, (tuple, list)):
        parts = tuple(prompt_key(part, modality) for part in prompt)
        if any(part is None for part in parts):
            return None
        return (type(prompt).__name__, parts)
    if _is_pil_image(prompt):
        return ("pil", prompt.mode, prompt.size, _digest(prompt.tobytes()))
    return None


def _file_key(path: Path) -> Hashable | None:
    try:
        resolved = path.resolve()
        digest = hashlib.blake2b(digest_size=16)
        with open(resolved, "rb") as handle:
            for block in iter(lambda: handle.read(_HASH_BLOCK), b""):
                digest.update(block)
    except OSError:
        return None
    return ("file", str(resolved), digest.hexdigest())


def _array_key(array: np.ndarray) -> Hashable:
    array = np.ascontiguousarray(array)
    return ("array", str(array.dtype), array.shape, _digest(array.tobytes()))


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _is_pil_image(value: Any) -> bool:
    module = type(value).__module__ or ""
    return module.startswith("PIL.") and hasattr(value, "tobytes") and hasattr(value, "mode")
