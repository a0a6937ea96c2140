"""The codec contract every backend follows.

Axes: ``b`` batch, ``c`` channels, ``s`` samples, ``d`` latent dim, ``t`` latent frames,
``q`` codebooks.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class CodecBackend(Protocol):
    """A neural audio codec seen through its continuous latent and its residual VQ codes.

    ``encode`` returns the encoder latent *before* quantization; ``decode`` accepts any latent of the
    same space (masked or quantized). Waveforms are at ``sample_rate``; resampling, channel folding
    and length restoration are the caller's (see :class:`codecsep_mm.codecs.CodecRunner`).
    """

    name: str
    sample_rate: int
    hop_length: int
    latent_dim: int
    n_codebooks: int
    codebook_size: int

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """``wav: (b, 1, s)`` at ``sample_rate`` -> ``latent: (b, d, ceil(s / hop))``."""

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """``latent: (b, d, t)`` -> ``wav: (b, 1, t * hop)``."""

    def quantize(self, latent: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """``latent: (b, d, t)`` -> ``codes: (b, n_q, t)`` (int64)."""

    def dequantize(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes: (b, q, t)`` -> quantized ``latent: (b, d, t)``."""

    def fingerprint(self) -> str:
        """A short digest of the codebooks: two codecs share codes only if it matches."""
