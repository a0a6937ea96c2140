"""A linear frozen encoder replaced by its strided convolution (codecsep_mm/codecs/linear.py)."""

from __future__ import annotations

import pytest
import torch

from codecsep_mm.errors import ConfigError


def error_db(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    return float(10 * torch.log10((estimate - reference).pow(2).sum() / reference.pow(2).sum()))


def test_the_convolution_of_an_mdct_encoder_gives_its_latent_at_any_length(mdct_codec_path):
    from codecsep_mm.codecs import create_codec
    from codecsep_mm.codecs.linear import linearize_encoder

    codec = create_codec(mdct_codec_path)
    linear = linearize_encoder(codec)
    assert linear.error_db < -60
    assert linear.kernel.shape == (8, 1, 24)  # 3 frames of 8 samples: the sine window's reach
    torch.manual_seed(1)
    for n_samples in (8, 13, 400, 1237):  # whole frames, ragged ends, a frame shorter than the kernel
        wav = 0.2 * torch.randn(3, 1, n_samples)
        with torch.no_grad():
            reference = codec.encode(wav)
        latent = linear(wav)
        assert latent.shape == reference.shape
        assert error_db(latent, reference) < -50  # what is left is the Snakes' alpha * x^2
    # linear: a mixture's latent is the sum of its sources' latents
    sources = 0.2 * torch.randn(3, 1, 800)
    torch.testing.assert_close(linear(sources.sum(0, keepdim=True)), linear(sources).sum(0, keepdim=True))


def test_a_nonlinear_encoder_is_refused_with_what_to_do():
    from codecsep_mm.codecs import create_codec
    from codecsep_mm.codecs.linear import linearize_encoder

    with pytest.raises(ConfigError, match=r"not linear: .* dB .* set run.linear_encoder: false"):
        linearize_encoder(create_codec("tiny"))
