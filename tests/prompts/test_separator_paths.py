"""Every prompt kind drives one masker: CLAP audio (identity), open_clip images through a fitted
text bridge and through a label bridge, combined with text; wrong paths are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_clap import clap_audio, clap_text, tiny_clap  # noqa: F401  (fixtures)
from test_openclip import MODEL, image_encoder, picture, tiny_clip  # noqa: F401  (fixtures)

from codecsep_mm.errors import ConfigError, PromptError
from codecsep_mm.models import build_separator
from codecsep_mm.prompts import (
    LabelBridge,
    Prompt,
    Query,
    create,
    fit_text_bridge,
    sound_event_vocabulary,
)

CAPTIONS = [f"{a} {b}" for a in ("a dog", "rain", "a piano", "an engine", "birds", "a crowd", "wind")
            for b in ("barking", "far away", "close by", "in a hall", "outdoors", "at night")]


@pytest.fixture(scope="module")
def separator(clap_text):  # noqa: F811
    return build_separator(clap_text, codec="tiny", masker="tiny")


@pytest.fixture(scope="module")
def clip_text(tiny_clip):  # noqa: F811
    return create("openclip-text", model=MODEL, checkpoint=str(tiny_clip[0]))


def mixture(seconds=1.0, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)


def test_masker_space_is_the_clap_text_space(separator, clap_text):  # noqa: F811
    assert separator.space == clap_text.space and separator.masker.config.cond_dim == clap_text.embed_dim


def test_clap_audio_query_uses_identity_and_combines_with_text(separator, clap_audio):  # noqa: F811
    separator.add_prompt_encoder(clap_audio)
    example = (mixture(2.0, 48000), 48000)
    result = separator.separate(mixture(), [Prompt.audio(*example), Query.of("a dog", Prompt.audio(*example))])
    assert result.stems.shape == (2, 16000) and np.isfinite(result.stems).all()
    cond, _, _ = separator.encode_queries([Prompt.audio(*example), "a dog", Query.of("a dog", Prompt.audio(*example))])
    expected = torch.nn.functional.normalize(cond[0] + cond[1], dim=0)
    assert torch.allclose(cond[2], expected, atol=1e-5)


def test_image_query_through_a_text_bridge(separator, image_encoder, clip_text, clap_text):  # noqa: F811
    bridge = fit_text_bridge(clip_text, clap_text, CAPTIONS)
    with pytest.raises(PromptError, match="trained in"):
        separator.add_prompt_encoder(image_encoder)  # no projection: wrong space
    separator.add_prompt_encoder(image_encoder, bridge)
    result = separator.separate(mixture(), [Prompt.image(picture(1)), Query.everything_except(Prompt.image(picture(1)))])
    assert result.labels == ["image query", "not image query"] and result.stems.shape == (2, 16000)


def test_image_query_through_a_label_bridge(separator, image_encoder, clip_text, clap_text):  # noqa: F811
    vocabulary = sound_event_vocabulary()[:60]
    bridge = LabelBridge.from_encoders(vocabulary, clip_text, clap_text, top_k=3)
    separator.add_prompt_encoder(image_encoder, bridge)
    vector = separator.embed_prompt(Prompt.image(picture(2)))
    chosen = [label for label, _ in bridge.top_labels(image_encoder.encode([picture(2)]))[0]]
    label_vectors = clap_text.encode(chosen)
    # The projected image lies in the span of its chosen labels' text embeddings.
    coefficients = torch.linalg.lstsq(label_vectors.T, vector[:, None]).solution
    assert torch.allclose(label_vectors.T @ coefficients, vector[:, None], atol=1e-4)


def test_projection_with_wrong_dimensions_is_refused(separator, image_encoder, clip_text):  # noqa: F811
    from codecsep_mm.prompts import LinearProjection

    bad = LinearProjection(torch.zeros(7, 32), torch.zeros(32), image_encoder.space, separator.space)
    separator.add_prompt_encoder(image_encoder, bad)
    with pytest.raises(ConfigError, match="7-d"):
        separator.embed_prompt(Prompt.image(picture(3)))
