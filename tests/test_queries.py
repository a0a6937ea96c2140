"""Combined and negative queries, projections, and prompt paths into the masker's space."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tone_mix

from codecsep_mm import Separator, prompts
from codecsep_mm.errors import ConfigError, OutputPathError, PromptError
from codecsep_mm.prompts.projection import (
    IdentityProjection,
    LabelBridge,
    LinearProjection,
    fit_text_bridge,
    sound_event_vocabulary,
)
from codecsep_mm.prompts.query import Prompt, Query


@pytest.fixture(scope="module")
def sep():
    return Separator.from_pretrained("tiny")


def latent_of(sep, seconds=1.0):
    return sep.codec.encode(torch.from_numpy(tone_mix(seconds))[None])


def test_negative_plus_positive_reconstructs_the_mixture_latent(sep):
    latent = latent_of(sep)
    cond, labels, negative = sep.encode_queries(["speech", Query.everything_except("speech")])
    assert labels == ["speech", "not speech"] and negative == [False, True]
    stems = sep._stem_latents(latent, cond, residual=False, negative=negative)
    assert torch.allclose(cond[0], cond[1])
    assert torch.allclose(stems[0] + stems[1], latent, atol=1e-5)


def test_negative_query_in_wave_mode_is_the_complement(sep):
    wav = tone_mix(1.0)
    result = sep.separate(wav, ["speech", Query.everything_except("speech")], residual=True)
    assert result.labels == ["speech", "not speech"]
    assert result.stems.shape == (2, 1, 16000)
    assert not np.allclose(result.stems[0], result.stems[1])


def test_combined_query_is_the_normalised_weighted_mean(sep):
    a, b = sep.embed_prompt(Prompt.text("dog")), sep.embed_prompt(Prompt.text("rain"))
    cond, labels, _ = sep.encode_queries([Query.of(Prompt.text("dog", 3.0), Prompt.text("rain"))])
    expected = torch.nn.functional.normalize(3 * a + b, dim=0)
    assert torch.allclose(cond[0], expected, atol=1e-6) and labels == ["dog + rain"]
    single, _, _ = sep.encode_queries([[Prompt.text("dog")]])
    assert torch.allclose(single[0], a)


def test_query_errors():
    with pytest.raises(PromptError, match="weights must be > 0"):
        Query.of(Prompt.text("x", weight=0))
    with pytest.raises(PromptError, match=r"needs its sample rate: Prompt.audio\(array, sample_rate=...\)"):
        Prompt.audio(np.ones(10))
    pair = Prompt.audio((np.ones(10), 22050))  # the pair the audio encoders take
    assert pair.sample_rate == 22050 and isinstance(pair.value, np.ndarray)
    assert Prompt.audio(("a.wav", "b.wav")).value == ("a.wav", "b.wav")  # several examples
    with pytest.raises(PromptError, match="empty text"):
        Prompt.text("")


def test_prompt_path_must_end_in_the_masker_space(sep):
    other = prompts.create("hash-text", embed_dim=32, space="other-space")
    with pytest.raises(PromptError, match="trained in 'hash-text-64'"):
        sep.add_prompt_encoder(other)
    x = other.encode(["a", "b", "c", "dog", "piano"])
    y = sep.prompt_encoder.encode(["a", "b", "c", "dog", "piano"])
    wrong = LinearProjection.fit(x, y, "other-space", "elsewhere")
    with pytest.raises(PromptError, match="elsewhere"):
        sep.add_prompt_encoder(other, wrong)


def test_modality_without_encoder_is_a_clear_error(sep):
    with pytest.raises(PromptError, match="no image prompt encoder"):
        sep.encode_queries([Prompt.image("cat.png")])


def test_identity_projection_normalises():
    out = IdentityProjection("s")(torch.tensor([[3.0, 4.0]]))
    assert torch.allclose(out, torch.tensor([[0.6, 0.8]]))


def test_linear_projection_recovers_a_linear_map_and_roundtrips(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(200, 16)
    true = torch.randn(16, 8)
    projection = LinearProjection.fit(x, x @ true, "a", "b", ridge=1e-6)
    assert torch.allclose(projection(x), torch.nn.functional.normalize(x @ true, dim=-1), atol=1e-3)
    again = LinearProjection.load(projection.save(tmp_path / "p"))
    assert torch.equal(again.weight, projection.weight) and again.target_space == "b"
    with pytest.raises(ConfigError, match="16-d"):
        projection(torch.randn(2, 9))
    projection.save(tmp_path / "p")  # over an earlier projection: fine
    model = tmp_path / "model"
    Separator.from_pretrained("tiny").save_pretrained(model)
    before = (model / "config.json").read_text()
    with pytest.raises(OutputPathError, match="holds a config.json that is not a projection's"):
        projection.save(model)
    assert (model / "config.json").read_text() == before and not (model / "projection.safetensors").exists()


def test_text_bridge_through_captions_reaches_the_target_space(sep):
    source = prompts.create("hash-text", embed_dim=48, seed=7, space="clip-like")
    captions = [f"{a} {b}" for a in ("dog", "cat", "rain", "piano", "engine", "bird", "wind")
                for b in ("barking", "loud", "soft", "far away", "in a room", "outside")]
    bridge = fit_text_bridge(source, sep.prompt_encoder, captions)
    assert (bridge.source_space, bridge.target_space) == ("clip-like", "hash-text-64")
    sep.add_prompt_encoder(source, bridge, default=False)
    projected = sep.embed_prompt(Prompt.text("dog barking", encoder="hash-text"))
    assert projected.shape == (64,)


def test_label_bridge_picks_the_right_labels():
    vocabulary = sound_event_vocabulary()
    assert len(vocabulary) == 527 and "Dog" in vocabulary and "Vacuum cleaner" in vocabulary
    source = prompts.create("hash-text", embed_dim=128, seed=1, space="src")
    target = prompts.create("hash-text", embed_dim=64, seed=2, space="dst")
    bridge = LabelBridge.from_encoders(vocabulary, source, target, top_k=3)
    query = source.encode(["Vacuum cleaner"])
    assert bridge.top_labels(query)[0][0][0] == "Vacuum cleaner"
    out = bridge(query)
    assert out.shape == (1, 64) and torch.allclose(out.norm(dim=-1), torch.ones(1))
    assert torch.nn.functional.cosine_similarity(out, target.encode(["Vacuum cleaner"])).item() > 0.8
