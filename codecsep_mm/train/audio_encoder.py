"""``codecsep-mm train-audio-encoder``: teach a small audio encoder the text encoder's space (LiT).

The text tower is locked (MiniLM by default, frozen and cached); only the audio tower
(:class:`~codecsep_mm.prompts.starter_audio.AudioEmbedder`) learns. Each item is a crop of one
recording and a description of it (class word, label or caption). The loss is a symmetric
contrastive loss in which every pair with the same description counts as a positive (a batch often
holds several "speech" clips). The result, ``OUT_DIR/best/``, is a ``starter-audio`` encoder folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from codecsep_mm.data.manifest import CLASS_WORDS, CLASSES
from codecsep_mm.errors import ConfigError
from codecsep_mm.prompts.starter_audio import (
    AudioEmbedder,
    AudioEmbedderConfig,
    save_audio_embedder,
)
from codecsep_mm.train.config import OptimSpec, RunSpec, YamlConfig, check_data_and_steps
from codecsep_mm.train.trainer import TrainingLoop


@dataclass(frozen=True)
class ClipDataSpec:
    """Clips and their descriptions: a source manifest (or synthetic sources)."""

    manifest: str | None = None
    synthetic: bool = False
    clip_seconds: float = 3.0
    prompt_fields: dict[str, float] = field(
        default_factory=lambda: {"class": 1.0, "label": 2.0, "caption": 2.0})
    valid_items: int = 128
    num_workers: int = 0

    def __post_init__(self) -> None:
        if not 0.5 <= self.clip_seconds <= 60.0:
            raise ConfigError(f"data.clip_seconds is {self.clip_seconds}; give 0.5 to 60 seconds")


@dataclass(frozen=True)
class ContrastiveSpec:
    temperature: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 < self.temperature <= 10.0:
            raise ConfigError(f"loss.temperature is {self.temperature}; give a softmax temperature above 0 "
                              "(e.g. 0.05)")


@dataclass(frozen=True)
class AudioEncoderTrainConfig(YamlConfig):
    """Sections ``model`` (the audio tower), ``text_encoder`` (locked), ``data``, ``optim``,
    ``loss``, ``run``."""

    model: AudioEmbedderConfig = field(default_factory=AudioEmbedderConfig)
    text_encoder: dict[str, Any] = field(default_factory=lambda: {"name": "minilm-text", "options": {}})
    data: ClipDataSpec = field(default_factory=ClipDataSpec)
    optim: OptimSpec = field(default_factory=lambda: OptimSpec(lr=1e-3))
    loss: ContrastiveSpec = field(default_factory=ContrastiveSpec)
    run: RunSpec = field(default_factory=RunSpec)

    def __post_init__(self) -> None:
        check_data_and_steps(self.data, self.run)


class ClipDataset:
    """``dataset[i]``: a crop of a random recording (class drawn uniformly) and a description of
    it; deterministic in ``(seed, i)``."""

    def __init__(self, banks: dict[str, Any], spec: ClipDataSpec, sample_rate: int, seed: int):
        self.banks, self.spec, self.sample_rate, self.seed = banks, spec, sample_rate, seed

    def __len__(self) -> int:
        return 10**9

    def __getitem__(self, index: int) -> tuple[np.ndarray, str, str]:
        from codecsep_mm.data.mixing import audible_crop, describe
        from codecsep_mm.prompts.starter_audio import peak_normalize

        rng = np.random.default_rng([self.seed, int(index)])
        cls = list(self.banks)[int(rng.integers(len(self.banks)))]
        bank = self.banks[cls]
        record = int(rng.integers(len(bank)))
        clip = audible_crop(bank, record, int(self.spec.clip_seconds * self.sample_rate), rng)
        text = describe(bank.records[record], self.spec.prompt_fields, {}, rng)
        return peak_normalize(clip), text, cls


class AudioEncoderTrainer(TrainingLoop):
    """Contrastive training of the audio tower against the locked text tower."""

    weights_file = "audio_encoder.safetensors"
    fixed_sections = ("model", "text_encoder", "data", "optim", "loss")

    def build(self) -> torch.nn.Module:
        from codecsep_mm import prompts
        from codecsep_mm.errors import ConfigError
        from codecsep_mm.prompts.cache import CachedEncoder

        spec = self.config.text_encoder
        self.text = CachedEncoder(prompts.create(spec["name"], **spec.get("options", {})), max_items=100_000)
        model = self.config.model
        if (self.text.space, self.text.embed_dim) != (model.space, model.embed_dim):
            raise ConfigError(f"model.space/embed_dim ({model.space}, {model.embed_dim}) must match the "
                              f"text encoder ({self.text.space}, {self.text.embed_dim})")
        torch.manual_seed(self.config.run.seed)
        return AudioEmbedder(model)

    def datasets(self):
        from codecsep_mm.data.manifest import read_sources
        from codecsep_mm.data.mixing import SourceBank
        from codecsep_mm.data.synthetic import synthetic_banks

        data, rate, seed = self.config.data, self.config.model.sample_rate, self.config.run.seed
        if data.synthetic:
            banks = synthetic_banks(CLASSES, rate)
            return ClipDataset(banks, data, rate, seed), ClipDataset(banks, data, rate, seed + 1)
        records = read_sources(data.manifest)

        def banks(split):
            return {c: SourceBank(c, [r for r in records if r.cls == c and r.split == split], rate)
                    for c in CLASSES}

        return ClipDataset(banks("train"), data, rate, seed), ClipDataset(banks("valid"), data, rate, seed + 1)

    def collate(self, items) -> dict[str, Any]:
        return {"audio": torch.from_numpy(np.stack([i[0] for i in items])).float(),
                "texts": [i[1] for i in items], "classes": [i[2] for i in items]}

    def item_seconds(self) -> float:
        return self.config.data.clip_seconds

    def save_best(self) -> None:
        save_audio_embedder(self.module, self.out_dir / "best")  # type: ignore[arg-type]

    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        audio = self.model(batch["audio"].to(self.device))
        text = self.text.encode(batch["texts"]).to(self.device)
        logits = audio @ text.T / self.config.loss.temperature
        same = torch.tensor([[a == b for b in batch["texts"]] for a in batch["texts"]], device=self.device)
        return 0.5 * (_multi_positive_nce(logits, same) + _multi_positive_nce(logits.T, same))

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Contrastive loss, and how often a clip is nearest to its own class word's embedding."""
        if self.valid_set is None or not self.config.data.valid_items:
            return {}
        self.model.eval()
        n_items, size = self.config.data.valid_items, self.config.run.batch_size
        words = self.text.encode([CLASS_WORDS[c] for c in CLASSES]).to(self.device)
        loss, correct = 0.0, 0
        for start in range(0, n_items, size):
            batch = self.collate([self.valid_set[i] for i in range(start, min(n_items, start + size))])
            loss += float(self.loss(batch)) * len(batch["texts"])
            nearest = (self.module(batch["audio"].to(self.device)) @ words.T).argmax(-1).tolist()
            correct += sum(CLASSES[k] == c for k, c in zip(nearest, batch["classes"]))
        return {"valid/loss": loss / n_items, "valid/class_accuracy": correct / n_items}


def _multi_positive_nce(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """``-log`` of the softmax mass on the positives of each row. Shapes: ``(b, b)`` -> scalar."""
    log_probs = logits.log_softmax(dim=-1)
    return -torch.logsumexp(log_probs.masked_fill(~positives, float("-inf")), dim=-1).mean()
