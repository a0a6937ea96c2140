"""The demo app on 127.0.0.1 (a free port), built on `tiny` plus `tiny+audio`: tiny with a weight-free
test audio encoder in its space, so the audio-example path runs end to end."""

from __future__ import annotations

import socket
from collections.abc import Sequence

import numpy as np
import pytest
import soundfile as sf
import torch

from codecsep_mm.prompts.base import l2_normalize

WITH_AUDIO = "tiny+audio"


class BandEnergyAudioEncoder:
    """Audio examples -> log band energies, through a fixed random map into tiny's space (tests only)."""

    name, modality, space, embed_dim = "test-band-energy", "audio", "hash-text-64", 64

    def __init__(self, n_bands: int = 16):
        self.n_bands = n_bands
        self.table = torch.randn(n_bands, self.embed_dim, generator=torch.Generator().manual_seed(3))

    @torch.no_grad()
    def encode(self, prompts: Sequence) -> torch.Tensor:
        rows = []
        for prompt in prompts:
            wav, _ = sf.read(prompt, dtype="float32", always_2d=True) if isinstance(prompt, str) else prompt
            spectrum = np.abs(np.fft.rfft(np.asarray(wav).reshape(-1)))
            bands = np.array([band.mean() for band in np.array_split(spectrum, self.n_bands)])
            rows.append(torch.from_numpy(np.log1p(bands).astype(np.float32)) @ self.table)
        return l2_normalize(torch.stack(rows))


def load_model(name: str):
    from codecsep_mm import Separator

    separator = Separator.from_pretrained("tiny")
    if name == WITH_AUDIO:
        separator.add_prompt_encoder(BandEnergyAudioEncoder())
    elif name != "tiny":
        return Separator.from_pretrained(name)
    return separator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def demo_url():
    from codecsep_mm.demo.app import build_demo, launch_demo

    demo = build_demo(model="tiny", models=["tiny", WITH_AUDIO], loader=load_model)
    _, url, _ = launch_demo(demo, "127.0.0.1", free_port(), prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()


@pytest.fixture(scope="session")
def client(demo_url):
    from gradio_client import Client

    return Client(demo_url, verbose=False, download_files=False, analytics_enabled=False)
