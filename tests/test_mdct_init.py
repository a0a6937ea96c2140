"""The MDCT start of a DAC-architecture codec (codecsep_mm/codecs/mdct_init.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from codecsep_mm.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

STARTER = dict(encoder_dim=20, encoder_rates=[2, 4, 5, 8], latent_dim=320, decoder_dim=320,
               decoder_rates=[8, 5, 4, 2], n_codebooks=2, codebook_size=16, codebook_dim=4, sample_rate=16000)


def _si_sdr(estimate: np.ndarray, target: np.ndarray) -> float:
    target, estimate = target - target.mean(), estimate - estimate.mean()
    scaled = (estimate @ target) / (target @ target) * target
    return float(10 * np.log10((scaled @ scaled) / ((estimate - scaled) @ (estimate - scaled))))


def test_an_mdct_start_reconstructs_and_its_latent_is_a_spectrum():
    from codecsep_mm.codecs.dac_backend import build_dac
    from codecsep_mm.codecs.mdct_init import init_dac_as_mdct

    torch.manual_seed(0)
    model = build_dac(STARTER)
    init_dac_as_mdct(model)
    t = np.arange(32000) / 16000
    rng = np.random.default_rng(0)
    signal = 0.3 * np.sin(2 * np.pi * 1000.0 * t) + 0.05 * rng.standard_normal(t.size)
    x = torch.tensor(signal, dtype=torch.float32)[None, None]
    with torch.no_grad():
        latent = model.encoder(model.preprocess(x, 16000))
        y = model.decoder(latent)[0, 0].double().numpy()
    n = min(y.size, t.size)
    assert latent.shape == (1, 320, 100)
    # away from the two ends (where a frame lacks its overlapping neighbour) it is nearly exact
    assert _si_sdr(y[640:n - 640], signal[640:n - 640]) > 35.0
    assert _si_sdr(y[:n], signal[:n]) > 25.0
    # MDCT bins are 25 Hz wide: 1 kHz lands in bin 39 or 40 (bin k is centred on (k + 0.5) * 25 Hz)
    energy = latent[0, :, 10:-10].pow(2).mean(-1)
    assert int(energy.argmax()) in (39, 40)
    assert float(energy[35:45].sum() / energy.sum()) > 0.8


def test_too_narrow_a_codec_cannot_start_as_an_mdct():
    from codecsep_mm.codecs.mdct_init import check_mdct_widths

    with pytest.raises(ConfigError, match="encoder stage 4 has 256 channels for 320 samples"):
        check_mdct_widths({**STARTER, "encoder_dim": 16, "latent_dim": None})
    with pytest.raises(ConfigError, match="decoder stage 0 has 256 channels"):
        check_mdct_widths({**STARTER, "decoder_dim": 256})
    check_mdct_widths(STARTER)


def test_the_codec_trainer_checks_its_start(tmp_path, capsys):
    from codecsep_mm.cli import main

    config = str(REPO / "configs" / "codec-tiny.yaml")  # too narrow for an MDCT start
    out = ["--set", f"run.out_dir={tmp_path / 'x'}"]
    assert main(["train-codec", config, *out, "--set", "finetune.init=mdct"]) != 0
    assert "too narrow to start as an MDCT" in capsys.readouterr().err
    assert main(["train-codec", config, *out, "--set", "finetune.init=dct"]) != 0
    assert "choose 'random' or 'mdct'" in capsys.readouterr().err
    assert main(["train-codec", str(REPO / "configs" / "starter-codec.yaml"), *out,
                 "--set", f"finetune.init_from={tmp_path}"]) != 0
    assert "init or init_from, not both" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_frozen_mdct_codec_skips_its_identity_residual_units(tmp_path):
    from codecsep_mm.codecs import create_codec
    from codecsep_mm.codecs.dac_backend import build_dac, save_dac_weights
    from codecsep_mm.codecs.mdct_init import init_dac_as_mdct

    torch.manual_seed(0)
    model = build_dac(STARTER)
    init_dac_as_mdct(model)
    path = save_dac_weights(model, tmp_path / "mdct.pth")
    codec = create_codec(path)
    assert codec.skipped_units == 24  # 3 per encoder and decoder block: all of them
    x = 0.1 * torch.randn(1, 1, 16000)
    with torch.no_grad():
        reference = model.eval().decoder(model.encoder(model.preprocess(x, 16000)))
        torch.testing.assert_close(codec.decode(codec.encode(x))[..., :reference.shape[-1]], reference,
                                   atol=1e-5, rtol=1e-4)
    # a unit that has learnt something is kept
    trained = build_dac(STARTER)
    torch.manual_seed(1)
    assert create_codec(save_dac_weights(trained, tmp_path / "random.pth")).skipped_units == 0
