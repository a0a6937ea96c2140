"""openclip-image / openclip-text: a tiny random open_clip model saved as a checkpoint and loaded
through the same loader as real weights; image inputs of every form; bad images refused early."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
import torch

from codecsep_mm.errors import ConfigError, PromptError, WeightsNotFoundError
from codecsep_mm.prompts import PromptEncoder, create
from codecsep_mm.prompts import openclip as openclip_module

MODEL = "codecsep-test-tiny-clip"
EMBED_DIM = 32
TINY_CONFIG = {
    "embed_dim": EMBED_DIM,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """(checkpoint path, reference model) for a tiny open_clip architecture registered by name."""
    import open_clip

    root = tmp_path_factory.mktemp("tiny-clip")
    (root / f"{MODEL}.json").write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(root / f"{MODEL}.json")
    torch.manual_seed(0)
    reference = open_clip.create_model(MODEL, pretrained=None).eval()
    checkpoint = root / "tiny-clip.pt"
    torch.save({"state_dict": reference.state_dict()}, checkpoint)
    return checkpoint, reference


@pytest.fixture(scope="module")
def image_encoder(tiny_clip):
    checkpoint, _ = tiny_clip
    return create("openclip-image", model=MODEL, checkpoint=str(checkpoint))


def picture(seed: int, size=(40, 48)) -> np.ndarray:
    """A blocky random RGB picture, ``(height, width, 3)`` uint8."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (size[0] // 8, size[1] // 8, 3), dtype=np.uint8)
    return np.kron(blocks, np.ones((8, 8, 1), dtype=np.uint8))


def png_header(path, width: int, height: int) -> None:
    """A PNG that declares ``width x height`` but holds no pixels (what a bomb looks like)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_image_forms_agree_and_weights_come_from_the_checkpoint(image_encoder, tiny_clip, tmp_path):
    from PIL import Image

    _, reference = tiny_clip
    path = tmp_path / "dog.png"
    Image.fromarray(picture(0)).save(path)
    as_float = picture(0).astype(np.float32) / 255.0
    rows = image_encoder.encode(
        [
            str(path),
            Image.open(path),
            picture(0),
            as_float,
            np.moveaxis(picture(0), -1, 0),
            picture(1),
        ]
    )
    assert rows.shape == (6, EMBED_DIM) and not rows.requires_grad
    assert torch.allclose(rows.norm(dim=-1), torch.ones(6), atol=1e-5)
    for same in rows[1:5]:
        assert torch.allclose(same, rows[0], atol=1e-5)
    assert (rows[0] @ rows[5]).item() < 0.999
    batch = image_encoder.clip.preprocess(Image.open(path).convert("RGB"))[None]
    with torch.no_grad():
        expected = torch.nn.functional.normalize(reference.encode_image(batch), dim=-1)
    assert torch.allclose(rows[0], expected[0], atol=1e-5)


def test_text_tower_shares_the_space(image_encoder, tiny_clip):
    text = create("openclip-text", model=MODEL, checkpoint=str(tiny_clip[0]))
    sibling = image_encoder.clip.text_encoder()
    assert text.space == sibling.space == image_encoder.space == f"openclip-{MODEL}-tiny-clip"
    assert text.modality == "text" and image_encoder.modality == "image"
    assert isinstance(text, PromptEncoder) and isinstance(image_encoder, PromptEncoder)
    rows = text.encode(["a dog", "a piano", "a dog"])
    assert rows.shape == (3, EMBED_DIM)
    assert torch.allclose(rows, sibling.encode(["a dog", "a piano", "a dog"]), atol=1e-6)
    assert torch.allclose(rows[0], rows[2]) and not torch.allclose(rows[0], rows[1], atol=1e-3)
    assert torch.allclose(rows.norm(dim=-1), torch.ones(3), atol=1e-5)
    with pytest.raises(PromptError, match="empty text prompt"):
        text.encode([" "])


def test_unreadable_and_absurd_images_are_refused(image_encoder, tmp_path):
    not_image = tmp_path / "notes.png"
    not_image.write_text("this is not a picture")
    with pytest.raises(PromptError, match="not an image"):
        image_encoder.encode([str(not_image)])
    with pytest.raises(PromptError, match="no such image file"):
        image_encoder.encode([str(tmp_path / "missing.jpg")])
    big = tmp_path / "big.png"
    png_header(big, 10_000, 6_000)  # 60 MP: over our limit, under Pillow's own bomb guard
    with pytest.raises(PromptError, match="10000x6000 .60 megapixels"):
        image_encoder.encode([str(big)])
    bomb = tmp_path / "bomb.png"
    png_header(bomb, 40_000, 40_000)  # 1600 MP: Pillow refuses it at open
    with pytest.raises(PromptError, match="too large"):
        image_encoder.encode([str(bomb)])
    truncated = tmp_path / "truncated.png"
    from PIL import Image

    Image.fromarray(picture(2)).save(tmp_path / "whole.png")
    truncated.write_bytes((tmp_path / "whole.png").read_bytes()[:80])
    with pytest.raises(PromptError, match="cannot decode"):
        image_encoder.encode([str(truncated)])
    with pytest.raises(PromptError, match="megapixel limit"):
        openclip_module.load_image(np.zeros((8000, 8000, 3), np.uint8))
    with pytest.raises(PromptError, match="NaN"):
        image_encoder.encode([np.full((8, 8, 3), np.nan, np.float32)])
    with pytest.raises(PromptError, match="unsupported image prompt"):
        image_encoder.encode([42])


def test_missing_weights_and_unknown_names(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="no such file"):
        create("openclip-image", model=MODEL, checkpoint=str(tmp_path / "none.pt"))
    with pytest.raises(ConfigError, match="unknown open_clip model"):
        create("openclip-image", model="no-such-arch", checkpoint=str(__file__))
    with pytest.raises(ConfigError, match="no pretrained tag 'bogus'"):
        create("openclip-text", model="ViT-B-32", pretrained="bogus")


def test_uncached_pretrained_tag_fails_fast_offline():
    from huggingface_hub import try_to_load_from_cache

    if isinstance(
        try_to_load_from_cache(
            "timm/vit_base_patch32_clip_224.openai", "open_clip_pytorch_model.bin"
        ),
        str,
    ):
        pytest.skip("this machine has the ViT-B-32 openai weights cached")
    with pytest.raises(WeightsNotFoundError, match="not in the Hugging Face cache"):
        create("openclip-image")
