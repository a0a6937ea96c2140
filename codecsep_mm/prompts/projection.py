"""Projections from a prompt encoder's space into the masker's conditioning space.

- :class:`IdentityProjection`: the encoder already embeds into the masker's space (e.g. CLAP audio
  into a CLAP-text-trained masker).
- :class:`LinearProjection`: fitted by ridge least squares on paired embeddings, or bridged through
  text (:func:`fit_text_bridge`: fit CLIP-text -> CLAP-text on captions, apply to CLIP images).
- :class:`LabelBridge`: training-free; scores the input against a label vocabulary in the source
  space and returns the softmax-weighted target-space embeddings of the top labels.

Every projection maps ``(b, d_in)`` -> ``(b, d_out)`` and L2-normalises its output.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from codecsep_mm.errors import ConfigError, OutputPathError
from codecsep_mm.prompts.base import l2_normalize

LINEAR_FILE = "projection.safetensors"
BRIDGE_FILE = "label_bridge.safetensors"


@runtime_checkable
class Projection(Protocol):
    source_space: str
    target_space: str

    def __call__(self, embedding: torch.Tensor) -> torch.Tensor: ...


class IdentityProjection:
    """Leaves embeddings as they are; source and target space are the same."""

    def __init__(self, space: str):
        self.source_space = self.target_space = space

    def __call__(self, embedding: torch.Tensor) -> torch.Tensor:
        return l2_normalize(embedding)


class LinearProjection:
    """``y = normalize(x W + b)``, fitted by ridge regression.

    Example:
        >>> x, y = torch.randn(50, 8), torch.randn(50, 4)
        >>> LinearProjection.fit(x, y, "a", "b")(x).shape
        torch.Size([50, 4])
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, source_space: str, target_space: str):
        self.weight, self.bias = weight.float(), bias.float()
        self.source_space, self.target_space = source_space, target_space

    @property
    def in_dim(self) -> int:
        return self.weight.shape[0]

    @property
    def out_dim(self) -> int:
        return self.weight.shape[1]

    @classmethod
    def fit(
        cls, source: torch.Tensor, target: torch.Tensor, source_space: str, target_space: str,
        ridge: float = 1e-2,
    ) -> LinearProjection:
        """Least squares with an L2 penalty on paired rows ``source (n, d_in)``, ``target (n, d_out)``."""
        if source.ndim != 2 or target.ndim != 2:
            raise ConfigError(f"paired embeddings must be 2-D (rows, dims), got shapes {tuple(source.shape)} "
                              f"and {tuple(target.shape)}")
        if not 0.0 <= ridge < math.inf:
            raise ConfigError(f"ridge is {ridge}; give a penalty >= 0 (default 0.01)")
        if not (torch.isfinite(source).all() and torch.isfinite(target).all()):
            raise ConfigError("paired embeddings contain NaN or infinite values; embed them again")
        if source.shape[0] != target.shape[0] or source.shape[0] < 2:
            raise ConfigError(
                f"need the same number (>= 2) of paired embeddings, got {source.shape[0]} and "
                f"{target.shape[0]}"
            )
        x, y = source.double(), target.double()
        x_mean, y_mean = x.mean(0), y.mean(0)
        xc = x - x_mean
        gram = xc.T @ xc + ridge * torch.eye(x.shape[1], dtype=x.dtype)
        weight = torch.linalg.solve(gram, xc.T @ (y - y_mean))
        bias = y_mean - x_mean @ weight
        return cls(weight.float(), bias.float(), source_space, target_space)

    def __call__(self, embedding: torch.Tensor) -> torch.Tensor:
        if embedding.shape[-1] != self.in_dim:
            raise ConfigError(
                f"projection {self.source_space} -> {self.target_space} takes {self.in_dim}-d "
                f"embeddings, got {embedding.shape[-1]}-d; fit one for this encoder"
            )
        return l2_normalize(embedding.float() @ self.weight + self.bias)

    def save(self, directory: str | os.PathLike) -> Path:
        config = {"type": "linear", "source_space": self.source_space, "target_space": self.target_space,
                  "in_dim": self.in_dim, "out_dim": self.out_dim}
        return _save(directory, config, {"weight": self.weight, "bias": self.bias}, LINEAR_FILE)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> LinearProjection:
        config, tensors = _load(directory, "linear", LINEAR_FILE, {"weight", "bias"},
                                {"type", "source_space", "target_space", "in_dim", "out_dim"})
        projection = cls(tensors["weight"], tensors["bias"], config["source_space"], config["target_space"])
        if (projection.in_dim, projection.out_dim) != (config["in_dim"], config["out_dim"]):
            raise ConfigError(f"{directory}: weight shape does not match config.json")
        return projection


def fit_text_bridge(source_text, target_text, captions: Sequence[str], ridge: float = 1e-2) -> LinearProjection:
    """Fit ``source_text.space -> target_text.space`` on captions embedded by both text encoders.

    Apply the result to any encoder of the source space (e.g. CLIP *image* embeddings, which share
    CLIP text's space) to reach the target space (e.g. CLAP text) without paired images and sounds.
    """
    captions = list(captions)
    if len(captions) < 2:
        raise ConfigError(f"a text bridge is fitted on at least 2 captions, got {len(captions)}; give "
                          "one caption per line (hundreds fit better)")
    return LinearProjection.fit(
        source_text.encode(captions), target_text.encode(captions), source_text.space, target_text.space, ridge
    )


class LabelBridge:
    """Training-free bridge through a label vocabulary.

    Args:
        labels: the vocabulary (e.g. AudioSet class names).
        source_label_embeddings: ``(n_labels, d_in)``, the labels embedded in the source space
            (e.g. by CLIP's text tower for CLIP images).
        target_label_embeddings: ``(n_labels, d_out)``, the labels in the masker's space.
        temperature: softmax temperature on cosine scores.
        top_k: keep only the ``top_k`` best-scoring labels.
        descriptions: the texts ``target_label_embeddings`` embed when they are not the labels
            themselves (e.g. a gloss per class); stored with the bridge so that it can be rebuilt
            for another text space.
    """

    def __init__(
        self, labels: Sequence[str], source_label_embeddings: torch.Tensor, target_label_embeddings: torch.Tensor,
        source_space: str, target_space: str, temperature: float = 0.05, top_k: int = 5,
        descriptions: Sequence[str] | None = None,
    ):
        if descriptions is not None and len(descriptions) != len(labels):
            raise ConfigError(f"label-bridge: {len(descriptions)} descriptions for {len(labels)} labels")
        if len(labels) != source_label_embeddings.shape[0] or len(labels) != target_label_embeddings.shape[0]:
            raise ConfigError("label-bridge: labels and label embeddings must have the same length")
        self.labels = list(labels)
        self.source = l2_normalize(source_label_embeddings)
        self.target = l2_normalize(target_label_embeddings)
        self.source_space, self.target_space = source_space, target_space
        self.temperature, self.top_k = temperature, max(1, min(top_k, len(self.labels)))
        self.descriptions = list(descriptions) if descriptions is not None else None

    @classmethod
    def for_classifier(cls, class_names: Sequence[str], target_text, source_space: str,
                       descriptions: Sequence[str] | None = None, **options) -> LabelBridge:
        """A bridge from a classifier's class probabilities (its "embedding" is the probability
        vector over ``class_names``) to ``target_text``'s embeddings of the class names, or of
        ``descriptions`` (one per class, e.g. a dictionary gloss) when given; the names stay the
        labels shown."""
        names = list(class_names)
        texts = names if descriptions is None else list(descriptions)
        return cls(names, torch.eye(len(names)), target_text.encode(texts), source_space,
                   target_text.space, descriptions=texts if descriptions is not None else None,
                   **options)

    @classmethod
    def from_encoders(cls, labels: Sequence[str], source_text, target_text, **options) -> LabelBridge:
        labels = list(labels)
        return cls(labels, source_text.encode(labels), target_text.encode(labels),
                   source_text.space, target_text.space, **options)

    def scores(self, embedding: torch.Tensor) -> torch.Tensor:
        """Softmax weights over the vocabulary, zero outside the top k. Shape ``(b, n_labels)``."""
        if embedding.shape[-1] != self.source.shape[-1]:
            raise ConfigError(
                f"label-bridge from {self.source_space} takes {self.source.shape[-1]}-d embeddings, "
                f"got {embedding.shape[-1]}-d"
            )
        logits = l2_normalize(embedding) @ self.source.T / self.temperature
        top = logits.topk(self.top_k, dim=-1)
        weights = torch.zeros_like(logits)
        return weights.scatter(-1, top.indices, top.values.softmax(-1))

    def top_labels(self, embedding: torch.Tensor) -> list[list[tuple[str, float]]]:
        """The labels the bridge chose for each input, with their weights (for display)."""
        scores = self.scores(embedding)
        return [[(self.labels[i], float(row[i])) for i in row.argsort(descending=True)[: self.top_k]] for row in scores]

    def __call__(self, embedding: torch.Tensor) -> torch.Tensor:
        return l2_normalize(self.scores(embedding) @ self.target)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the folder; a classifier bridge's identity source matrix is stored as a word."""
        config = {"type": "label-bridge", "source_space": self.source_space,
                  "target_space": self.target_space, "temperature": self.temperature,
                  "top_k": self.top_k, "labels": self.labels}
        if self.descriptions is not None:
            config["descriptions"] = self.descriptions
        tensors = {"target": self.target}
        n = len(self.labels)
        if self.source.shape == (n, n) and torch.equal(self.source, torch.eye(n, dtype=self.source.dtype)):
            config["source"] = "identity"
        else:
            tensors["source"] = self.source
        return _save(directory, config, tensors, BRIDGE_FILE)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> LabelBridge:
        config, tensors = _load(directory, "label-bridge", BRIDGE_FILE, {"target"},
                                {"type", "source_space", "target_space", "temperature", "top_k", "labels",
                                 "source", "descriptions"}, optional=frozenset({"source"}))
        if ("source" in tensors) == (config.get("source") == "identity"):
            raise ConfigError(f"{directory}: a label-bridge needs either a source tensor or "
                              '"source": "identity" in its config.json')
        source = tensors["source"] if "source" in tensors else torch.eye(len(config["labels"]))
        return cls(config["labels"], source, tensors["target"], config["source_space"],
                   config["target_space"], config["temperature"], config["top_k"],
                   config.get("descriptions"))


def _save(directory: str | os.PathLike, config: dict, tensors: dict[str, torch.Tensor], filename: str) -> Path:
    """A projection folder: ``config.json`` plus its tensors in ``filename`` (safetensors)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    _check_not_foreign(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(directory / filename))
    (directory / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    return directory


def _check_not_foreign(directory: Path) -> None:
    """A projection is written only where its ``config.json`` overwrites nothing but an earlier
    projection's (a model folder's own would be lost)."""
    existing = directory / "config.json"
    if not existing.is_file():
        return
    try:
        kind = json.loads(existing.read_text()).get("type")
    except (ValueError, AttributeError):
        kind = None
    if kind not in ("linear", "label-bridge"):
        raise OutputPathError(f"{directory}: holds a config.json that is not a projection's (a model "
                              "folder?); save the projection into a new or empty folder")


def _load(directory: str | os.PathLike, kind: str, filename: str, tensor_names: set[str],
          keys: set[str], optional: frozenset[str] = frozenset()) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read and check a folder written by :func:`_save` (``optional`` tensors may be absent)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    try:
        config = json.loads((directory / "config.json").read_text())
        tensors = load_file(str(directory / filename))
    except (OSError, ValueError, SafetensorError) as error:
        raise ConfigError(f"{directory}: not a saved {kind} projection ({error})") from None
    if set(config) - keys or config.get("type") != kind or not tensor_names <= set(tensors) <= tensor_names | optional:
        raise ConfigError(f"{directory}: unexpected {kind} projection contents; valid keys: {sorted(keys)}")
    return config, tensors


def load_projection(directory: str | os.PathLike):
    """A projection saved by ``save`` (linear or label-bridge), by the type in its config.json."""
    directory = Path(directory)
    try:
        kind = json.loads((directory / "config.json").read_text()).get("type")
    except (OSError, ValueError) as error:
        raise ConfigError(f"{directory}: not a saved projection ({error})") from None
    loaders = {"linear": LinearProjection.load, "label-bridge": LabelBridge.load}
    if kind not in loaders:
        raise ConfigError(f"{directory}: unknown projection type {kind!r}; valid: {sorted(loaders)}")
    return loaders[kind](directory)


def sound_event_vocabulary() -> list[str]:
    """The shipped sound-event vocabulary for label bridges (AudioSet ontology class names)."""
    path = Path(__file__).with_name("audioset_labels.txt")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]
