"""CachedEncoder: repeated prompts (texts, files, arrays, images) are encoded once."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from codecsep_mm.errors import PromptError
from codecsep_mm.prompts import PromptEncoder, create
from codecsep_mm.prompts.cache import CachedEncoder, cached, prompt_key


class Recorder:
    """Wraps an encoder and records every batch it is asked to encode."""

    def __init__(self, encoder, modality=None):
        self.encoder, self.calls = encoder, []
        self.name, self.space, self.embed_dim = encoder.name, encoder.space, encoder.embed_dim
        self.modality = modality or encoder.modality
        self.options = {"embed_dim": encoder.embed_dim}

    def encode(self, prompts):
        self.calls.append(list(prompts))
        return self.encoder.encode([self.describe(p) for p in prompts])

    @staticmethod
    def describe(prompt) -> str:  # any prompt -> a text the hash encoder can embed
        return prompt if isinstance(prompt, str) else repr(prompt_key(prompt, "audio"))


@pytest.fixture
def text_cache():
    inner = Recorder(create("hash-text", embed_dim=16))
    return CachedEncoder(inner, max_items=3), inner


def test_repeated_texts_are_encoded_once(text_cache):
    encoder, inner = text_cache
    assert isinstance(encoder, PromptEncoder)
    assert (encoder.name, encoder.space, encoder.embed_dim, encoder.options) == (
        "hash-text",
        "hash-text-16",
        16,
        {"embed_dim": 16},
    )
    first = encoder.encode(["a dog barking", "rain"])
    second = encoder.encode(["rain", "speech", "speech", "a dog barking"])
    assert inner.calls == [["a dog barking", "rain"], ["speech"]]
    assert encoder.cache_info() == {
        "hits": 3,
        "misses": 3,
        "uncached": 0,
        "size": 3,
        "max_items": 3,
    }
    assert torch.equal(second[0], first[1]) and torch.equal(second[3], first[0])
    assert torch.equal(second, inner.encoder.encode(["rain", "speech", "speech", "a dog barking"]))


def test_least_recently_used_is_dropped(text_cache):
    encoder, inner = text_cache
    encoder.encode(["a", "b", "c"])
    encoder.encode(["a"])  # refreshes "a": "b" is now the oldest
    encoder.encode(["d"])
    encoder.encode(["a", "c", "d", "b"])
    assert inner.calls[-1] == ["b"]
    assert len(encoder) == 3


def test_results_cannot_corrupt_the_cache(text_cache):
    encoder, _ = text_cache
    encoder.encode(["rain"]).mul_(0)
    assert torch.allclose(encoder.encode(["rain"]).norm(), torch.tensor(1.0))


def test_errors_propagate_and_cache_nothing(text_cache):
    encoder, _ = text_cache
    with pytest.raises(PromptError):
        encoder.encode(["rain", ""])
    assert encoder.cache_info()["size"] == 0 and encoder.hits == encoder.misses == 0


def test_files_arrays_and_images_are_keyed_by_content(tmp_path):
    from PIL import Image

    inner = Recorder(create("hash-text", embed_dim=8), modality="audio")
    encoder = cached(inner)
    assert cached(encoder) is encoder
    wav = tmp_path / "clip.wav"
    sf.write(wav, np.linspace(-0.5, 0.5, 800, dtype=np.float32), 8000)
    clip = np.sin(np.arange(800, dtype=np.float32))
    encoder.encode([str(wav), wav, (clip, 8000), (clip.copy(), 8000), [(clip, 8000), str(wav)]])
    assert len(inner.calls[-1]) == 3, "path == PathLike, equal arrays are one prompt"
    encoder.encode(
        [(clip, 16000), [(clip.copy(), 8000), str(wav)], Image.new("RGB", (4, 4), "red")]
    )
    assert len(inner.calls[-1]) == 2, "another sample rate is another prompt; the list is a hit"
    sf.write(wav, np.linspace(0.5, -0.5, 800, dtype=np.float32), 8000)  # same name, new content
    encoder.encode([str(wav), Image.new("RGB", (4, 4), "red"), Image.new("RGB", (4, 4), "blue")])
    assert len(inner.calls[-1]) == 2 and inner.calls[-1][0] == str(wav), "edited file, new image"
    assert (
        prompt_key(object()) is None and prompt_key(str(tmp_path / "missing.wav"), "audio") is None
    )


def test_uncacheable_prompts_pass_through():
    inner = Recorder(create("hash-text", embed_dim=8))
    encoder = CachedEncoder(inner, max_items=0)
    encoder.encode(["a", "a"])
    assert inner.calls == [["a", "a"]] and encoder.uncached == 2 and len(encoder) == 0
