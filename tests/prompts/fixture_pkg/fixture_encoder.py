"""A third-party prompt encoder, found by codecsep_mm only through its entry point."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from codecsep_mm.errors import PromptError
from codecsep_mm.prompts.base import l2_normalize


class FixtureTextEncoder:
    """Text -> letter counts of ``a``, ``b``, ... (``embed_dim`` letters), L2-normalised."""

    name = "fixture-text"
    modality = "text"

    def __init__(self, embed_dim: int = 8):
        self.embed_dim = embed_dim
        self.space = f"fixture-letters-{embed_dim}"

    @torch.no_grad()
    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        rows = []
        for text in prompts:
            if not isinstance(text, str) or not text.strip():
                raise PromptError("empty text prompt")
            letters = [chr(ord("a") + i) for i in range(self.embed_dim)]
            rows.append(torch.tensor([text.lower().count(c) + 1e-3 for c in letters]))
        return l2_normalize(torch.stack(rows))


def make(**options) -> FixtureTextEncoder:
    return FixtureTextEncoder(**options)
