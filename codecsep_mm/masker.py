"""FiLM-conditioned Transformer masker working on a codec latent.

Axes: ``b`` batch (mixtures x prompts), ``d`` latent dim, ``t`` latent frames, ``c`` model width,
``k`` conditioning dim, ``h`` heads.

The ``codecsep-paper`` preset is the official CodecSep masker (see DESIGN.md): a 1x1 conv down to
``d_model``, sinusoidal positions, post-norm Transformer layers whose two sub-layers each get a FiLM
*shift*, a 1x1 conv up, a weight-normed 1x1 conv, a 1x1 conv and a Snake activation giving an
unbounded mask that multiplies the latent.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from codecsep_mm.config import from_dict
from codecsep_mm.errors import ConfigError, UnknownNameError


@dataclass(frozen=True)
class MaskerConfig:
    """Architecture of a :class:`FiLMTransformerMasker`.

    Attributes:
        latent_dim: codec latent channels (1024 for DAC 16 kHz).
        cond_dim: conditioning (prompt embedding) size; 512 for CLAP.
        d_model: Transformer width.
        n_layers: Transformer layers.
        n_heads: attention heads.
        ffn_dim: feed-forward hidden size.
        dropout: dropout in attention and feed-forward sub-layers.
        max_len: longest input in latent frames (positional table size).
        film: ``"shift"`` (paper) or ``"scale_shift"``.
        film_init: ``"xavier"`` (paper) or ``"zero"`` (the prompt has no effect at step 0).
        mask_activation: ``"snake"`` (paper, unbounded) or ``"sigmoid"``.
        input_transform: what the masker reads: ``"none"`` (the latent itself, the paper) or
            ``"log-magnitude"`` (``log1p(1000 |z|) / 4``: for latents whose values change sign from
            frame to frame and span decades, such as the starter codec's MDCT latent). The mask
            still multiplies the latent itself.
    """

    latent_dim: int = 1024
    cond_dim: int = 512
    d_model: int = 256
    n_layers: int = 16
    n_heads: int = 8
    ffn_dim: int = 1024
    dropout: float = 0.1
    max_len: int = 2500
    film: str = "shift"
    film_init: str = "xavier"
    mask_activation: str = "snake"
    input_transform: str = "none"

    def __post_init__(self) -> None:
        checks = {
            "film": ("shift", "scale_shift"),
            "film_init": ("xavier", "zero"),
            "mask_activation": ("snake", "sigmoid"),
            "input_transform": ("none", "log-magnitude"),
        }
        for key, valid in checks.items():
            if getattr(self, key) not in valid:
                raise ConfigError(f"masker {key}={getattr(self, key)!r}; valid: {list(valid)}")
        if self.d_model % self.n_heads:
            raise ConfigError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MaskerConfig:
        return from_dict(cls, data, "masker config")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


MASKER_PRESETS: dict[str, MaskerConfig] = {
    # The official CodecSep masker, exactly (15.26 M masker + 5.26 M FiLM parameters).
    "codecsep-paper": MaskerConfig(),
    # Ours. Identical to the paper until a measured ablation (training issue) says otherwise;
    # `cond_dim`/`latent_dim` are set from the prompt space and codec at build time.
    "default": MaskerConfig(),
    # A small masker for tests and smoke runs.
    "tiny": MaskerConfig(
        latent_dim=128, cond_dim=64, d_model=32, n_layers=2, n_heads=2, ffn_dim=64, dropout=0.0
    ),
}


def masker_config(preset: str, **overrides: Any) -> MaskerConfig:
    """A preset's config with overrides, e.g. ``masker_config("default", cond_dim=384)``."""
    try:
        base = MASKER_PRESETS[preset]
    except KeyError:
        raise UnknownNameError(
            f"unknown masker preset '{preset}'; available: {', '.join(sorted(MASKER_PRESETS))}"
        ) from None
    MaskerConfig.from_dict({**base.to_dict(), **overrides})  # validates keys
    return replace(base, **overrides)


class Snake(nn.Module):
    """``x + sin^2(alpha x) / alpha`` with a learned per-channel ``alpha``. Shape: ``(b, d, t)``."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.sin(self.alpha * x).pow(2) / (self.alpha + 1e-9)


class FiLM(nn.Module):
    """Conditioning vector -> per-channel shift (and optionally scale) for one site.

    Shape: ``cond (b, k)`` -> ``shift (b, c)`` (and ``scale (b, c)``).
    """

    def __init__(self, cond_dim: int, channels: int, mode: str, init: str):
        super().__init__()
        self.mode = mode
        self.shift = nn.Linear(cond_dim, channels)
        self.scale = nn.Linear(cond_dim, channels) if mode == "scale_shift" else None
        for linear in filter(None, (self.shift, self.scale)):
            if init == "zero":
                nn.init.zeros_(linear.weight)
            else:
                nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, channel_axis: int) -> torch.Tensor:
        shape = [1] * x.dim()
        shape[0], shape[channel_axis] = x.shape[0], x.shape[channel_axis]
        out = x + self.shift(cond).view(shape)
        if self.scale is not None:
            out = out * (1 + self.scale(cond).view(shape))
        return out


def sinusoidal_table(max_len: int, dim: int) -> torch.Tensor:
    """The Transformer's sinusoidal positional table, ``(max_len, dim)``."""
    position = torch.arange(max_len, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(max_len, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


class SelfAttention(nn.Module):
    """Multi-head self-attention with fused in-projection (same parameters as nn.MultiheadAttention)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.dropout = dropout
        self.in_proj = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = rearrange(self.in_proj(x), "b t (n h e) -> n b h t e", n=3, h=self.n_heads)
        dropout = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
        return self.out_proj(rearrange(y, "b h t e -> b t (h e)"))


class FiLMTransformerLayer(nn.Module):
    """Post-norm layer: ``x = LN1(x + Drop(MHA(x))) + b1; x = LN2(x + Drop(FFN(x))) + b2``.

    Shape: ``x (b, t, c)``, ``cond (b, k)`` -> ``(b, t, c)``.
    """

    def __init__(self, config: MaskerConfig):
        super().__init__()
        c = config.d_model
        self.attention = SelfAttention(c, config.n_heads, config.dropout)
        self.ffn = nn.Sequential(
            nn.Linear(c, config.ffn_dim),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.ffn_dim, c),
        )
        self.norm1 = nn.LayerNorm(c)
        self.norm2 = nn.LayerNorm(c)
        self.drop1 = nn.Dropout(config.dropout)
        self.drop2 = nn.Dropout(config.dropout)
        self.film1 = FiLM(config.cond_dim, c, config.film, config.film_init)
        self.film2 = FiLM(config.cond_dim, c, config.film, config.film_init)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = self.film1(self.norm1(x + self.drop1(self.attention(x))), cond, channel_axis=2)
        return self.film2(self.norm2(x + self.drop2(self.ffn(x))), cond, channel_axis=2)


class FiLMTransformerMasker(nn.Module):
    """Predicts a mask for a codec latent from a conditioning vector.

    Shape:
        latent: ``(b, d, t)``; cond: ``(b, k)`` (L2-normalised prompt embedding)
        -> mask: ``(b, d, t)``.

    Example:
        >>> masker = FiLMTransformerMasker(masker_config("tiny"))
        >>> masker(torch.randn(2, 128, 50), torch.randn(2, 64)).shape
        torch.Size([2, 128, 50])
    """

    positions: torch.Tensor  # buffer: the sinusoidal table

    def __init__(self, config: MaskerConfig):
        super().__init__()
        self.config = config
        d, c = config.latent_dim, config.d_model
        self.conv_in = nn.Conv1d(d, c, 1, bias=False)
        self.register_buffer("positions", sinusoidal_table(config.max_len, c), persistent=False)
        self.layers = nn.ModuleList(FiLMTransformerLayer(config) for _ in range(config.n_layers))
        self.conv_up = nn.Conv1d(c, d, 1, bias=False)
        self.film_up = FiLM(config.cond_dim, d, config.film, config.film_init)
        self.conv_mid = nn.utils.parametrizations.weight_norm(nn.Conv1d(d, d, 1, bias=False))
        self.film_mid = FiLM(config.cond_dim, d, config.film, config.film_init)
        self.conv_mask = nn.Conv1d(d, d, 1)
        self.activation = Snake(d) if config.mask_activation == "snake" else nn.Sigmoid()

    def forward(self, latent: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        n_frames = latent.shape[-1]
        if n_frames > self.config.max_len:
            raise ConfigError(
                f"{n_frames} latent frames exceed the masker's max_len {self.config.max_len}; "
                "process the input in chunks (chunk_seconds)"
            )
        if cond.shape != (latent.shape[0], self.config.cond_dim):
            raise ConfigError(
                f"conditioning has shape {tuple(cond.shape)}, expected "
                f"({latent.shape[0]}, {self.config.cond_dim})"
            )
        features = latent
        if self.config.input_transform == "log-magnitude":
            features = torch.log1p(1000.0 * latent.abs()) / 4.0
        x = rearrange(self.conv_in(features), "b c t -> b t c") + self.positions[:n_frames]
        for layer in self.layers:
            x = layer(x, cond)
        x = self.film_up(self.conv_up(rearrange(x, "b t c -> b c t")), cond, channel_axis=1)
        x = self.film_mid(self.conv_mid(x), cond, channel_axis=1)
        return self.activation(self.conv_mask(x))

    def separate(self, latent: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The masked latent, ``latent * mask``. Shapes as :meth:`forward`."""
        return latent * self(latent, cond)


def count_parameters(masker: FiLMTransformerMasker) -> dict[str, int]:
    """Parameters of the masker proper and of its FiLM generators."""
    film = sum(p.numel() for m in masker.modules() if isinstance(m, FiLM) for p in m.parameters())
    total = sum(p.numel() for p in masker.parameters())
    return {"masker": total - film, "film": film, "total": total}
