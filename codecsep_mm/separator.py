"""The Separator: a frozen codec, a prompt encoder and a FiLM masker, in wave and code-stream modes.

Axes: ``n`` prompts (stems), ``b`` signals (mixtures x channels, folded), ``d`` latent dim,
``t`` latent frames, ``s`` samples, ``q`` codebooks.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import rearrange, repeat
from torch import nn

from codecsep_mm.audio import (
    audio_array,
    check_sample_rate,
    check_waveform,
    load_audio,
    loudness_lufs,
    loudness_profile,
    profile_loudness,
    resample,
)
from codecsep_mm.codecs import CodeStream
from codecsep_mm.config import from_dict
from codecsep_mm.errors import AudioInputError, ConfigError, PromptError, is_number
from codecsep_mm.masker import FiLMTransformerMasker
from codecsep_mm.streaming import OverlapAdd, fade_weights, plan_windows, release_memory

NORMALIZED_DB = -16.0  # the loudness descript-audio-codec's compress() normalises to
SILENT_DB = -70.0  # the input_db a stream records for silence (descript-audio-codec's floor too)
PROFILE_KEY = "loudness_profile"  # a stream's K-weighted energy per latent frame (see _stream_gain)
OFFSET_KEY = "offset"  # a stream's DC offset per channel, taken out before encoding (see encode_codes)
INPUT_GAIN_LIMIT_DB = 30.0  # the most ``input_lufs`` raises a window (and code-stream mode a stem)
MASK_POWER_RANGE = (0.1, 4.0)  # the powers ``mask_power`` may take


def limited_gain(gain_db: float) -> float:
    """The linear gain of ``gain_db``, raising by at most ``INPUT_GAIN_LIMIT_DB`` (so that near-silence
    is not blown up into noise) and lowering as far as it asks (so that samples in the wrong units,
    e.g. int16 values as floats, are separated like the same audio at full scale)."""
    return float(10 ** (min(max(gain_db, -300.0), INPUT_GAIN_LIMIT_DB) / 20))


def check_chunk_seconds(value: Any) -> float | None:
    """``value`` if it is a chunk length: ``None`` (the whole input at once) or a finite number of
    seconds above 0; else a one-line :class:`ConfigError`."""
    if value is None:
        return None
    if not is_number(value) or not 0.0 < value < math.inf:
        raise ConfigError(f"chunk_seconds is {value!r}; give a number of seconds above 0, or None "
                          "for the whole input at once")
    return float(value)


@dataclass(frozen=True)
class SeparationSettings:
    """How a separator runs: how long inputs are cut into chunks (seconds of audio), and the mask floor.

    Attributes:
        chunk_seconds: core length of a chunk; ``None`` processes the whole input at once.
        overlap_seconds: cross-fade length between neighbouring chunks (at most half a chunk).
        context_seconds: audio processed on each side of a chunk and then dropped, so the codec
            and masker see past the chunk's edges.
        mask_floor: every mask is lifted to at least this value (``floor + (1 - floor) * mask``),
            so a stem keeps a faint copy of the mixture: where the masker does not recognise a
            source and masks it out, the estimate is a quiet mixture instead of near-silence.
            0 (the default) is the masker's own mask; a model stores the value it was tuned with.
        mask_power: every mask is raised to this power before the floor (``sign(m) |m| ** p``):
            below 1 a stem keeps more of what the masker is unsure of (0.5 turns a mask of 0.25
            into 0.5 and leaves 1 and 0 as they are), above 1 it keeps less. 1 (the default) is the
            masker's own mask; a model stores the value it was tuned with.
        input_lufs: the loudness (LUFS, ITU-R BS.1770) each window is separated at: in wave mode
            the window is scaled by the gain that brings it there (raised by at most
            ``INPUT_GAIN_LIMIT_DB``, lowered as far as needed; none for silence) before the codec encodes it, and its stems are scaled
            back, so they keep the input's level. A masker trained on mixtures of one loudness
            separates worse at others (and a codec may be less exact far from its training level);
            a model stores the loudness of its training mixtures. ``None`` (the default): the
            input as it is. A stereo input's channels share one gain. In code-stream mode the
            codes are already made, so the masker reads the latent times the window's gain,
            measured from the loudness profile ``encode_codes`` records in the stream (a stream
            without one, e.g. from descript-audio-codec: from the whole input's loudness).
        remove_offset: take each channel's mean (a DC offset, which is no sound but which the
            codec and masker hear as one) out of the mixture before it is encoded, and add it to
            the residual and to the stems of negative queries (in code-stream mode the stream
            records it, see ``encode_codes``).
            ``True`` (the default); ``False`` encodes the input as it is.
    """

    chunk_seconds: float | None = 10.0
    overlap_seconds: float = 0.5
    context_seconds: float = 0.5
    mask_floor: float = 0.0
    input_lufs: float | None = None
    mask_power: float = 1.0
    remove_offset: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.remove_offset, bool):
            raise ConfigError(f"remove_offset is {self.remove_offset!r}; it must be true or false")
        check_chunk_seconds(self.chunk_seconds)
        for name in ("overlap_seconds", "context_seconds"):
            if not 0.0 <= getattr(self, name) < math.inf:
                raise ConfigError(f"{name} is {getattr(self, name)}; it must be a number of seconds >= 0")
        if not 0.0 <= self.mask_floor < 1.0:
            raise ConfigError(f"mask_floor is {self.mask_floor}; it must be at least 0 and below 1 (0: off)")
        if not MASK_POWER_RANGE[0] <= self.mask_power <= MASK_POWER_RANGE[1]:
            raise ConfigError(f"mask_power is {self.mask_power}; it must be from {MASK_POWER_RANGE[0]} to "
                              f"{MASK_POWER_RANGE[1]} (1: the masks as they are)")
        if self.input_lufs is not None and not -70.0 <= self.input_lufs <= 0.0:
            raise ConfigError(f"input_lufs is {self.input_lufs}; it must be between -70 and 0 LUFS, or null (off)")

    def input_gain(self, loudness: float) -> float:
        """The linear gain that brings audio of ``loudness`` LUFS to ``input_lufs`` (1 when off or
        when the audio is silent)."""
        if self.input_lufs is None or not math.isfinite(loudness):
            return 1.0
        return limited_gain(self.input_lufs - loudness)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeparationSettings:
        return from_dict(cls, data, "separation settings")

    def with_window(self, window_seconds: float) -> SeparationSettings:
        """These settings with windows (a chunk and its context on both sides) of ``window_seconds``:
        the length a masker was trained on. A Transformer masker trained on short crops does worse
        on longer windows (positions it never saw), so a trained model keeps its crop length.
        Context and overlap stay, shortened where the window is too short for them."""
        context = min(self.context_seconds, window_seconds / 4)
        chunk = window_seconds - 2 * context
        return replace(self, chunk_seconds=chunk, overlap_seconds=min(self.overlap_seconds, chunk / 2),
                       context_seconds=context)


def usable_device(device: str | torch.device, what: str = "device") -> torch.device:
    """``device`` as a ``torch.device`` this machine has; a clear error (naming ``what``) otherwise."""
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"{what} {device!r} is not a device; use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{what} is {device} but no GPU is visible; use cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"{what} is {device} but this machine has {torch.cuda.device_count()} GPU(s); "
                              f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{what} is mps but this machine has no Apple GPU; use cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"{what} is {device}, which codecsep-mm does not run on; use cpu, cuda or mps")
    return device


def unique_labels(labels: Sequence[str], reserved: Sequence[str] = (), form: str = "{} ({})") -> list[str]:
    """Labels made distinct, in order: the second ``"dog"`` becomes ``"dog (2)"`` (``form`` filled
    with the label and a count); a label in ``reserved`` is renamed the same way. The CLI names its
    files and folders with it too (``form="{}-{}"``).

    >>> unique_labels(["dog", "dog", "residual"], reserved=["residual"])
    ['dog', 'dog (2)', 'residual (2)']
    """
    taken = set(reserved)
    out: list[str] = []
    for label in labels:
        name, n = label, 2
        while name in taken:
            name, n = form.format(label, n), n + 1
        taken.add(name)
        out.append(name)
    return out


@dataclass
class SeparationResult:
    """Stems for one call: one per prompt, plus the residual on request.

    Attributes:
        stems: ``(n_prompts, *mixture_shape)`` float32 at ``sample_rate``.
        labels: one label per prompt.
        sample_rate: the sample rate of the input mixture.
        residual: everything the prompts did not take, shaped like the mixture, or ``None``.
    """

    stems: np.ndarray
    labels: list[str]
    sample_rate: int
    residual: np.ndarray | None = None

    def __getitem__(self, key: int | str) -> np.ndarray:
        if isinstance(key, str):
            if key == "residual" and self.residual is not None:
                return self.residual
            if key not in self.labels:
                names = self.labels + (["residual"] if self.residual is not None else [])
                raise KeyError(f"no stem {key!r}; this result has {', '.join(map(repr, names))}")
            key = self.labels.index(key)
        return self.stems[key]

    def items(self):
        """``(label, stem)`` pairs, the residual last when present."""
        pairs = list(zip(self.labels, self.stems))
        if self.residual is not None:
            pairs.append(("residual", self.residual))
        return pairs


class Separator(nn.Module):
    """Prompt-driven separation in a frozen codec's latent space.

    Args:
        codec: a :class:`~codecsep_mm.codecs.CodecBackend` (frozen).
        masker: a :class:`~codecsep_mm.masker.FiLMTransformerMasker`.
        prompt_encoder: the default text encoder (see :mod:`codecsep_mm.prompts`).
        space: the embedding space the masker was trained in.
        settings: chunking of long inputs.
        config: the full model description (what ``save_pretrained`` writes).

    Example:
        >>> sep = Separator.from_pretrained("tiny")
        >>> result = sep.separate(np.random.randn(16000).astype("float32"), ["a dog"], 16000)
        >>> result.stems.shape
        (1, 16000)
    """

    def __init__(
        self,
        codec,
        masker: FiLMTransformerMasker,
        prompt_encoder,
        space: str,
        settings: SeparationSettings | None = None,
        config: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.codec = codec
        self.masker = masker.eval()
        self.prompt_encoder = prompt_encoder
        self.space = space
        self.encoders: dict[str, Any] = {}
        self.encoders_by_name: dict[str, Any] = {}
        self.projections: dict[str, Any] = {}
        self.settings = settings or SeparationSettings()
        self.config = dict(config or {})
        if masker.config.latent_dim != codec.latent_dim:
            raise ConfigError(
                f"masker latent_dim {masker.config.latent_dim} != codec latent_dim "
                f"{codec.latent_dim}; the masker was built for another codec"
            )
        self.add_prompt_encoder(prompt_encoder)

    # ----------------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(
        cls,
        name_or_dir: str | os.PathLike,
        device: str | torch.device = "cpu",
        random_weights: bool = False,
        download: bool = False,
    ) -> Separator:
        """A named model (``codecsep-mm models``) or a directory written by ``save_pretrained``."""
        from codecsep_mm.models import load_model

        device = usable_device(device)
        separator = load_model(name_or_dir, random_weights=random_weights, download=download).to(device)
        separator.prompt_encoders_to(device)
        return separator

    def save_pretrained(self, directory: str | os.PathLike, half: bool = False) -> Path:
        """Write ``config.json`` + ``masker.safetensors`` (and the codec's weights if not a preset;
        extra prompt encoders' weight files are copied in). ``half``: store weights as float16.

        ``directory`` is new, empty, or an earlier model folder, which is replaced; a folder that
        holds anything else is refused (:class:`~codecsep_mm.errors.OutputPathError`), never wiped."""
        from codecsep_mm.models import save_model

        return save_model(self, directory, half=half)

    @property
    def device(self) -> torch.device:
        return next(self.masker.parameters()).device

    @property
    def sample_rate(self) -> int:
        return self.codec.sample_rate

    # ----------------------------------------------------------------------------------- prompts
    def _check_space(self, encoder, projection=None) -> None:
        end = projection.target_space if projection is not None else encoder.space
        if projection is not None and projection.source_space != encoder.space:
            raise PromptError(
                f"projection from '{projection.source_space}' does not take encoder "
                f"'{encoder.name}' ({encoder.space})"
            )
        if end != self.space:
            raise PromptError(
                f"prompt encoder '{encoder.name}' embeds into space '{end}', but this "
                f"masker was trained in '{self.space}'; use an encoder of that space or a "
                "projection into it"
            )

    def add_prompt_encoder(self, encoder, projection=None, default: bool = True) -> None:
        """Make ``encoder`` (optionally through ``projection``) a way to prompt this masker.

        The path must end in the masker's space. With ``default`` it becomes the encoder for its
        modality; it is also reachable by name through ``Prompt(..., encoder=NAME)``.
        """
        from codecsep_mm.prompts.cache import CachedEncoder

        self._check_space(encoder, projection)
        if not isinstance(encoder, CachedEncoder):
            encoder = CachedEncoder(encoder)  # repeated prompts are not re-encoded
        self.encoders_by_name[encoder.name] = encoder
        if projection is not None:
            self.projections[encoder.space] = projection
        if default:
            self.encoders[encoder.modality] = encoder

    def prompt_encoders_to(self, device: str | torch.device) -> None:
        """Run the prompt encoders that can move (those with a ``to_device`` method, e.g.
        ``starter-audio``) on ``device``; the others stay where they are. ``Module.to`` moves only
        the masker and the codec: the encoders are not submodules."""
        for encoder in self.encoders_by_name.values():
            inner = getattr(encoder, "encoder", encoder)  # the encoder inside its cache
            move = getattr(inner, "to_device", None)
            if callable(move):
                move(device)

    def _encoder_for(self, prompt):
        from codecsep_mm import prompts as registry

        if prompt.encoder is not None:
            if prompt.encoder not in self.encoders_by_name:
                from codecsep_mm.prompts.cache import CachedEncoder

                self.encoders_by_name[prompt.encoder] = CachedEncoder(registry.create(prompt.encoder))
            encoder = self.encoders_by_name[prompt.encoder]
        elif prompt.modality in self.encoders:
            encoder = self.encoders[prompt.modality]
        else:
            raise PromptError(
                f"this model has no {prompt.modality} prompt encoder; add one (command line: "
                "--prompt-encoder NAME; Python: Separator.add_prompt_encoder(...)) or name one in the prompt"
            )
        if encoder.modality != prompt.modality:
            raise PromptError(
                f"encoder '{encoder.name}' takes {encoder.modality} prompts, not {prompt.modality}"
            )
        projection = self.projections.get(encoder.space)
        self._check_space(encoder, projection)
        return encoder, projection

    def embed_prompt(self, prompt) -> torch.Tensor:
        """One :class:`~codecsep_mm.prompts.Prompt` -> its ``(cond_dim,)`` vector in the masker space."""
        encoder, _ = self._encoder_for(prompt)
        return self.to_masker_space(encoder, encoder.encode([prompt.encoder_input()]))[0]

    def to_masker_space(self, encoder, embeddings: torch.Tensor) -> torch.Tensor:
        """``encoder``'s ``(b, d)`` embeddings -> ``(b, cond_dim)``: through its projection, if it
        has one, checked against the masker and L2-normalised (gradients flow through)."""
        from codecsep_mm.prompts.base import l2_normalize

        projection = self.projections.get(encoder.space)
        if projection is not None:
            embeddings = projection(embeddings)
        if embeddings.shape[-1] != self.masker.config.cond_dim:
            raise PromptError(
                f"prompt embeddings have {embeddings.shape[-1]} dims, the masker expects "
                f"{self.masker.config.cond_dim}"
            )
        return l2_normalize(embeddings)

    def encode_queries(self, prompts) -> tuple[torch.Tensor, list[str], list[bool]]:
        """Prompts -> ``(cond (n, k), labels, negative flags)``.

        Each item may be text, a :class:`~codecsep_mm.prompts.Prompt`, a list of prompts (combined
        by weighted mean) or a :class:`~codecsep_mm.prompts.Query` (possibly negative).
        """
        from codecsep_mm.prompts.base import l2_normalize
        from codecsep_mm.prompts.query import Prompt, Query, as_query

        if isinstance(prompts, (str, Prompt, Query)):
            prompts = [prompts]
        if not isinstance(prompts, Sequence) or len(prompts) == 0:
            raise PromptError("no prompt given; pass at least one, e.g. ['speech']")
        queries = [as_query(item) for item in prompts]
        rows = []
        for query in queries:
            vectors = torch.stack([self.embed_prompt(part) for part in query.parts])
            weights = torch.tensor([part.weight for part in query.parts], dtype=vectors.dtype)
            rows.append(l2_normalize((weights[:, None] * vectors).sum(0) / weights.sum()))
        cond = torch.stack(rows).to(self.device, torch.float32)
        return cond, [q.describe() for q in queries], [q.negative for q in queries]

    def encode_prompts(self, prompts) -> tuple[torch.Tensor, list[str]]:
        """Prompts -> ``(cond (n, k), labels)`` (negation flags dropped; see :meth:`encode_queries`)."""
        cond, labels, _ = self.encode_queries(prompts)
        return cond, labels

    # ------------------------------------------------------------------------------ wave mode
    @torch.inference_mode()
    def separate(
        self,
        mixture: np.ndarray | torch.Tensor | str | os.PathLike,
        prompts: Sequence[Any] | str,
        sample_rate: int | None = None,
        residual: bool = False,
        chunk_seconds: float | None | str = "default",
        progress: bool = False,
    ) -> SeparationResult:
        """Separate one stem per prompt from a mixture (or a batch of mixtures).

        Args:
            mixture: a path, or samples shaped ``(s,)``, ``(c, s)`` or ``(b, c, s)``; c <= 2;
                numpy or torch, float or integer PCM (read as a fraction of full scale).
            prompts: one prompt or a list (text, Prompt, list of Prompts = combined, Query), or
                the result of :meth:`encode_queries`; the codec encoder runs once for all of them.
            sample_rate: rate of an array mixture in Hz (default: the codec's), a whole number
                from 1 kHz to 768 kHz; any rate is resampled.
            residual: also return everything else (the latent not taken by any prompt, and the
                mixture's DC offset, which is taken out before separating; negative queries'
                stems carry it too).
            chunk_seconds: override the chunk length; ``None`` processes the whole input at once.
            progress: show a progress bar over chunks.

        Returns:
            Stems shaped ``(n_prompts, *mixture.shape)`` at the mixture's sample rate.
        """
        wav, sample_rate, shape = self._prepare_mixture(mixture, sample_rate)
        if isinstance(prompts, tuple) and len(prompts) == 3 and torch.is_tensor(prompts[0]):
            cond, labels, negative = prompts  # already encoded by encode_queries
        else:
            cond, labels, negative = self.encode_queries(prompts)
        offset = self._offset(wav)
        folded = rearrange(wav - offset, "b c s -> (b c) 1 s")
        n_samples = folded.shape[-1]
        stems = self._separate_waveform(folded, cond, residual, chunk_seconds, progress, negative, wav.shape[1])
        stems = rearrange(stems[..., :n_samples], "n (b c) s -> n b c s", c=wav.shape[1])
        out = np.stack([self._restore(stem.cpu().numpy(), sample_rate, shape[-1]) for stem in stems])
        for index in self._offset_stems(negative, len(labels), residual):  # "everything else" keeps it
            out[index] += offset.cpu().numpy()
        out = out.reshape(out.shape[0], *shape)
        return SeparationResult(
            stems=out[: len(labels)],
            labels=labels,
            sample_rate=sample_rate,
            residual=out[len(labels)] if residual else None,
        )

    def _prepare_mixture(self, mixture, sample_rate):
        if isinstance(mixture, (str, os.PathLike)):
            array, file_rate = load_audio(mixture)
            if sample_rate is not None and sample_rate != file_rate:
                raise AudioInputError(f"{mixture}: the file is {file_rate} Hz, but sample_rate={sample_rate!r} "
                                      "was given; leave sample_rate out for a file (it is for arrays)")
            return self._to_codec_rate(array[None], file_rate), file_rate, array.shape
        array = audio_array(mixture, "mixture")
        shape = array.shape
        if array.ndim == 1:
            array = array[None, None]
        elif array.ndim == 2:
            array = array[None]
        elif array.ndim != 3:
            raise AudioInputError(f"mixture has shape {shape}; expected (s,), (c, s) or (b, c, s)")
        for index, item in enumerate(array):
            check_waveform(item, name=f"mixture[{index}]" if len(array) > 1 else "mixture")
        sample_rate = self.sample_rate if sample_rate is None else check_sample_rate(sample_rate, "mixture")
        return self._to_codec_rate(array, sample_rate), sample_rate, shape

    @staticmethod
    def _offset_stems(negative: Sequence[bool] | None, n_prompts: int, residual: bool) -> list[int]:
        """The stems that keep the mixture's DC offset: those of negative queries ("everything
        except ...") and the residual (index ``n_prompts``)."""
        flags = list(negative or [False] * n_prompts)
        return [i for i, flag in enumerate(flags) if flag] + ([n_prompts] if residual else [])

    def _offset(self, wav: torch.Tensor) -> torch.Tensor:
        """The DC offset taken out of ``wav (b, c, s)`` before it is encoded, ``(b, c, 1)``: each
        channel's mean, or zeros when ``remove_offset`` is off."""
        return wav.mean(-1, keepdim=True) if self.settings.remove_offset else torch.zeros_like(wav[..., :1])

    def _to_codec_rate(self, batch: np.ndarray, sample_rate: int) -> torch.Tensor:
        batch = np.stack([resample(item, sample_rate, self.sample_rate) for item in batch])
        return torch.from_numpy(batch).to(self.device)

    def _restore(self, stem: np.ndarray, sample_rate: int, n_samples: int) -> np.ndarray:
        """``(b, c, s)`` at the codec rate -> the input rate and exact input length."""
        stem = np.stack([resample(item, self.sample_rate, sample_rate) for item in stem])
        if stem.shape[-1] < n_samples:
            stem = np.pad(stem, [(0, 0), (0, 0), (0, n_samples - stem.shape[-1])])
        return stem[..., :n_samples].astype(np.float32, copy=False)

    def _frames(self, seconds: float | None) -> int | None:
        return None if seconds is None else max(1, round(seconds * self.codec.frame_rate))

    def _plan(self, n_frames: int, chunk_seconds) -> list:
        settings = self.settings
        chunk = settings.chunk_seconds if chunk_seconds == "default" else check_chunk_seconds(chunk_seconds)
        chunk_frames = self._frames(chunk)
        overlap = self._frames(settings.overlap_seconds) or 0
        context = self._frames(settings.context_seconds) or 0
        if chunk_frames is not None:  # a cross-fade over at most half a chunk: each step moves half a chunk on
            overlap = min(overlap, chunk_frames // 2)
        windows = plan_windows(n_frames, chunk_frames, overlap, context)
        longest = max(w.context_stop - w.context_start for w in windows)
        if longest > self.masker.config.max_len:
            raise ConfigError(
                f"a chunk of {longest} latent frames is longer than the masker's limit "
                f"({self.masker.config.max_len}); use a shorter chunk_seconds"
            )
        return windows

    def mask_latent(self, latent: torch.Tensor, cond: torch.Tensor, gain: torch.Tensor | None = None) -> torch.Tensor:
        """``latent (b, d, t)``, ``cond (n, k)`` -> masked latents ``(n, b, d, t)`` (with the settings'
        ``mask_power`` and ``mask_floor``). ``gain (b,)``: the masker reads ``latent * gain`` (see
        ``input_lufs``); the mask multiplies the latent as it is."""
        n, b = cond.shape[0], latent.shape[0]
        heard = latent if gain is None else latent * gain.to(latent)[:, None, None]
        masks = self.masker(repeat(heard, "b d t -> (n b) d t", n=n), repeat(cond, "n k -> (n b) k", b=b))
        power = self.settings.mask_power
        if power != 1.0:
            masks = masks.sign() * masks.abs().pow(power)
        masked = latent[None] * rearrange(masks, "(n b) d t -> n b d t", n=n)
        floor = self.settings.mask_floor
        return masked if not floor else floor * latent[None] + (1.0 - floor) * masked

    def _stem_latents(self, latent, cond, residual: bool, negative=None, gain=None) -> torch.Tensor:
        """Stem latents ``(n [+1], b, d, t)``: masked (or complement for negative queries), and
        the residual: the latent minus every positive stem. ``gain``: see :meth:`mask_latent`."""
        masked = self.mask_latent(latent, cond, gain)
        negative = torch.tensor(negative or [False] * len(masked), device=latent.device)
        stems = torch.where(negative[:, None, None, None], latent[None] - masked, masked)
        if residual:
            taken = stems[~negative].sum(0) if (~negative).any() else torch.zeros_like(latent)
            stems = torch.cat([stems, (latent - taken)[None]])
        return stems

    def _separate_waveform(
        self, wav, cond, residual, chunk_seconds, progress, negative=None, channels: int = 1
    ) -> torch.Tensor:
        """``wav (b, 1, s)`` at the codec rate, ``channels`` consecutive signals per mixture ->
        ``(n [+1], b, frames * hop)``."""
        hop = self.codec.hop_length
        n_frames = math.ceil(wav.shape[-1] / hop)
        n_out = cond.shape[0] + int(residual)
        out = torch.zeros(n_out, wav.shape[0], n_frames * hop)
        overlap_add = OverlapAdd()
        windows = self._plan(n_frames, chunk_seconds)
        for index, window in enumerate(_progress(windows, progress, "separating")):
            segment = _segment(wav, window.context_start * hop, window.context_stop * hop)
            gain = self._window_gain(segment, channels)  # the window is heard at input_lufs
            if gain is not None:
                segment = segment * gain.to(segment)[:, None, None]
            stems = self._stem_latents(self.codec.encode(segment), cond, residual, negative)
            decoded = self.codec.decode(rearrange(stems, "n b d t -> (n b) d t"))
            decoded = rearrange(decoded, "(n b) 1 s -> n b s", n=n_out)
            if gain is not None:
                decoded = decoded / gain.to(decoded)[None, :, None]
            core = decoded[..., (window.start - window.context_start) * hop :]
            core = core[..., : (window.stop - window.start) * hop]
            weight = fade_weights(core.shape[-1], window.fade_in * hop, window.fade_out * hop)
            overlap_add.add(window.start * hop, core.float().cpu(), weight)
            upto = windows[index + 1].start * hop if index + 1 < len(windows) else None
            start, block = overlap_add.flush(upto)
            out[..., start : start + block.shape[-1]] = block
            release_memory()
        return out

    def _window_gain(self, segment: torch.Tensor, channels: int = 1) -> torch.Tensor | None:
        """``segment (b, 1, s)``, ``channels`` consecutive signals per mixture -> the gain each
        signal is separated at, ``(b,)`` (``None``: off). A mixture's channels share one gain, from
        their loudness together (BS.1770 adds channels), so the stereo balance the codec and masker
        hear is the input's."""
        if self.settings.input_lufs is None:
            return None
        mixtures = rearrange(segment[:, 0].float().cpu().numpy(), "(b c) s -> b c s", c=channels)
        gains = [self.settings.input_gain(loudness_lufs(x, self.sample_rate)) for x in mixtures]
        return torch.tensor(gains).repeat_interleave(channels)

    # ------------------------------------------------------------------------ code-stream mode
    @torch.inference_mode()
    def encode_codes(
        self, mixture, sample_rate: int | None = None, n_q: int | None = None
    ) -> CodeStream:
        """Audio -> :class:`CodeStream` (chunked encoder, then residual VQ).

        With ``input_lufs`` set, the input is first brought to that loudness as a whole (a
        quantizer codes the levels it was fitted to best; descript-audio-codec's ``compress``
        normalises likewise), and the stream records the gain that undoes it (``gain_db``), which
        :meth:`decode_codes` applies. ``input_db`` stays the input's own loudness. With
        ``remove_offset`` (the default) each channel's DC offset is taken out before encoding and
        recorded (``offset``); decoding adds it back, and of the stems of :meth:`separate_codes`
        only the residual and those of negative queries carry it."""
        wav, sample_rate, shape = self._prepare_mixture(mixture, sample_rate)
        if len(shape) == 3 and shape[0] != 1:
            raise AudioInputError("encode one mixture at a time (got a batch)")
        channels = shape[-2] if len(shape) >= 2 else 1
        offset = self._offset(wav)
        wav = wav - offset
        loudness = loudness_lufs(wav[0].cpu().numpy(), self.sample_rate)
        input_db = max(loudness, SILENT_DB)
        gain = self.settings.input_gain(loudness)
        wav = wav * gain
        folded = rearrange(wav, "b c s -> (b c) 1 s")
        hop = self.codec.hop_length
        n_frames = math.ceil(folded.shape[-1] / hop)
        codes = []
        context = self._frames(self.settings.context_seconds) or 0
        for window in plan_windows(n_frames, self._frames(self.settings.chunk_seconds), 0, context):
            segment = _segment(folded, window.context_start * hop, window.context_stop * hop)
            latent = self.codec.encode(segment)
            keep = latent[..., window.start - window.context_start : window.stop - window.context_start]
            codes.append(self.codec.quantize(keep, n_q).cpu())
            release_memory()
        return CodeStream(
            codes=torch.cat(codes, dim=-1),
            channels=channels,
            original_length=shape[-1],
            sample_rate=sample_rate,
            input_db=input_db,
            codec=self.codec.name,
            fingerprint=self.codec.fingerprint(),
            normalized=False,
            extra={PROFILE_KEY: loudness_profile(wav[0].cpu().numpy(), self.sample_rate, hop)[:n_frames],
                   "gain_db": -20 * math.log10(gain), OFFSET_KEY: offset.flatten().tolist()},
        )

    @torch.inference_mode()
    def decode_codes(self, stream: CodeStream) -> np.ndarray:
        """:class:`CodeStream` -> ``(channels, samples)`` at the stream's sample rate (with the DC
        offset it records added back)."""
        stream.check_codec(self.codec)
        offset = stream_offset(stream)
        hop = self.codec.hop_length
        codes = stream.codes.to(self.device)
        n_frames = codes.shape[-1]
        context = self._frames(self.settings.context_seconds) or 0
        pieces = []
        for window in plan_windows(n_frames, self._frames(self.settings.chunk_seconds), 0, context):
            latent = self.codec.dequantize(codes[..., window.context_start : window.context_stop])
            wav = self.codec.decode(latent)[:, 0]
            start = (window.start - window.context_start) * hop
            pieces.append(wav[..., start : start + (window.stop - window.start) * hop].cpu())
            release_memory()
        wav = torch.cat(pieces, dim=-1)
        if stream.normalized:  # DAC's decompress semantics: restore the recorded loudness
            level = loudness_lufs(wav.numpy(), self.sample_rate)
            wav = wav * 10 ** ((stream.input_db - level) / 20) if math.isfinite(level) else wav
        else:
            wav = wav * 10 ** (float(stream.extra.get("gain_db", 0.0)) / 20)
        wav = rearrange(wav, "(b c) s -> b c s", c=stream.channels)[0].numpy()
        wav = resample(wav, self.sample_rate, stream.sample_rate)
        if wav.shape[-1] < stream.original_length:
            wav = np.pad(wav, [(0, 0), (0, stream.original_length - wav.shape[-1])])
        wav = wav[..., : stream.original_length] + offset[:, None]
        return wav.astype(np.float32)

    @torch.inference_mode()
    def separate_codes(
        self, stream: CodeStream, prompts: Sequence[Any] | str, residual: bool = False
    ) -> dict[str, CodeStream]:
        """Code-stream mode: codes in, one :class:`CodeStream` per prompt out.

        The codec's encoder and decoder never run: codes are dequantized, masked, and
        re-quantized with as many codebooks as the input had. Each stem is re-quantized at the
        mixture's level (its latent scaled by the ratio of their energies, at most
        ``INPUT_GAIN_LIMIT_DB``), where the quantizer codes best, and its ``gain_db`` undoes that
        when it is decoded; the masked latents are kept until then (4 bytes per latent value).

        Keys are the prompts' labels, in prompt order; a label given twice gets ``" (2)"``, and so
        on, and ``"residual"`` is the residual's alone (see :func:`unique_labels`).
        """
        stream.check_codec(self.codec)
        offset = stream_offset(stream)  # the residual's alone
        cond, labels, negative = self.encode_queries(prompts)
        codes = stream.codes.to(self.device)
        n_q, n_frames = codes.shape[1], codes.shape[-1]
        windows = self._plan(n_frames, "default")
        n_out = len(labels) + int(residual)
        masked: list[list[torch.Tensor]] = [[] for _ in range(n_out)]
        energy = torch.zeros(n_out + 1, dtype=torch.float64)
        overlap_add = OverlapAdd()
        for index, window in enumerate(windows):
            latent = self.codec.dequantize(codes[..., window.context_start : window.context_stop])
            stems = self._stem_latents(latent, cond, residual, negative, self._stream_gain(stream, window))
            lo, hi = window.start - window.context_start, window.stop - window.context_start
            core = torch.cat([stems[..., lo:hi], latent[None, ..., lo:hi]])
            overlap_add.add(window.start, core.float(), fade_weights(hi - lo, window.fade_in, window.fade_out))
            upto = windows[index + 1].start if index + 1 < len(windows) else None
            _, block = overlap_add.flush(upto)
            energy += block.pow(2).flatten(1).sum(1).double().cpu()
            for stem_index in range(n_out):
                masked[stem_index].append(block[stem_index])
        offset_stems = self._offset_stems(negative, len(labels), residual)
        extra_stem = ["residual"] if residual else []
        keys = unique_labels(labels, reserved=extra_stem) + extra_stem
        labels = labels + extra_stem
        mixture_energy = float(energy[-1].clamp_min(1e-12))
        gain_db = stream.input_db - NORMALIZED_DB if stream.normalized else float(stream.extra.get("gain_db", 0.0))
        result = {}
        for stem_index, (key, label) in enumerate(zip(keys, labels)):
            ratio = float(energy[stem_index].clamp_min(1e-12)) / mixture_energy
            scale = limited_gain(-10 * math.log10(ratio)) if float(energy[stem_index]) > 0 else 1.0
            codes_out = [self.codec.quantize(block * scale, n_q).cpu() for block in masked[stem_index]]
            masked[stem_index] = []
            result[key] = CodeStream(
                codes=torch.cat(codes_out, dim=-1),
                channels=stream.channels,
                original_length=stream.original_length,
                sample_rate=stream.sample_rate,
                input_db=stream.input_db + 10 * math.log10(ratio),  # estimate, for DAC's decoder
                codec=self.codec.name,
                fingerprint=self.codec.fingerprint(),
                normalized=False,
                extra={"gain_db": gain_db - 20 * math.log10(scale), "prompt": label,
                       **({OFFSET_KEY: offset.tolist()} if stem_index in offset_stems else {})},
            )
        return result

    def _stream_gain(self, stream: CodeStream, window) -> torch.Tensor | None:
        """The gain a code-stream window is read at (``None``: off): from the window's loudness, as
        in wave mode, where the stream records its loudness profile (``encode_codes`` does);
        otherwise from the loudness of what the codes hold, from the stream's metadata (the input's
        loudness less the ``gain_db`` that restores it)."""
        if self.settings.input_lufs is None:
            return None
        profile = stream.extra.get(PROFILE_KEY)
        if profile is not None and len(profile) == stream.codes.shape[-1]:
            frames = np.asarray(profile)[window.context_start : window.context_stop]
            frames = np.pad(frames, (0, window.context_stop - window.context_start - frames.size))
            level = profile_loudness(frames, self.sample_rate, self.codec.hop_length)
        else:
            restore_db = float(stream.extra.get("gain_db", 0.0))
            level = NORMALIZED_DB if stream.normalized else stream.input_db - restore_db
        return torch.tensor([self.settings.input_gain(level)])

    def describe(self) -> dict[str, Any]:
        return {**self.config, "settings": asdict(self.settings)}


def stream_offset(stream: CodeStream) -> np.ndarray:
    """The DC offset per channel a stream records (zeros where it records none, as in streams from
    descript-audio-codec or from before offsets were taken out).

    Raises:
        AudioInputError: an offset that is not one finite number per channel.
    """
    recorded = stream.extra.get(OFFSET_KEY)
    if recorded is None:
        return np.zeros(stream.channels, np.float32)
    try:
        offset = np.asarray(recorded, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        offset = np.empty(0)
    if offset.size != stream.channels or not np.isfinite(offset).all():
        raise AudioInputError(f"the code stream's {OFFSET_KEY!r} is {recorded!r}, not one number per channel "
                              f"({stream.channels}); encode the audio again with `codecsep-mm encode`")
    return offset.astype(np.float32)


def _segment(wav: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """``wav[..., start:stop]``, zero-padded past the end (no padded copy of the whole input)."""
    piece = wav[..., start:stop]
    return nn.functional.pad(piece, (0, stop - start - piece.shape[-1]))


def _progress(items, enabled: bool, description: str):
    if not enabled or len(items) < 2:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=description, unit="chunk", leave=False)
