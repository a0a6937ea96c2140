"""``starter-audio``: a small audio encoder trained to land in a text encoder's space (LiT-style).

No pretrained audio-text model ships on PyPI, so the embedded default model brings its own audio-query
encoder: a log-mel CNN whose embeddings are trained contrastively against the *locked* MiniLM text
embeddings of the corpus's captions (``codecsep-mm train-audio-encoder``). Its space is the text
encoder's, so an audio example prompts a text-trained masker directly (identity projection).

A saved encoder is a folder: ``audio_encoder.json`` (architecture and space) and
``audio_encoder.safetensors``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import rearrange
from torch import nn

from codecsep_mm.config import from_dict
from codecsep_mm.errors import ConfigError, PromptError, WeightsNotFoundError
from codecsep_mm.prompts.base import l2_normalize, register

CONFIG_FILE = "audio_encoder.json"
WEIGHTS_FILE = "audio_encoder.safetensors"
PEAK_EPSILON = 1e-6  # keeps a silent window finite


@dataclass(frozen=True)
class AudioEmbedderConfig:
    """Architecture of :class:`AudioEmbedder`: log-mel front end, CNN, attention pooling."""

    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 160
    n_mels: int = 64
    channels: tuple[int, ...] = (32, 64, 128, 256)
    embed_dim: int = 384
    space: str = "minilm-l6-v2"
    window_seconds: float = 4.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AudioEmbedderConfig:
        return from_dict(cls, data, "audio encoder config")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["channels"] = list(self.channels)
        return data


class AudioEmbedder(nn.Module):
    """``wav (b, samples)`` at ``sample_rate`` -> ``(b, embed_dim)``, L2-normalised."""

    mel: torch.Tensor  # buffers
    window: torch.Tensor

    def __init__(self, config: AudioEmbedderConfig):
        super().__init__()
        import librosa

        self.config = config
        mel = librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels)
        self.register_buffer("mel", torch.from_numpy(mel).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)
        blocks, channels_in = [], 1
        for channels in config.channels:
            blocks += [nn.Conv2d(channels_in, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.GELU(),
                       nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.GELU(),
                       nn.MaxPool2d((2, 2))]
            channels_in = channels
        self.cnn = nn.Sequential(*blocks)
        self.attention = nn.Linear(channels_in, 1)
        self.project = nn.Sequential(nn.Linear(2 * channels_in, channels_in), nn.GELU(),
                                     nn.Linear(channels_in, config.embed_dim))

    def log_mel(self, wav: torch.Tensor) -> torch.Tensor:
        """``(b, samples)`` -> ``(b, 1, n_mels, frames)``."""
        spec = torch.stft(wav, self.config.n_fft, self.config.hop_length, window=self.window,
                          return_complex=True).abs() ** 2
        return torch.log(self.mel @ spec + 1e-6)[:, None]

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        x = self.cnn(self.log_mel(wav))  # (b, c, mels', frames')
        x = rearrange(x.mean(dim=2), "b c t -> b t c")
        weights = self.attention(x).softmax(dim=1)
        pooled = torch.cat([(weights * x).sum(dim=1), x.amax(dim=1)], dim=-1)
        return l2_normalize(self.project(pooled))


class StarterAudioEncoder:
    """The prompt-encoder face of a trained :class:`AudioEmbedder` (a saved folder).

    Clips may be paths, ``(samples, sample_rate)`` pairs or arrays at the encoder's rate. Clips
    longer than ``window_seconds`` are embedded in windows and mean-pooled.
    """

    modality = "audio"

    def __init__(self, weights: str | os.PathLike, device: str = "cpu"):
        from codecsep_mm.models import read_json, read_weights, state_dict_mismatch

        folder = Path(weights)
        if not (folder / CONFIG_FILE).is_file() or not (folder / WEIGHTS_FILE).is_file():
            raise WeightsNotFoundError(f"{folder}: no trained audio encoder ({CONFIG_FILE} + {WEIGHTS_FILE})")
        self.config = AudioEmbedderConfig.from_dict(read_json(folder / CONFIG_FILE))
        self.model = AudioEmbedder(self.config)
        try:
            self.model.load_state_dict(read_weights(folder / WEIGHTS_FILE), strict=True)
        except RuntimeError as error:
            raise ConfigError(f"{folder}: weights do not fit {CONFIG_FILE}: {state_dict_mismatch(error)}") from None
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        self.name = "starter-audio"
        self.space = self.config.space
        self.embed_dim = self.config.embed_dim
        self.options: dict[str, Any] = {"weights": str(folder)}

    def to_device(self, device: str | torch.device) -> StarterAudioEncoder:
        """Run the audio tower on ``device`` (embeddings still come back on the CPU)."""
        self.device = torch.device(device)
        self.model.to(self.device)
        return self

    @torch.no_grad()
    def encode(self, clips: Sequence[Any]) -> torch.Tensor:
        rows = [self.embedding(clip).cpu() for clip in clips]
        return torch.stack(rows) if rows else torch.empty(0, self.embed_dim)

    def embedding(self, clip: Any) -> torch.Tensor:
        """One clip -> its ``(embed_dim,)`` embedding on the encoder's device, with gradients
        (``encode`` is this without them; ``model.learn: audio-encoder`` trains through it)."""
        return self._embed(self._load(clip))

    def _embed(self, wav: np.ndarray) -> torch.Tensor:
        """One clip -> one embedding: windows of ``window_seconds`` (the last one zero-padded),
        each scaled to a peak of 1 as the training clips were (``train.audio_encoder``), embedded
        and mean-pooled."""
        size = int(self.config.window_seconds * self.config.sample_rate)
        shortest = 2 ** len(self.config.channels) * self.config.hop_length
        if len(wav) <= size:
            windows = [np.pad(wav, (0, max(0, shortest - len(wav))))]
        else:
            windows = [wav[s:s + size] for s in range(0, len(wav), size) if len(wav) - s >= size // 2]
            windows = [np.pad(w, (0, size - len(w))) for w in windows]
        windows = [peak_normalize(w) for w in windows]
        batch = torch.from_numpy(np.stack(windows)).float().to(self.device)
        return l2_normalize(self.model(batch).mean(0))

    def _load(self, clip: Any) -> np.ndarray:
        from codecsep_mm.audio import (
            as_channels_first,
            check_sample_rate,
            check_waveform,
            load_audio,
            resample,
        )

        name = "audio query"
        if isinstance(clip, (str, os.PathLike)):
            wav, rate = load_audio(clip)
            name = str(clip)
        elif isinstance(clip, tuple) and len(clip) == 2:
            wav = as_channels_first(clip[0], "audio query")
            rate = self.config.sample_rate if clip[1] is None else check_sample_rate(clip[1], "audio query")
        else:
            wav, rate = as_channels_first(clip, "audio query"), self.config.sample_rate
        check_waveform(wav, name=name)
        mono = resample(wav, rate, self.config.sample_rate).mean(axis=0)
        if len(mono) < self.config.n_fft:
            shortest = self.config.n_fft / self.config.sample_rate
            raise PromptError(f"{name}: only {wav.shape[-1] / rate:.3f} s long; an audio query needs at "
                              f"least {shortest:.3f} s of the sound")
        return mono.astype(np.float32)


def peak_normalize(clip: np.ndarray) -> np.ndarray:
    """``clip`` scaled to a peak of 1 (the level every training clip of the audio tower has)."""
    return clip / (np.abs(clip).max() + PEAK_EPSILON)


def save_audio_embedder(model: AudioEmbedder, folder: str | os.PathLike) -> Path:
    """Write ``audio_encoder.json`` + ``audio_encoder.safetensors`` into ``folder``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE))
    (folder / CONFIG_FILE).write_text(json.dumps(model.config.to_dict(), indent=2) + "\n")
    return folder


@register("starter-audio")
def make_starter_audio(**options: Any) -> StarterAudioEncoder:
    if "weights" not in options:
        raise PromptError("starter-audio needs weights=FOLDER (a trained audio encoder)")
    return StarterAudioEncoder(**options)
