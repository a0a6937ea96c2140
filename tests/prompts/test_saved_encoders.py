"""Extra prompt encoders and their projections are saved with a model and come back with it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from codecsep_mm import Separator, prompts
from codecsep_mm.errors import ConfigError
from codecsep_mm.prompts.projection import LabelBridge, LinearProjection
from codecsep_mm.prompts.query import Prompt


class SpectrumAudio:
    """Audio -> a 16-d coarse spectrum in its own space (needs a projection into the masker's)."""

    name, modality, space, embed_dim = "spectrum-audio", "audio", "spectrum-16", 16

    def __init__(self, n_bins: int = 16):
        self.options = {"n_bins": n_bins}

    def encode(self, clips):  # each clip comes as (samples, sample_rate)
        rows = [torch.from_numpy(np.abs(np.fft.rfft(np.asarray(c[0], dtype=np.float32), n=30))[:16])
                for c in clips]
        return torch.nn.functional.normalize(torch.stack(rows).float(), dim=-1)


class ColourClassifier:
    """'Images' (RGB triples) -> probabilities over three colour classes."""

    name, modality, space, embed_dim = "colour-classifier", "image", "colours-3", 3
    options: dict = {}

    def encode(self, images):
        logits = torch.tensor(np.asarray(images, dtype=np.float32)) * 5
        return torch.nn.functional.normalize(logits.softmax(-1), dim=-1)


@pytest.fixture
def registered():
    prompts.register("spectrum-audio", lambda **o: SpectrumAudio(**o), overwrite=True)
    prompts.register("colour-classifier", lambda **o: ColourClassifier(), overwrite=True)


def test_encoders_and_projections_round_trip(tmp_path, registered):
    separator = Separator.from_pretrained("tiny")
    text = separator.prompt_encoder
    audio = SpectrumAudio()
    x = torch.randn(40, 16)
    separator.add_prompt_encoder(audio, LinearProjection.fit(x, torch.randn(40, 64), audio.space, separator.space))
    bridge = LabelBridge.for_classifier(["red", "green", "blue"], text, "colours-3", top_k=2)
    separator.add_prompt_encoder(ColourClassifier(), bridge)
    clip = np.sin(np.arange(16000) / 7.0).astype(np.float32)
    queries = [Prompt.audio(clip, 16000), Prompt.image([0.9, 0.1, 0.0]), "speech"]
    before, _, _ = separator.encode_queries(queries)

    separator.save_pretrained(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert [e["name"] for e in config["prompt_encoders"]] == ["spectrum-audio", "colour-classifier"]
    loaded = Separator.from_pretrained(tmp_path / "model")
    after, _, _ = loaded.encode_queries(queries)
    torch.testing.assert_close(before, after)
    assert loaded.encoders["audio"].options == {"n_bins": 16}
    # the bridge's choice is the nearest colour label, as a text prompt of that label would be
    red_text, _, _ = loaded.encode_queries(["red"])
    assert torch.nn.functional.cosine_similarity(after[1], red_text[0], dim=0) > 0.9


def test_a_bad_saved_encoder_entry_is_named(tmp_path, registered):
    separator = Separator.from_pretrained("tiny")
    separator.save_pretrained(tmp_path / "model")
    path = tmp_path / "model" / "config.json"
    config = json.loads(path.read_text())
    config["prompt_encoders"] = [{"name": "spectrum-audio", "colour": 1}]
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="unknown keys \\['colour'\\]"):
        Separator.from_pretrained(tmp_path / "model")


def test_a_classifier_bridge_stores_its_identity_source_as_a_word(tmp_path):
    from safetensors.torch import load_file, save_file

    from codecsep_mm.prompts.projection import load_projection

    text = Separator.from_pretrained("tiny").prompt_encoder
    bridge = LabelBridge.for_classifier(["red", "green", "blue"], text, "colours-3", top_k=2)
    folder = bridge.save(tmp_path / "bridge")
    config = json.loads((folder / "config.json").read_text())
    assert config["source"] == "identity" and set(load_file(str(folder / "label_bridge.safetensors"))) == {"target"}
    probabilities = torch.tensor([[0.1, 0.8, 0.1], [0.7, 0.2, 0.1]])
    torch.testing.assert_close(load_projection(folder)(probabilities), bridge(probabilities))
    # a folder written before (the identity stored as a tensor) still loads
    del config["source"]
    (folder / "config.json").write_text(json.dumps(config))
    save_file({"source": torch.eye(3), "target": bridge.target}, str(folder / "label_bridge.safetensors"))
    torch.testing.assert_close(load_projection(folder)(probabilities), bridge(probabilities))
    # neither a source tensor nor the word: a clear error
    save_file({"target": bridge.target}, str(folder / "label_bridge.safetensors"))
    with pytest.raises(ConfigError, match='"source": "identity"'):
        load_projection(folder)
