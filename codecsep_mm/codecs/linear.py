"""A frozen codec encoder replaced by the one strided convolution it computes, when it is linear.

An encoder made of bias-free convolutions and identity-like activations (the starter codec's MDCT
start: space-to-depth convolutions, a 3-tap MDCT convolution, Snakes with ``alpha = 0.001``) is a
linear, hop-periodic map from samples to latent frames, so it equals a single ``Conv1d`` with stride
``hop``. :func:`linearize_encoder` finds that convolution by feeding the encoder one impulse per
phase of the hop and reading each latent frame's response, then measures how far it is from the
encoder on a test signal. The trainer uses it (``run.linear_encoder``) because it is many times
cheaper than running DAC's layers, and because the latent of a mixture is then exactly the sum of
its sources' latents, so a training step encodes the sources only.

Axes: ``b`` batch, ``d`` latent channels, ``t`` latent frames, ``s`` samples, ``j`` phase in a hop.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange

from codecsep_mm.errors import ConfigError

PROBE_AMPLITUDE = 0.01  # impulses this small keep a Snake's alpha * x^2 term out of the kernel
DEFAULT_TOLERANCE_DB = -40.0


class LinearEncoder(torch.nn.Module):
    """``wav (b, 1, s)`` -> ``latent (b, d, ceil(s / hop))``: one strided convolution.

    Args:
        kernel: ``(d, 1, k)``, ``k`` a multiple of ``hop``.
        hop: the stride (the codec's hop length).
        left_frames: frames of look-back: the input is padded by ``left_frames * hop`` on the left.
        error_db: how far it was from the encoder it replaces (relative error energy, dB).
    """

    def __init__(self, kernel: torch.Tensor, hop: int, left_frames: int, error_db: float = -math.inf):
        super().__init__()
        if kernel.shape[-1] % hop:
            raise ValueError(f"kernel length {kernel.shape[-1]} is not a multiple of the hop {hop}")
        self.register_buffer("kernel", kernel)
        self.kernel: torch.Tensor
        self.hop = hop
        self.left = left_frames * hop
        self.error_db = error_db

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        n_frames = math.ceil(wav.shape[-1] / self.hop)
        right = n_frames * self.hop - wav.shape[-1] + self.kernel.shape[-1] - self.hop - self.left
        padded = torch.nn.functional.pad(wav, (self.left, right))
        return torch.nn.functional.conv1d(padded, self.kernel.to(wav.dtype), stride=self.hop)


@torch.no_grad()
def linearize_encoder(codec, tolerance_db: float = DEFAULT_TOLERANCE_DB, probe_frames: int = 40,
                      seed: int = 0) -> LinearEncoder:
    """The strided convolution that ``codec.encode`` computes, checked against it.

    Raises:
        ConfigError: the encoder is not linear (its relative error on a test signal is above
            ``tolerance_db``) or its receptive field is wider than the probe.
    """
    hop, device = codec.hop_length, _device(codec)
    first_half, second_half = _test_signal(codec.sample_rate, seed, device)
    wav = first_half + second_half
    whole = codec.encode(wav).float()
    parts = codec.encode(first_half).float() + codec.encode(second_half).float()
    superposition_db = _error_db(parts, whole)
    if superposition_db > tolerance_db:  # cheap, and says it plainly before the impulses are fed
        raise ConfigError(
            f"the codec's encoder is not linear: the latent of a sum misses the sum of the latents by "
            f"{superposition_db:.1f} dB (tolerance {tolerance_db:.0f} dB); set run.linear_encoder: false"
        )
    centre = probe_frames // 2
    impulses = torch.zeros(hop, 1, probe_frames * hop, device=device)
    impulses[torch.arange(hop), 0, centre * hop + torch.arange(hop)] = PROBE_AMPLITUDE
    silence = codec.encode(torch.zeros_like(impulses[:1])).float()
    responses = (codec.encode(impulses).float() - silence) / PROBE_AMPLITUDE  # (j, d, t)
    reach = responses.abs().amax(dim=(0, 1))
    active = reach > 1e-6 * reach.max()
    frames = torch.nonzero(active).flatten().tolist()
    if not frames:
        raise ConfigError("the codec's encoder gives no response to an impulse; it cannot be linearized")
    first, last = frames[0], frames[-1]
    if first == 0 or last == probe_frames - 1:
        raise ConfigError(f"the codec's encoder sees further than {probe_frames} frames; "
                          "it cannot be linearized (set run.linear_encoder: false)")
    # An impulse at sample centre*hop + j reaches frame t through kernel tap (centre - t)*hop + j + left.
    taps = [responses[:, :, t] for t in range(last, first - 1, -1)]  # (centre - t) ascending
    kernel = rearrange(torch.stack(taps), "t j d -> d 1 (t j)")
    linear = LinearEncoder(kernel.contiguous(), hop, left_frames=last - centre).to(device)
    linear.error_db = _error_db(linear(wav), whole)
    if linear.error_db > tolerance_db:
        raise ConfigError(
            f"the codec's encoder is not linear: a strided convolution misses it by "
            f"{linear.error_db:.1f} dB (tolerance {tolerance_db:.0f} dB); set run.linear_encoder: false"
        )
    return linear


def _test_signal(sample_rate: int, seed: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Two 3 s signals at speech-like levels, of an odd length: noise under slow random envelopes."""
    generator = torch.Generator().manual_seed(seed)
    n_samples = 3 * sample_rate + 17
    noise = torch.randn(2, 1, 1, n_samples, generator=generator)
    envelope = torch.rand(2, 1, 1, n_samples // 800 + 1, generator=generator).repeat_interleave(800, -1)
    signals = (0.1 * noise * envelope[..., :n_samples]).to(device)
    return signals[0], signals[1]


def _error_db(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    """Energy of ``estimate - reference`` over that of ``reference``, in dB."""
    error = (estimate - reference).pow(2).sum() / reference.pow(2).sum().clamp_min(1e-20)
    return float(10 * torch.log10(error.clamp_min(1e-30)))


def _device(codec) -> torch.device:
    parameter = next(iter(codec.parameters()), None)
    return parameter.device if parameter is not None else torch.device("cpu")
