"""The embedded default model, `starter-16k`, as shipped in codecsep_mm/pretrained/."""

from __future__ import annotations

import json

import numpy as np
import pytest

from codecsep_mm import Separator
from codecsep_mm.defaults import DEFAULT_MODEL
from codecsep_mm.examples import example_path
from codecsep_mm.models import PRETRAINED_DIR, model_status
from codecsep_mm.prompts.query import Prompt

LIMIT_MB = 60.0


@pytest.fixture(scope="module")
def starter() -> Separator:
    return Separator.from_pretrained("starter-16k")


def test_it_is_the_default_it_is_ready_and_it_fits_in_the_size_limit():
    assert DEFAULT_MODEL == "starter-16k"
    status = model_status("starter-16k")
    assert status["ready"] and status["prompt_encoder"] == "minilm-text"
    files = [f for f in PRETRAINED_DIR.rglob("*") if f.is_file()]
    assert sum(f.stat().st_size for f in files) / 1e6 <= LIMIT_MB
    config = json.loads((PRETRAINED_DIR / "starter-16k" / "config.json").read_text())
    assert config["name"] == "starter-16k" and config["space"] == "minilm-l6-v2"
    # the encoder files it names are inside the folder (the model stands alone)
    for spec in config["prompt_encoders"]:
        for value in spec["options"].values():
            assert not isinstance(value, str) or not value.startswith("/"), spec


def test_it_takes_text_audio_and_image_prompts(starter):
    assert {m: e.name for m, e in starter.encoders.items()} == {
        "text": "minilm-text", "audio": "starter-audio", "image": "imagenet-image"}
    # the frozen MDCT start's residual units are all skipped at run time (its speed on a CPU)
    assert starter.codec.skipped_units == 24
    mixture, rate = example_path(), 16000
    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    clip = np.random.default_rng(1).standard_normal(8000).astype(np.float32) * 0.1
    result = starter.separate(mixture, ["music", "speech", Prompt.audio(clip, rate), Prompt.image(image)])
    stems = result.stems
    assert stems.shape[0] == 4 and np.isfinite(stems).all()
    # the prompt decides the mask: "music" and "speech" give clearly different stems
    music, speech = stems[0].ravel(), stems[1].ravel()
    difference = np.sqrt(np.mean((music - speech) ** 2)) / np.sqrt(np.mean(music**2) + np.mean(speech**2))
    assert difference > 0.1, difference


def test_its_wave_mode_reconstructs_the_input_closely(starter):
    """With a mask of ones the codec alone runs: the upper bound of what the model can give back."""
    import torch

    from codecsep_mm.audio import load_audio

    wav, _ = load_audio(example_path())
    x = torch.from_numpy(wav[:1])[None]
    with torch.no_grad():
        y = starter.codec.decode(starter.codec.encode(x))[..., : x.shape[-1]]
    a, b = x.numpy().ravel()[640:-640], y.numpy().ravel()[640:-640]
    a, b = a - a.mean(), b - b.mean()
    scaled = (b @ a) / (a @ a) * a
    assert 10 * np.log10((scaled @ scaled) / ((b - scaled) @ (b - scaled))) > 30.0


def test_its_audio_queries_take_integer_pcm_and_refuse_a_wrong_rate(starter):
    from codecsep_mm.errors import AudioInputError

    encoder = starter.encoders["audio"]
    clip = np.random.default_rng(2).standard_normal(16000) * 0.1
    pcm = np.round(clip * 32767).astype(np.int16)
    from_int16 = encoder.encode([(pcm, 16000)])
    from_float = encoder.encode([(pcm.astype(np.float32) / 32768, 16000)])
    assert float((from_int16 - from_float).abs().max()) < 1e-5
    with pytest.raises(AudioInputError, match="sample rate 0 is not usable"):
        encoder.encode([(clip, 0)])
    with pytest.raises(AudioInputError, match="audio query: samples are booleans"):
        encoder.encode([clip > 0])


def test_a_too_short_audio_query_is_named_with_how_long_it_must_be(starter, tmp_path):
    import soundfile as sf

    from codecsep_mm.errors import PromptError

    encoder = starter.encoders["audio"]
    path = tmp_path / "click.wav"
    sf.write(path, np.full(10, 0.1), 16000)
    with pytest.raises(PromptError, match=r"click.wav: only 0.001 s long; an audio query needs at least 0.032 s"):
        encoder.encode([str(path)])
    with pytest.raises(PromptError, match=r"^audio query: only 0.010 s long"):
        encoder.encode([(np.full(480, 0.1), 48000)])
