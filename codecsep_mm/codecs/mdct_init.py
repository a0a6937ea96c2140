"""Start a DAC-architecture codec as an MDCT analysis/synthesis pair (``finetune.init: mdct``).

A codec trained from random weights needs far more compute than a 2-core CPU has: after 500 steps
its reconstructions were still unrelated to the input (SI-SDR about -38 dB). DAC's layers can,
however, express a lapped transform exactly, so the starter codec starts from one and training
refines it:

- Snake activations get a tiny ``alpha`` (``x + sin(alpha x)^2 / alpha`` is then ``x`` to within
  ``alpha x^2``), and every residual unit's last convolution starts at zero (the unit is the
  identity until it learns something).
- The encoder's strided convolutions rearrange samples into channels ("space to depth"): after the
  last one, frame ``t`` holds the ``hop`` samples ``t*hop ... t*hop + hop - 1`` in its first ``hop``
  channels. The final 3-tap convolution computes the MDCT of the sine-windowed ``2*hop`` samples
  centred on the frame (orthonormal, so the latent keeps the signal's energy).
- The decoder's first 7-tap convolution is the inverse MDCT with overlap-add (time-domain aliasing
  cancels between neighbouring frames), and its transposed convolutions put the samples back in
  time order ("depth to space"); the last convolution reads them out.

The continuous latent is then the MDCT of the input (``hop`` coefficients per frame, frequency
resolution ``sample_rate / (2*hop)``), which a masker can weight per frequency band, and the decoder
reconstructs the input almost exactly (the Snake and ``tanh`` residue). Widths must leave room:
``encoder_dim * 2**k`` channels after the k-th encoder stage must hold the samples of a frame at
that stage, and the decoder likewise.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from codecsep_mm.errors import ConfigError

SNAKE_ALPHA = 1e-3


def mdct_basis(hop: int) -> torch.Tensor:
    """Orthonormal MDCT basis with a sine window: ``(hop, 2*hop)``; ``X = basis @ x_window``."""
    n = torch.arange(2 * hop, dtype=torch.float64)
    k = torch.arange(hop, dtype=torch.float64)
    window = torch.sin(math.pi * (n + 0.5) / (2 * hop))
    phase = math.pi / hop * (n[None, :] + 0.5 + hop / 2) * (k[:, None] + 0.5)
    return math.sqrt(2.0 / hop) * window[None, :] * torch.cos(phase)


def check_mdct_widths(kwargs: dict[str, Any]) -> None:
    """Raise a :class:`ConfigError` if the architecture has too few channels for the MDCT start."""
    enc_rates, dec_rates = list(kwargs["encoder_rates"]), list(kwargs["decoder_rates"])
    hop = math.prod(enc_rates)
    if math.prod(dec_rates) != hop:
        raise ConfigError(f"encoder rates {enc_rates} and decoder rates {dec_rates} give different hops")
    latent = kwargs.get("latent_dim") or kwargs["encoder_dim"] * 2 ** len(enc_rates)
    problems = []
    held = 1
    for i, stride in enumerate(enc_rates):
        held *= stride
        width = kwargs["encoder_dim"] * 2 ** (i + 1)
        if width < held:
            problems.append(f"encoder stage {i + 1} has {width} channels for {held} samples")
    if latent < hop:
        problems.append(f"latent_dim {latent} < hop {hop}")
    held = hop
    for i, stride in enumerate([1, *dec_rates]):
        held //= stride
        width = kwargs["decoder_dim"] // 2 ** i
        if width < held:
            problems.append(f"decoder stage {i} has {width} channels for {held} samples")
    if problems:
        raise ConfigError("codec too narrow to start as an MDCT: " + "; ".join(problems)
                          + f" (need encoder_dim * 2**{len(enc_rates)} >= {hop}, decoder_dim >= {hop})")


def init_dac_as_mdct(model) -> None:
    """Overwrite a freshly built ``dac.DAC`` (weight-normed layers) in place with the MDCT start."""
    from dac.model.dac import DecoderBlock, EncoderBlock, ResidualUnit
    from dac.nn.layers import Snake1d

    enc_rates, dec_rates = list(model.encoder_rates), list(model.decoder_rates)
    check_mdct_widths({"encoder_rates": enc_rates, "decoder_rates": dec_rates,
                       "encoder_dim": model.encoder_dim, "decoder_dim": model.decoder_dim,
                       "latent_dim": model.latent_dim})
    hop = math.prod(enc_rates)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, Snake1d):
                module.alpha.fill_(SNAKE_ALPHA)
            if isinstance(module, ResidualUnit):
                last = module.block[3]
                _set_weight(last, torch.zeros_like(_weight(last)))

        encoder = model.encoder.block
        first = torch.zeros_like(_weight(encoder[0]))
        first[0, 0, 3] = 1.0  # channel 0 carries the signal
        _set_weight(encoder[0], first)
        held = 1
        for block in (b for b in encoder if isinstance(b, EncoderBlock)):
            conv = block.block[4]
            stride, pad = conv.stride[0], conv.padding[0]
            weight = torch.zeros_like(_weight(conv))  # (out, in, 2*stride)
            for j in range(stride):
                for i in range(held):
                    weight[j * held + i, i, j + pad] = 1.0
            _set_weight(conv, weight)
            held *= stride
        basis = mdct_basis(hop)
        final = torch.zeros_like(_weight(encoder[-1]))  # (latent, channels, 3): frames t-1, t, t+1
        for tap in range(3):
            for c in range(hop):
                n = (tap - 1) * hop + c + hop // 2
                if 0 <= n < 2 * hop:
                    final[:hop, c, tap] = basis[:, n].float()
        _set_weight(encoder[-1], final)

        decoder = model.decoder.model
        inverse = torch.zeros_like(_weight(decoder[0]))  # (channels, latent, 7): frames t-3 ... t+3
        for offset in (-1, 0, 1):
            for c in range(hop):
                n = -offset * hop + c + hop // 2
                if 0 <= n < 2 * hop:
                    inverse[c, :hop, offset + 3] = basis[:, n].float()
        _set_weight(decoder[0], inverse)
        held = hop
        for block in (b for b in decoder if isinstance(b, DecoderBlock)):
            conv = block.block[1]
            stride, pad = conv.stride[0], conv.padding[0]
            weight = torch.zeros_like(_weight(conv))  # (in, out, 2*stride)
            held //= stride
            for j in range(stride):
                for i in range(held):
                    weight[j * held + i, i, j + pad] = 1.0
            _set_weight(conv, weight)
        last = next(m for m in reversed(decoder) if isinstance(m, torch.nn.Conv1d))
        readout = torch.zeros_like(_weight(last))
        readout[0, 0, 3] = 1.0
        _set_weight(last, readout)


def _weight(conv) -> torch.Tensor:
    return conv.weight_v if hasattr(conv, "weight_v") else conv.weight


def _set_weight(conv, weight: torch.Tensor) -> None:
    """Set a (weight-normed) convolution's effective weight; its bias becomes zero. Slices that are
    all zero keep a small random direction with zero gain, so weight norm stays finite."""
    if conv.bias is not None:
        conv.bias.zero_()
    if not hasattr(conv, "weight_g"):
        conv.weight.copy_(weight)
        return
    dims = tuple(range(1, weight.dim()))
    norms = weight.norm(dim=dims, keepdim=True)
    direction = torch.where(norms > 0, weight, 1e-3 * torch.randn_like(weight))
    conv.weight_v.copy_(direction)
    conv.weight_g.copy_(norms.reshape(conv.weight_g.shape))
