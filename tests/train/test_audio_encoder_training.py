"""`codecsep-mm train-audio-encoder`: an audio tower learns a locked text space (LiT-style)."""

from __future__ import annotations

import json

import numpy as np
import torch

from codecsep_mm import Separator, prompts
from codecsep_mm.cli import main
from codecsep_mm.data.synthetic import SyntheticBank
from codecsep_mm.prompts.query import Prompt

from .conftest import REPO

CONFIG = REPO / "configs" / "audio-encoder-tiny.yaml"


def test_audio_queries_land_near_their_descriptions(tmp_path, capsys):
    out = tmp_path / "enc"
    args = ["--set", f"run.out_dir={out}", "--set", "run.steps=60", "--set", "run.valid_every=60",
            "--set", "run.progress=false", "--set", "data.valid_items=48", "--set", "optim.lr=3e-3",
            "--set", "data.prompt_fields={class: 1.0}"]
    assert main(["train-audio-encoder", str(CONFIG), "--json", *args]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # nearest class word for held-out clips: chance is 1/3
    assert summary["last_validation"]["valid/class_accuracy"] > 0.7, summary
    encoder = prompts.create("starter-audio", weights=summary["best"])
    assert encoder.space == "hash-text-64" and encoder.modality == "audio"

    rng = np.random.default_rng(5)
    text = prompts.create("hash-text", embed_dim=64)
    words = text.encode(["speech", "music", "sound effects"])
    long_clip = SyntheticBank("music", 16000).crop(0, 16000 * 9, rng)  # 9 s: windows, pooled
    embedding = encoder.encode([(long_clip, 16000)])
    assert embedding.shape == (1, 64) and int((embedding @ words.T).argmax()) == 1

    # as the audio encoder of a model in the same space, saved and loaded with it
    separator = Separator.from_pretrained("tiny")
    separator.add_prompt_encoder(encoder)
    separator.save_pretrained(tmp_path / "model")
    loaded = Separator.from_pretrained(tmp_path / "model")
    clip = SyntheticBank("sfx", 16000).crop(1, 16000, rng)
    a, _, _ = separator.encode_queries([Prompt.audio(clip, 16000)])
    b, _, _ = loaded.encode_queries([Prompt.audio(clip, 16000)])
    torch.testing.assert_close(a, b)


def _tiny_audio_encoder(folder):
    """A small untrained `starter-audio` folder in the `tiny` model's space."""
    from codecsep_mm.prompts.starter_audio import (
        AudioEmbedder,
        AudioEmbedderConfig,
        save_audio_embedder,
    )

    return save_audio_embedder(AudioEmbedder(AudioEmbedderConfig(channels=(4,), embed_dim=64, space="hash-text-64")),
                               folder)


def test_audio_queries_are_embedded_at_the_level_the_tower_was_trained_at(tmp_path):
    from codecsep_mm.prompts.starter_audio import AudioEmbedder, StarterAudioEncoder

    encoder = StarterAudioEncoder(_tiny_audio_encoder(tmp_path / "enc"))
    clip = SyntheticBank("sfx", 16000).crop(0, 16000 * 2, np.random.default_rng(2))
    quiet, loud = encoder.encode([(0.05 * clip, 16000), (4.0 * clip, 16000)])
    torch.testing.assert_close(quiet, loud, atol=1e-5, rtol=1e-4)  # any level: the same query
    # each window at a peak of 1, as every training clip (train.audio_encoder) was
    peak = torch.from_numpy((clip / np.abs(clip).max())[None]).float()
    expected = AudioEmbedder.forward(encoder.model, peak)[0]
    torch.testing.assert_close(quiet, expected / expected.norm(), atol=1e-5, rtol=1e-4)


def test_masker_training_with_audio_queries_keeps_the_audio_encoder(tmp_path):
    from .conftest import TINY_CONFIG, tiny_overrides

    encoder_dir = _tiny_audio_encoder(tmp_path / "enc")
    spec = json.dumps([{"name": "starter-audio", "options": {"weights": str(encoder_dir)}}])
    out = tmp_path / "run"
    args = tiny_overrides(out, steps=2, **{"model.prompt_encoders": spec, "data.mixing.audio_query_prob": 0.5})
    assert main(["train", str(TINY_CONFIG), *args]) == 0
    config = json.loads((out / "best" / "config.json").read_text())
    assert config["prompt_encoders"][0]["name"] == "starter-audio"
    separator = Separator.from_pretrained(out / "best")
    clip = SyntheticBank("sfx", 16000).crop(0, 8000, np.random.default_rng(0))
    assert separator.separate(clip, [Prompt.audio(clip, 16000)]).stems.shape == (1, 8000)


def test_a_saved_model_stands_alone_and_can_be_stored_in_half_precision(tmp_path):
    import shutil

    encoder_dir = _tiny_audio_encoder(tmp_path / "enc")
    separator = Separator.from_pretrained("tiny")
    separator.add_prompt_encoder(prompts.create("starter-audio", weights=str(encoder_dir)))
    full = separator.save_pretrained(tmp_path / "full")
    half = separator.save_pretrained(tmp_path / "half", half=True)
    shutil.rmtree(encoder_dir)  # the model folders carry their own copy of the encoder's weights
    config = json.loads((half / "config.json").read_text())
    assert config["prompt_encoders"][0]["options"]["weights"] == "./encoders/starter-audio/enc"
    full_size = (full / "masker.safetensors").stat().st_size
    assert (half / "masker.safetensors").stat().st_size < 0.6 * full_size

    clip = SyntheticBank("sfx", 16000).crop(0, 8000, np.random.default_rng(0))
    prompt = [Prompt.audio(clip, 16000)]
    expected = separator.separate(clip, prompt).stems
    for folder, tolerance in ((full, 1e-6), (half, 5e-2)):
        loaded = Separator.from_pretrained(folder)
        assert next(loaded.masker.parameters()).dtype == torch.float32
        got = loaded.separate(clip, prompt).stems
        assert float(np.abs(got - expected).max()) <= tolerance * max(1.0, float(np.abs(expected).max()))


def test_the_audio_encoder_follows_the_model_to_its_device(tmp_path, monkeypatch):
    from codecsep_mm.prompts.starter_audio import StarterAudioEncoder

    separator = Separator.from_pretrained("tiny")
    separator.add_prompt_encoder(prompts.create("starter-audio", weights=str(_tiny_audio_encoder(tmp_path / "enc"))))
    separator.save_pretrained(tmp_path / "model")
    moved = []
    original = StarterAudioEncoder.to_device
    monkeypatch.setattr(StarterAudioEncoder, "to_device",
                        lambda self, device: moved.append(str(device)) or original(self, device))
    loaded = Separator.from_pretrained(tmp_path / "model", device="cpu")
    assert moved == ["cpu"]  # once; the text encoder (hash-text) has no to_device and stays put
    encoder = loaded.encoders["audio"].encoder
    assert encoder.device == torch.device("cpu")
    assert {p.device.type for p in encoder.model.parameters()} == {"cpu"}
    clip = SyntheticBank("sfx", 16000).crop(0, 8000, np.random.default_rng(0))
    assert loaded.encode_queries([Prompt.audio(clip, 16000)])[0].device.type == "cpu"


def test_the_audio_tower_learns_through_a_frozen_masker(tmp_path):
    """`model.learn: audio-encoder`: only the audio-query tower changes; text prompts separate as
    before, audio queries differently, and the model keeps its base's separation settings."""
    import dataclasses

    from safetensors.torch import load_file

    from .conftest import TINY_CONFIG, tiny_overrides

    base = Separator.from_pretrained("tiny")
    base.add_prompt_encoder(prompts.create("starter-audio", weights=str(_tiny_audio_encoder(tmp_path / "enc"))))
    base.settings = dataclasses.replace(base.settings, mask_floor=0.03)
    base.save_pretrained(tmp_path / "base")
    out = tmp_path / "run"
    args = tiny_overrides(out, steps=3, **{"model.base": str(tmp_path / "base"), "model.learn": "audio-encoder",
                                           "data.mixing.audio_query_prob": 1.0, "optim.lr": 0.05})
    assert main(["train", str(TINY_CONFIG), *args]) == 0
    assert (out / "checkpoints" / "last" / "audio_encoder.safetensors").is_file()

    before, after = Separator.from_pretrained(tmp_path / "base"), Separator.from_pretrained(out / "best")
    masker_before = load_file(str(tmp_path / "base" / "masker.safetensors"))
    masker_after = load_file(str(out / "best" / "masker.safetensors"))
    assert all(torch.equal(masker_before[k], masker_after[k]) for k in masker_before)
    assert after.settings == before.settings and after.settings.mask_floor == 0.03
    tower_before = before.encoders["audio"].encoder.model.state_dict()
    tower_after = after.encoders["audio"].encoder.model.state_dict()
    changed = [k for k in tower_before if not torch.equal(tower_before[k], tower_after[k])]
    assert changed and all("running" not in k for k in changed)  # weights learn, batch-norm statistics stay

    clip = SyntheticBank("sfx", 16000).crop(0, 8000, np.random.default_rng(0))
    text_before, _, _ = before.encode_queries(["sound effects"])
    text_after, _, _ = after.encode_queries(["sound effects"])
    torch.testing.assert_close(text_before, text_after)
    audio_before, _, _ = before.encode_queries([Prompt.audio(clip, 16000)])
    audio_after, _, _ = after.encode_queries([Prompt.audio(clip, 16000)])
    assert float((audio_before - audio_after).abs().max()) > 1e-4


def test_learning_the_audio_tower_needs_audio_queries_and_a_tower(tmp_path, capsys):
    from .conftest import TINY_CONFIG, tiny_overrides

    out = tmp_path / "run"
    assert main(["train", str(TINY_CONFIG), *tiny_overrides(out, **{"model.learn": "audio-encoder"})]) != 0
    assert "data.mixing.audio_query_prob" in capsys.readouterr().err
    assert main(["train", str(TINY_CONFIG), *tiny_overrides(out, **{"model.learn": "codec"})]) != 0
    assert "model.learn 'codec'; valid: ['masker', 'audio-encoder']" in capsys.readouterr().err
    args = tiny_overrides(out, **{"model.learn": "audio-encoder", "data.mixing.audio_query_prob": 1.0})
    assert main(["train", str(TINY_CONFIG), *args]) != 0  # `tiny` has no audio encoder
    assert "needs a trainable audio-query encoder (starter-audio)" in capsys.readouterr().err
    assert not (out / "best").exists()
