"""``hash-text``: a weight-free, deterministic text encoder for tests and random-weight models.

Character trigrams of the lower-cased text are hashed (with a stable hash) into a fixed random
projection. Similar strings get similar vectors; it knows nothing about meaning. It lets the whole
pipeline run with no downloaded weights.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch

from codecsep_mm.errors import ConfigError, PromptError, is_whole
from codecsep_mm.prompts.base import l2_normalize, register


class HashTextEncoder:
    """Text -> ``(b, embed_dim)`` by hashed character trigrams. No weights, no network."""

    modality = "text"

    def __init__(self, embed_dim: int = 64, n_buckets: int = 4096, seed: int = 0, space: str = ""):
        for key, value in (("embed_dim", embed_dim), ("n_buckets", n_buckets)):
            if not is_whole(value) or value < 1:
                raise ConfigError(f"hash-text {key} is {value!r}; give a whole number of at least 1")
        self.name = "hash-text"
        self.embed_dim = embed_dim
        self.n_buckets = n_buckets
        self.space = space or f"hash-text-{embed_dim}"
        generator = torch.Generator().manual_seed(seed)
        self.table = torch.randn(n_buckets, embed_dim, generator=generator)

    def _bucket(self, gram: str) -> int:
        digest = hashlib.blake2b(gram.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little") % self.n_buckets

    @torch.no_grad()
    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        rows = []
        for text in prompts:
            if not isinstance(text, str) or not text.strip():
                raise PromptError("empty text prompt; describe the sound, e.g. 'a dog barking'")
            padded = f"  {' '.join(text.lower().split())}  "
            grams = [padded[i : i + 3] for i in range(len(padded) - 2)]
            index = torch.tensor([self._bucket(g) for g in grams])
            rows.append(self.table[index].sum(0))
        return l2_normalize(torch.stack(rows))


@register("hash-text")
def make_hash_text(**options) -> HashTextEncoder:
    return HashTextEncoder(**options)
