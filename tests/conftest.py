"""Test environment: offline, CPU, a private weights cache, small seeded models and synthetic audio."""

from __future__ import annotations

import os

# Before anything imports laion_clap, transformers or gradio.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="session", autouse=True)
def private_home(tmp_path_factory):
    """A weights cache per test session, so tests never touch the user's cache."""
    home = tmp_path_factory.mktemp("codecsep-home")
    os.environ["CODECSEP_MM_HOME"] = str(home)
    yield home


def tone_mix(seconds: float = 2.0, sample_rate: int = 16000, channels: int = 1, seed: int = 0):
    """A synthetic mixture: two tones, noise bursts and clicks, ``(channels, samples)`` float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    tones = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 660 * t)
    bursts = 0.2 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * 1.5 * t) > 0.6)
    clicks = np.zeros_like(t)
    clicks[:: sample_rate // 4] = 0.8
    mono = (tones + bursts + clicks).astype(np.float32)
    return np.stack([mono * (1.0 - 0.3 * c) for c in range(channels)]).astype(np.float32)


@pytest.fixture
def mixture():
    return tone_mix()


SMALL_MDCT = dict(encoder_dim=2, encoder_rates=[2, 4], latent_dim=8, decoder_dim=8, decoder_rates=[4, 2],
                  n_codebooks=2, codebook_size=16, codebook_dim=4, sample_rate=16000)


@pytest.fixture
def mdct_codec_path(tmp_path):
    """A small DAC whose layers are an MDCT (hop 8): a linear encoder, saved as a codec file."""
    from codecsep_mm.codecs.dac_backend import build_dac, save_dac_weights
    from codecsep_mm.codecs.mdct_init import init_dac_as_mdct

    torch.manual_seed(0)
    model = build_dac(SMALL_MDCT)
    init_dac_as_mdct(model)
    return save_dac_weights(model, tmp_path / "mdct.pth")
