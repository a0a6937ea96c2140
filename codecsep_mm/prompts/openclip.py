"""``openclip-image`` and ``openclip-text``: open_clip image prompts and the CLIP text tower.

A picture of the source (a dog) prompts the separator through a projection from CLIP space into
the masker's space; the CLIP *text* tower of the same model shares that space, which is what
:func:`~codecsep_mm.prompts.projection.fit_text_bridge` uses to fit CLIP-text -> CLAP-text.

Weights come from a local ``checkpoint`` file (read with ``weights_only=True``) or an open_clip
``pretrained`` tag found in the Hugging Face cache; offline mode is forced (no hang) unless
``allow_network=True``. Images are checked before they are decoded: a file that is not an image,
or one larger than ``max_pixels`` (50 megapixels by default), is a :class:`PromptError`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from codecsep_mm.errors import ConfigError, PromptError, WeightsNotFoundError
from codecsep_mm.prompts.base import l2_normalize, register
from codecsep_mm.prompts.clap import ensure_hub_offline

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "openai"
MAX_PIXELS = 50_000_000


class OpenClipModel:
    """A loaded, frozen open_clip model with its image transform and tokenizer.

    Build with :func:`load_openclip`; ``image_encoder()`` / ``text_encoder()`` share it.
    """

    def __init__(
        self,
        model: Any,  # an open_clip CLIP model (encode_text / encode_image)
        preprocess: Any,
        tokenizer: Any,
        space: str,
        options: dict[str, Any],
        device: str = "cpu",
    ):
        self.model = model.eval().requires_grad_(False).to(device)
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.space = space
        self.options = options
        self.device = device
        self.embed_dim = _embed_dim(model)

    def image_encoder(
        self, max_pixels: int = MAX_PIXELS, batch_size: int = 32
    ) -> OpenClipImageEncoder:
        return OpenClipImageEncoder(self, max_pixels=max_pixels, batch_size=batch_size)

    def text_encoder(self, batch_size: int = 64) -> OpenClipTextEncoder:
        return OpenClipTextEncoder(self, batch_size=batch_size)


def _embed_dim(model: Any) -> int:
    projection = getattr(model, "text_projection", None)
    if isinstance(projection, torch.Tensor):
        return int(projection.shape[-1])
    visual = getattr(model, "visual", None)
    if visual is not None and getattr(visual, "output_dim", None):
        return int(visual.output_dim)
    with torch.no_grad():  # fall back to a probe through the text tower
        return int(model.encode_text(torch.zeros(1, 77, dtype=torch.long)).shape[-1])


def load_openclip(
    model: str = DEFAULT_MODEL,
    pretrained: str | None = DEFAULT_PRETRAINED,
    checkpoint: str | os.PathLike | None = None,
    space: str | None = None,
    device: str = "cpu",
    allow_network: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> OpenClipModel:
    """Load an open_clip model for prompting, offline.

    Args:
        model: an open_clip architecture name (``ViT-B-32``, or one added with
            ``open_clip.add_model_config``).
        pretrained: an open_clip pretrained tag (``openai``, ``laion2b_s34b_b79k``...), looked up
            in the Hugging Face cache; ignored when ``checkpoint`` is given.
        checkpoint: a local weights file (``.pt``/``.bin``/``.safetensors``) for ``model``; for
            OpenAI's weights name the ``-quickgelu`` architecture (e.g. ``ViT-B-32-quickgelu``).
        space: the embedding-space name; default ``openclip-<model>-<tag or checkpoint stem>``.
        device: where the model runs; embeddings are returned on the CPU.
        allow_network: let open_clip download a tag's weights from Hugging Face.
        cache_dir: where open_clip looks for (and downloads) tag weights.

    Raises:
        WeightsNotFoundError: the checkpoint file is missing, or the tag's weights are not cached.
        ConfigError: unknown architecture or tag, or weights that do not fit the architecture.
    """
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(
                f"open_clip checkpoint {path}: no such file; pass the weights file of '{model}'"
            )
        source, weights_name = str(path), path.stem
    elif pretrained:
        source, weights_name = pretrained, pretrained
    else:
        raise ConfigError("openclip needs weights: pass checkpoint=PATH or a pretrained tag")
    ensure_hub_offline(allow_network)
    import open_clip

    if model not in open_clip.list_models():
        raise ConfigError(
            f"unknown open_clip model '{model}'; e.g. {', '.join(open_clip.list_models()[:8])}, "
            "or register a config with open_clip.add_model_config"
        )
    quick_gelu = False
    if checkpoint is None:
        tags = open_clip.list_pretrained_tags_by_model(model)
        if pretrained not in tags:
            raise ConfigError(
                f"open_clip model '{model}' has no pretrained tag '{pretrained}'; known: "
                f"{', '.join(tags) or 'none'}; or pass checkpoint=PATH"
            )
        quick_gelu = bool(open_clip.get_pretrained_cfg(model, pretrained).get("quick_gelu", False))
    clip_model, preprocess = _create(
        open_clip, model, source, quick_gelu, cache_dir, checkpoint is None
    )
    try:
        tokenizer = open_clip.get_tokenizer(model)
    except Exception as error:  # HF tokenizers offline raise OSError, ValueError or others
        raise WeightsNotFoundError(
            f"the tokenizer of open_clip model '{model}' is not available offline ({error})"
        ) from None
    options: dict[str, Any] = {"model": model}
    options.update(
        {"checkpoint": str(checkpoint)} if checkpoint is not None else {"pretrained": pretrained}
    )
    if space is not None:
        options["space"] = space
    space = space or f"openclip-{model}-{weights_name}"
    return OpenClipModel(clip_model, preprocess, tokenizer, space, options, device)


def _create(
    open_clip: Any, model: str, source: str, quick_gelu: bool, cache_dir: Any, is_tag: bool
):
    try:
        clip_model, _, preprocess = open_clip.create_model_and_transforms(
            model,
            pretrained=source,
            force_quick_gelu=quick_gelu,
            weights_only=True,
            cache_dir=None if cache_dir is None else str(cache_dir),
        )
    except RuntimeError as error:
        text = str(error).splitlines()[0]
        if is_tag and "download" in text.lower():
            raise WeightsNotFoundError(
                f"open_clip weights '{model}' / '{source}' are not in the Hugging Face cache and "
                "this process is offline; fetch them where a network exists (allow_network=True) "
                "or pass checkpoint=PATH"
            ) from None
        raise ConfigError(f"cannot load open_clip '{model}' from {source}: {text}") from None
    except Exception as error:  # pickle / zip errors from torch.load
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(f"cannot read open_clip weights {source}: {first}") from None
    return clip_model, preprocess


# -- images ---------------------------------------------------------------------------------------
def load_image(image: Any, max_pixels: int = MAX_PIXELS) -> Any:
    """A path, PIL image or array -> an RGB PIL image, refusing absurd sizes before decoding.

    Arrays are ``(height, width)``, ``(height, width, 3|4)`` or channels-first ``(3|4, h, w)``;
    ``uint8``, or numbers in ``[0, 1]`` (or ``[0, 255]`` when any exceeds 1). Transparent pixels are
    put on white (a stamp or icon on no background shows its shape, not black).

    Raises:
        PromptError: missing or unreadable file, not an image, too large, empty or NaN array.
    """
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        return _open_image_file(Path(image), max_pixels)
    if isinstance(image, Image.Image):
        _check_size(image.size, max_pixels, "image")
        return _on_white(image)
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if isinstance(image, np.ndarray):
        return _array_to_image(image, max_pixels)
    raise PromptError(
        f"unsupported image prompt of type {type(image).__name__}; give a file path, a PIL image "
        "or an (height, width, 3) array"
    )


def _open_image_file(path: Path, max_pixels: int) -> Any:
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise PromptError(f"{path}: no such image file; check the path")
    try:
        handle = Image.open(path)  # reads the header only
    except UnidentifiedImageError:
        raise PromptError(
            f"{path}: not an image Pillow can read; give a PNG, JPEG or WebP"
        ) from None
    except Image.DecompressionBombError as error:
        raise PromptError(
            f"{path}: image too large to decode safely ({error}); resize it below "
            f"{max_pixels / 1e6:.0f} megapixels"
        ) from None
    except OSError as error:
        raise PromptError(f"{path}: cannot read the image ({error})") from None
    with handle:
        _check_size(handle.size, max_pixels, str(path))
        try:
            handle.load()
        except (OSError, SyntaxError, ValueError) as error:  # truncated or corrupt pixel data
            raise PromptError(f"{path}: cannot decode the image ({error}); re-export it") from None
        return _on_white(handle)


def _on_white(image: Any) -> Any:
    """An RGB copy of a PIL image, its transparent parts (RGBA, LA, a palette with transparency)
    composited onto white."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return image.convert("RGB")


def _check_size(size: tuple[int, int], max_pixels: int, name: str) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise PromptError(f"{name}: empty image ({width}x{height})")
    if width * height > max_pixels:
        raise PromptError(
            f"{name}: image is {width}x{height} ({width * height / 1e6:.0f} megapixels), more than "
            f"the {max_pixels / 1e6:.0f} megapixel limit; resize it first"
        )


def _array_to_image(array: np.ndarray, max_pixels: int) -> Any:
    from PIL import Image

    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise PromptError(f"image array of shape {array.shape}; expected (height, width[, 3 or 4])")
    _check_size((array.shape[1], array.shape[0]), max_pixels, "image array")
    if array.dtype != np.uint8:
        values = array.astype(np.float32)
        if not np.isfinite(values).all():
            raise PromptError("image array contains NaN or infinite values")
        scale = 255.0 if values.max() <= 1.0 else 1.0
        array = np.clip(values * scale, 0, 255).round().astype(np.uint8)
    return _on_white(Image.fromarray(np.ascontiguousarray(array)))


# -- encoders -------------------------------------------------------------------------------------
class OpenClipImageEncoder:
    """Images -> ``(b, embed_dim)`` CLIP image embeddings (paths, PIL images or arrays)."""

    name = "openclip-image"
    modality = "image"

    def __init__(self, clip: OpenClipModel, max_pixels: int = MAX_PIXELS, batch_size: int = 32):
        self.clip = clip
        self.space = clip.space
        self.embed_dim = clip.embed_dim
        self.max_pixels = max_pixels
        self.batch_size = batch_size
        self.options = dict(clip.options)
        if max_pixels != MAX_PIXELS:
            self.options["max_pixels"] = max_pixels

    @torch.no_grad()
    def encode(self, prompts: Sequence[Any]) -> torch.Tensor:
        images = [self.clip.preprocess(load_image(p, self.max_pixels)) for p in prompts]
        if not images:
            return torch.empty(0, self.embed_dim)
        rows = []
        for start in range(0, len(images), self.batch_size):
            batch = torch.stack(images[start : start + self.batch_size]).to(self.clip.device)
            rows.append(self.clip.model.encode_image(batch).float().cpu())
        return l2_normalize(torch.cat(rows))


class OpenClipTextEncoder:
    """Text -> ``(b, embed_dim)`` CLIP text embeddings, in the image encoder's space."""

    name = "openclip-text"
    modality = "text"

    def __init__(self, clip: OpenClipModel, batch_size: int = 64):
        self.clip = clip
        self.space = clip.space
        self.embed_dim = clip.embed_dim
        self.batch_size = batch_size
        self.options = dict(clip.options)

    @torch.no_grad()
    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        texts = list(prompts)
        for text in texts:
            if not isinstance(text, str) or not text.strip():
                raise PromptError("empty text prompt; describe the sound, e.g. 'a dog barking'")
        if not texts:
            return torch.empty(0, self.embed_dim)
        rows = []
        for start in range(0, len(texts), self.batch_size):
            tokens = self.clip.tokenizer(texts[start : start + self.batch_size]).to(
                self.clip.device
            )
            rows.append(self.clip.model.encode_text(tokens).float().cpu())
        return l2_normalize(torch.cat(rows))


# -- registry -------------------------------------------------------------------------------------
_IMAGE_ONLY = ("max_pixels", "batch_size")


@register("openclip-image")
def make_openclip_image(**options: Any) -> OpenClipImageEncoder:
    """``openclip-image``; options as :func:`load_openclip`, and ``max_pixels``, ``batch_size``."""
    image_options = {k: options.pop(k) for k in _IMAGE_ONLY if k in options}
    return load_openclip(**options).image_encoder(**image_options)


@register("openclip-text")
def make_openclip_text(**options: Any) -> OpenClipTextEncoder:
    """``openclip-text``; options as :func:`load_openclip`, plus ``batch_size``."""
    text_options = {k: options.pop(k) for k in ("batch_size",) if k in options}
    return load_openclip(**options).text_encoder(**text_options)
