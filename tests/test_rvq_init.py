"""codecsep_mm.codecs.rvq_init: a DAC residual vector quantizer fitted to latents by k-means."""

from __future__ import annotations

import math

import pytest
import torch

from codecsep_mm.codecs.rvq_init import fit_residual_vq


def _snr_db(reference: torch.Tensor, estimate: torch.Tensor) -> float:
    return float(10 * torch.log10(reference.pow(2).sum() / (reference - estimate).pow(2).sum()))


@pytest.mark.parametrize("weight_norm", [True, False])
def test_the_fitted_quantizer_codes_latents_it_never_saw(weight_norm):
    from dac.nn.quantize import ResidualVectorQuantize

    from codecsep_mm.codecs.dac_backend import remove_weight_norm

    torch.manual_seed(0)
    # latents with the structure of audio: a few strong directions whose levels vary widely
    basis = torch.linalg.qr(torch.randn(32, 32))[0]
    scales = torch.logspace(0, -2, 32)
    def draw(n):
        loudness = torch.exp(torch.randn(n, 1))  # frames from quiet to loud
        return (torch.randn(n, 32) * scales) @ basis.T * loudness + 0.3
    fit_on, unseen = draw(6000), draw(2000)
    quantizer = ResidualVectorQuantize(input_dim=32, n_codebooks=4, codebook_size=64, codebook_dim=4)
    if not weight_norm:
        remove_weight_norm(quantizer)
    quantizer.eval()
    with torch.no_grad():
        before = _snr_db(unseen, quantizer(unseen.T[None])[0][0].T)
        left = fit_residual_vq(quantizer, fit_on, iterations=15)
        # DAC's own forward, codebook by codebook, gives the energy left that the fit reports
        for n in (1, len(left)):
            coded = quantizer(fit_on.T[None], n)[0][0].T
            assert _snr_db(fit_on, coded) == pytest.approx(-10 * math.log10(left[n - 1]), abs=0.05)
        after = _snr_db(unseen, quantizer(unseen.T[None])[0][0].T)
        one = _snr_db(unseen, quantizer(unseen.T[None], 1)[0][0].T)
        codes = quantizer(unseen.T[None])[1]
        assert torch.allclose(quantizer.from_codes(codes)[0], quantizer(unseen.T[None])[0], atol=1e-5)
    assert all(a > b for a, b in zip(left, left[1:]))  # every codebook codes more of it
    assert before < 0 < 4.5 < after  # random codebooks: worse than silence; fitted: 5.6 dB on new frames
    assert after > one + 1.5  # four codebooks beat one on unseen frames (one: 2.2 dB)
    assert len(codes.unique()) > 32  # the entries are used, not collapsed onto a few
