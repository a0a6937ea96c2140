"""``clap-text`` and ``clap-audio``: LAION-CLAP text and audio-example prompts (package laion-clap).

Both encoders of one checkpoint share its space (``encoder.clap.audio_encoder()`` gives the audio
sibling without a second load), so an audio example can prompt a masker trained on CLAP text.
Offline first: a checkpoint is a local file or a known name in ``hub.weights_dir()`` (else a
:class:`WeightsNotFoundError` naming ``codecsep-mm download NAME``); the RoBERTa tower is built from
the checkpoint's shapes, never ``from_pretrained``; an empty offline tokenizer is an error;
``HF_HUB_OFFLINE=1`` is set before laion_clap is imported (its import otherwise retries the hub for
minutes) unless network use is allowed; weights are read with ``weights_only=True`` or safetensors.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from codecsep_mm import hub
from codecsep_mm.audio import (
    as_channels_first,
    check_sample_rate,
    check_waveform,
    load_audio,
    resample,
)
from codecsep_mm.errors import (
    AudioInputError,
    ConfigError,
    PromptError,
    UnknownNameError,
    WeightsNotFoundError,
)
from codecsep_mm.prompts.base import l2_normalize, register

CLAP_SAMPLE_RATE = 48000
CLAP_HF = "https://huggingface.co/lukewys/laion_clap/resolve/main"
ROBERTA_HF = "https://huggingface.co/FacebookAI/roberta-base/resolve/main"
ROBERTA_FILES = ("vocab.json", "merges.txt")
ROBERTA_DIR = "roberta-base"
DEFAULT_CHECKPOINT = "630k-audioset-best"
MIN_QUERY_SECONDS = 0.1
TEXT_MAX_TOKENS = 77
_TOKENIZE = {
    "padding": "max_length",
    "truncation": True,
    "max_length": TEXT_MAX_TOKENS,
    "return_tensors": "pt",
}
_TRUE = ("1", "true", "yes")
ALLOW_NETWORK_ENV = "CODECSEP_MM_ALLOW_NETWORK"


class ClapCheckpoint(NamedTuple):
    """A published LAION-CLAP checkpoint: file name, download address and architecture."""

    filename: str
    url: str
    amodel: str
    enable_fusion: bool


_PUBLISHED = (  # name, audio architecture, feature fusion
    ("630k-best", "HTSAT-tiny", False),
    ("630k-audioset-best", "HTSAT-tiny", False),
    ("630k-fusion-best", "HTSAT-tiny", True),
    ("630k-audioset-fusion-best", "HTSAT-tiny", True),
    ("music_speech_audioset_epoch_15_esc_89.98", "HTSAT-base", False),
    ("music_audioset_epoch_15_esc_90.14", "HTSAT-base", False),
    ("music_speech_epoch_15_esc_89.25", "HTSAT-base", False),
)
CLAP_CHECKPOINTS: dict[str, ClapCheckpoint] = {
    name: ClapCheckpoint(f"{name}.pt", f"{CLAP_HF}/{name}.pt", amodel, fusion)
    for name, amodel, fusion in _PUBLISHED
}

# Each trained checkpoint is its own embedding space; text and audio of one checkpoint share it.
CLAP_SPACES: dict[str, str] = {
    "630k-audioset-best": "clap-laion-630k",
    "630k-best": "clap-laion-630k-noaudioset",
    "630k-audioset-fusion-best": "clap-laion-630k-fusion",
    "630k-fusion-best": "clap-laion-630k-fusion-noaudioset",
    "music_speech_audioset_epoch_15_esc_89.98": "clap-laion-music-speech-audioset",
    "music_audioset_epoch_15_esc_90.14": "clap-laion-music-audioset",
    "music_speech_epoch_15_esc_89.25": "clap-laion-music-speech",
}


# -- offline guard ------------------------------------------------------------------------------
def ensure_hub_offline(allow_network: bool = False) -> None:
    """Put the Hugging Face hub in offline mode unless network use was explicitly allowed.

    Sets ``HF_HUB_OFFLINE=1`` (and the already-imported ``huggingface_hub`` flag, which is read
    once at its import), so laion_clap, transformers and open_clip fail fast instead of retrying
    an unreachable hub for minutes. ``CODECSEP_MM_ALLOW_NETWORK=1`` allows network use too.
    """
    if allow_network or os.environ.get(ALLOW_NETWORK_ENV, "").strip().lower() in _TRUE:
        return
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    constants: Any = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True


# -- checkpoints ----------------------------------------------------------------------------------
def clap_checkpoint_path(name: str) -> Path:
    """Where the known checkpoint ``name`` lives in the weights cache (present or not)."""
    try:
        return hub.weights_dir() / CLAP_CHECKPOINTS[name].filename
    except KeyError:
        raise UnknownNameError(
            f"unknown CLAP checkpoint '{name}'; known: {', '.join(CLAP_CHECKPOINTS)}"
        ) from None


def download_clap_checkpoint(name: str, timeout: float = hub.DEFAULT_TIMEOUT_S) -> Path:
    """Fetch the checkpoint ``name`` (and the RoBERTa tokenizer files) into the weights cache.

    Returns:
        The checkpoint's path.

    Raises:
        UnknownNameError: ``name`` is not in :data:`CLAP_CHECKPOINTS`.
        DownloadError: no network, timeout or checksum mismatch.
    """
    path = clap_checkpoint_path(name)
    tokenizer_dir = hub.weights_dir() / ROBERTA_DIR
    for filename in ROBERTA_FILES:
        if not (tokenizer_dir / filename).exists():
            hub.download(f"{ROBERTA_HF}/{filename}", tokenizer_dir / filename, timeout=timeout)
    if not path.exists():
        hub.download(CLAP_CHECKPOINTS[name].url, path, timeout=timeout)
    return path


def _resolve_checkpoint(checkpoint: str | os.PathLike, download: bool, timeout: float) -> Path:
    if isinstance(checkpoint, str) and checkpoint in CLAP_CHECKPOINTS:
        path = clap_checkpoint_path(checkpoint)
        if path.exists():
            hub.verify_recorded_checksum(path)
            return path
        if download:
            return download_clap_checkpoint(checkpoint, timeout=timeout)
        raise WeightsNotFoundError(
            f"CLAP checkpoint '{checkpoint}' is not in {path.parent}; run "
            f"`codecsep-mm download {checkpoint}` where a network exists, or pass checkpoint=PATH"
        )
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(
            f"CLAP checkpoint {path}: no such file; pass the path of a LAION-CLAP .pt file or a "
            f"known name ({', '.join(CLAP_CHECKPOINTS)}) after `codecsep-mm download NAME`"
        )
    return path


def load_clap_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a LAION-CLAP checkpoint's weights without unpickling code.

    Accepts ``.safetensors`` files and ``torch.save`` files holding either a state dict or a dict
    with a ``"state_dict"`` entry (what LAION's training saves). ``module.`` prefixes (from
    DataParallel) and the obsolete ``position_ids`` buffers are removed.

    Raises:
        ConfigError: the file is not a plain weights file.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from codecsep_mm.models import read_weights

        checkpoint: Any = read_weights(path)
    else:
        checkpoint = _torch_load_weights(path)
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, dict) or not all(map(torch.is_tensor, checkpoint.values())):
        raise ConfigError(f"{path}: not a CLAP state dict (expected tensors by parameter name)")
    state = {k.removeprefix("module."): v for k, v in checkpoint.items()}
    for key in ("text_branch.embeddings.position_ids", "text_branch.embeddings.token_type_ids"):
        state.pop(key, None)
    return state


def _torch_load_weights(path: Path) -> Any:
    import pickle

    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as error:  # legacy (non-zip) files cannot be memory-mapped
            if "mmap" not in str(error):
                raise
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ConfigError(
            f"{path}: holds objects other than weights, refusing to unpickle it "
            f"({str(error).splitlines()[0]}); convert it to .safetensors on a trusted machine"
        ) from None
    except (RuntimeError, EOFError, OSError) as error:
        raise ConfigError(
            f"{path}: not a readable PyTorch checkpoint ({str(error).splitlines()[0]}); "
            "the download may be incomplete, fetch it again"
        ) from None


# -- model construction --------------------------------------------------------------------------
def roberta_config_from_state(state: dict[str, torch.Tensor], n_heads: int | None = None) -> dict:
    """The ``RobertaConfig`` keyword arguments that fit the CLAP checkpoint's text tower."""
    prefix = "text_branch."
    try:
        vocab_size, hidden = state[f"{prefix}embeddings.word_embeddings.weight"].shape
        max_positions = state[f"{prefix}embeddings.position_embeddings.weight"].shape[0]
        type_vocab = state[f"{prefix}embeddings.token_type_embeddings.weight"].shape[0]
        intermediate = state[f"{prefix}encoder.layer.0.intermediate.dense.weight"].shape[0]
    except KeyError as missing:
        raise ConfigError(
            f"the checkpoint has no RoBERTa text tower ({missing} missing); only RoBERTa-based "
            "LAION-CLAP checkpoints are supported"
        ) from None
    layer = re.compile(r"text_branch\.encoder\.layer\.(\d+)\.")
    layer_ids = {int(match.group(1)) for key in state if (match := layer.match(key))}
    return {
        "vocab_size": int(vocab_size),
        "hidden_size": int(hidden),
        "num_hidden_layers": max(layer_ids) + 1,
        "num_attention_heads": n_heads or max(1, int(hidden) // 64),
        "intermediate_size": int(intermediate),
        "max_position_embeddings": int(max_positions),
        "type_vocab_size": int(type_vocab),
        "layer_norm_eps": 1e-5,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
    }


def clap_model_config(amodel: str | os.PathLike) -> dict[str, Any]:
    """A laion-clap architecture config: a registered name (``HTSAT-tiny``...) or a JSON path."""
    from laion_clap.clap_module import factory

    path = Path(amodel)
    if path.suffix == ".json":
        try:
            config = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ConfigError(f"{path}: cannot read the CLAP model config ({error})") from None
    elif str(amodel) in factory._MODEL_CONFIGS:
        config = copy.deepcopy(factory._MODEL_CONFIGS[str(amodel)])
    else:
        raise ConfigError(
            f"unknown CLAP audio model '{amodel}'; use one of {', '.join(factory.list_models())} "
            "or the path of a model-config JSON"
        )
    missing = {"embed_dim", "audio_cfg", "text_cfg"} - set(config)
    if missing:
        raise ConfigError(f"CLAP model config {amodel} lacks {sorted(missing)}")
    return config


def build_clap_model(
    model_config: dict[str, Any], roberta_config: dict[str, Any], enable_fusion: bool = False
) -> torch.nn.Module:
    """A randomly initialised ``laion_clap`` CLAP with a RoBERTa text tower of the given shape.

    laion-clap's own constructor calls ``RobertaModel.from_pretrained('roberta-base')`` (a
    network download); here the tower is built from ``roberta_config`` instead, so nothing is
    fetched. Weights come afterwards from a checkpoint.
    """
    import warnings
    from unittest import mock

    from laion_clap.clap_module import model as clap_model
    from transformers import RobertaConfig, RobertaModel

    class OfflineRoberta:
        @staticmethod
        def from_pretrained(*_args: Any, **_kwargs: Any) -> torch.nn.Module:
            return RobertaModel(RobertaConfig(**roberta_config))

    config = copy.deepcopy(model_config)
    config["text_cfg"]["model_type"] = "roberta"
    config["enable_fusion"] = enable_fusion
    config["fusion_type"] = "aff_2d" if enable_fusion else "None"
    with mock.patch.object(clap_model, "RobertaModel", OfflineRoberta), warnings.catch_warnings():
        # HTSAT's window attention calls torch.meshgrid without `indexing` (laion-clap's code; the
        # default it warns about is the one it relies on)
        warnings.filterwarnings("ignore", message="torch.meshgrid", category=UserWarning)
        return clap_model.CLAP(**config)


# -- tokenizer ------------------------------------------------------------------------------------
def load_roberta_tokenizer(tokenizer: str | os.PathLike | None = None) -> Any:
    """The RoBERTa tokenizer CLAP needs, checked to be real (not transformers' empty stand-in).

    Looks in ``tokenizer`` (a folder with ``vocab.json`` + ``merges.txt``), then
    ``WEIGHTS/roberta-base``, then the Hugging Face cache (``roberta-base``).

    Raises:
        WeightsNotFoundError: no usable tokenizer files on disk.
    """
    from transformers import RobertaTokenizer

    if tokenizer is not None:
        folder = Path(tokenizer).expanduser()
        sources: list[str | Path] = [folder]
        if not folder.is_dir():
            raise WeightsNotFoundError(
                f"tokenizer folder {sources[0]}: no such folder (it needs vocab.json, merges.txt)"
            )
    else:
        local = hub.weights_dir() / ROBERTA_DIR
        sources = [local] if all((local / f).exists() for f in ROBERTA_FILES) else []
        sources.append("roberta-base")
    problem = ""
    for source in sources:
        try:
            loaded = RobertaTokenizer.from_pretrained(str(source))
        except Exception as error:  # tokenizers raises a bare Exception on corrupt files
            detail = str(error).splitlines()[0] if str(error) else type(error).__name__
            problem = f"cannot read the tokenizer files in {source}: {detail}"
            continue
        problem = _tokenizer_problem(loaded)
        if not problem:
            return loaded
    raise WeightsNotFoundError(
        f"no usable RoBERTa tokenizer for CLAP ({problem}); run `codecsep-mm download "
        f"{DEFAULT_CHECKPOINT}` (it also fetches vocab.json and merges.txt into "
        f"{hub.weights_dir() / ROBERTA_DIR}) or pass tokenizer=DIR holding those two files"
    )


def _tokenizer_problem(tokenizer: Any) -> str:
    """Why ``tokenizer`` is unusable ("" when it is fine). Offline, transformers returns a
    tokenizer with a handful of special tokens that turns every text into ``<s></s>``."""
    size = len(tokenizer)
    if size < 256:
        return f"the tokenizer found has only {size} tokens, its vocabulary files are missing"
    ids = tokenizer("a dog barking")["input_ids"]
    if all(i in tokenizer.all_special_ids for i in ids):
        return "the tokenizer found turns text into special tokens only"
    return ""


# -- the loaded model, shared by the text and audio encoders ---------------------------------------
@dataclass
class ClapModel:
    """A loaded, frozen CLAP checkpoint: model, tokenizer and where it embeds.

    Build with :func:`load_clap`. ``text_encoder()`` / ``audio_encoder()`` give the two prompt
    encoders, sharing this one model.
    """

    model: Any  # laion_clap's CLAP model (a torch Module with get_text/audio_embedding)
    tokenizer: Any
    audio_config: dict[str, Any]
    enable_fusion: bool
    space: str
    options: dict[str, Any]
    device: str = "cpu"

    def __post_init__(self) -> None:
        self.model = self.model.eval().requires_grad_(False).to(self.device)
        self.embed_dim = int(self.model.joint_embed_shape)

    def text_encoder(self) -> ClapTextEncoder:
        return ClapTextEncoder(self)

    def audio_encoder(
        self, sample_rate: int | None = None, batch_size: int = 8
    ) -> ClapAudioEncoder:
        return ClapAudioEncoder(self, sample_rate=sample_rate, batch_size=batch_size)


def load_clap(
    checkpoint: str | os.PathLike = DEFAULT_CHECKPOINT,
    amodel: str | os.PathLike | None = None,
    enable_fusion: bool | None = None,
    tokenizer: str | os.PathLike | None = None,
    space: str | None = None,
    device: str = "cpu",
    download: bool = False,
    allow_network: bool = False,
    text_heads: int | None = None,
    timeout: float = hub.DEFAULT_TIMEOUT_S,
) -> ClapModel:
    """Load a LAION-CLAP checkpoint for prompting, offline.

    Args:
        checkpoint: a known name (:data:`CLAP_CHECKPOINTS`, looked up in the weights cache) or a
            path to a LAION-CLAP ``.pt`` / ``.safetensors`` file.
        amodel: the audio architecture, a laion-clap config name (``HTSAT-tiny``,
            ``HTSAT-base``...) or a config JSON path; default: the known checkpoint's, else
            ``HTSAT-tiny``.
        enable_fusion: whether the checkpoint is a feature-fusion model; default: the known
            checkpoint's, else ``False``.
        tokenizer: a folder with RoBERTa's ``vocab.json`` and ``merges.txt``.
        space: the embedding-space name; default :data:`CLAP_SPACES` for known names, else
            ``clap-<file stem>``.
        device: where the model runs; embeddings are returned on the CPU.
        download: fetch a known checkpoint that is not on disk.
        allow_network: let Hugging Face libraries use the network (default: offline mode).
        text_heads: attention heads of the RoBERTa tower (default: width / 64, as roberta-base).
        timeout: download timeout in seconds.

    Raises:
        WeightsNotFoundError: checkpoint or tokenizer files missing.
        ConfigError: the checkpoint does not fit the architecture.
    """
    known = CLAP_CHECKPOINTS.get(checkpoint) if isinstance(checkpoint, str) else None
    path = _resolve_checkpoint(checkpoint, download, timeout)
    amodel = amodel or (known.amodel if known else "HTSAT-tiny")
    if enable_fusion is None:
        enable_fusion = known.enable_fusion if known else False
    if space is None:
        space = CLAP_SPACES.get(str(checkpoint), f"clap-{path.stem}")
    ensure_hub_offline(allow_network)
    token_source = load_roberta_tokenizer(tokenizer)
    state = load_clap_state_dict(path)
    model_config = clap_model_config(amodel)
    roberta_config = roberta_config_from_state(state, text_heads)
    model = build_clap_model(model_config, roberta_config, enable_fusion)
    _load_strict(model, state, path, amodel, enable_fusion)
    options = {
        "checkpoint": str(checkpoint),
        "amodel": str(amodel),
        "enable_fusion": enable_fusion,
        "space": space,
        "tokenizer": tokenizer and str(tokenizer),
        "text_heads": text_heads,
    }
    options = {key: value for key, value in options.items() if value is not None}
    audio_config = model_config["audio_cfg"]
    return ClapModel(model, token_source, audio_config, enable_fusion, space, options, device)


def _load_strict(
    model: torch.nn.Module, state: dict, path: Path, amodel: Any, fusion: bool
) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        raise ConfigError(
            f"{path} does not fit amodel={amodel}, enable_fusion={fusion}: "
            f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected "
            f"(e.g. {unexpected[:3]}), {len(wrong)} of the wrong shape (e.g. {wrong[:3]}); "
            "pass the amodel/enable_fusion it was trained with"
        )
    model.load_state_dict(state, strict=True)


# -- encoders -------------------------------------------------------------------------------------
class ClapTextEncoder:
    """Text -> ``(b, embed_dim)`` CLAP embeddings (RoBERTa tower, 77 tokens at most)."""

    name = "clap-text"
    modality = "text"

    def __init__(self, clap: ClapModel, batch_size: int = 64):
        self.clap = clap
        self.space = clap.space
        self.embed_dim = clap.embed_dim
        self.options = dict(clap.options)
        self.batch_size = batch_size

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
            batch = self.clap.tokenizer(texts[start : start + self.batch_size], **_TOKENIZE)
            tokens = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
            rows.append(self.clap.model.get_text_embedding(tokens).float().cpu())
        return l2_normalize(torch.cat(rows))


class ClapAudioEncoder:
    """Audio examples -> ``(b, embed_dim)`` CLAP embeddings.

    Each prompt is a file path, an ``(array, sample_rate)`` pair, an array (when the encoder was
    given ``sample_rate``), or a list of these: several examples of one sound, averaged. Audio at
    any rate is downmixed to mono and resampled to 48 kHz. An example longer than the model's
    clip (10 s for the LAION checkpoints) is cut into clips (the last one aligned to the end) whose
    embeddings are averaged; a shorter one is repeated to fill the clip, as LAION-CLAP does.
    """

    name = "clap-audio"
    modality = "audio"

    def __init__(self, clap: ClapModel, sample_rate: int | None = None, batch_size: int = 8):
        self.clap = clap
        self.space = clap.space
        self.embed_dim = clap.embed_dim
        self.sample_rate = sample_rate
        self.batch_size = batch_size
        self.options = dict(clap.options)
        if sample_rate is not None:
            self.options["sample_rate"] = sample_rate
        self.clip_samples = int(clap.audio_config["clip_samples"])

    @torch.no_grad()
    def encode(self, prompts: Sequence[Any]) -> torch.Tensor:
        prompts = list(prompts)
        if not prompts:
            return torch.empty(0, self.embed_dim)
        waves = [[self._load(example) for example in _examples(prompt)] for prompt in prompts]
        clips = [self._clips(wav) for prompt in waves for wav in prompt]
        clip_rows = self._embed_clips([clip for group in clips for clip in group])
        example_rows = [
            l2_normalize(rows.mean(0)) for rows in clip_rows.split([len(g) for g in clips])
        ]
        prompt_rows = torch.stack(example_rows).split([len(prompt) for prompt in waves])
        return l2_normalize(torch.stack([rows.mean(0) for rows in prompt_rows]))

    def _load(self, example: Any) -> np.ndarray:
        """One example -> mono float32 at 48 kHz, quantised to 16 bits as LAION-CLAP does."""
        if isinstance(example, tuple) and len(example) != 2:
            raise PromptError("an audio query tuple must be (array, sample_rate)")
        if isinstance(example, tuple) and isinstance(example[0], (str, os.PathLike)):
            example = example[0]  # a file carries its own sample rate
        if isinstance(example, (str, os.PathLike)):
            wav, rate = load_audio(example)
            name = str(example)
        else:
            array, rate = example if isinstance(example, tuple) else (example, self.sample_rate)
            if rate is None:
                raise PromptError(
                    "an audio query given as an array needs its sample rate: pass "
                    "(array, sample_rate) or create the encoder with sample_rate=..."
                )
            wav, name = as_channels_first(array, "audio query"), "audio query"
            check_waveform(wav, name=name)
        rate = check_sample_rate(rate, name)
        seconds = wav.shape[-1] / rate
        if seconds < MIN_QUERY_SECONDS:
            raise AudioInputError(
                f"{name}: only {wav.shape[-1]} samples ({seconds:.3f} s) long; an audio query "
                f"needs at least {MIN_QUERY_SECONDS} s of the sound"
            )
        mono = resample(wav.mean(0, keepdims=True), int(rate), CLAP_SAMPLE_RATE)[0]
        return (np.clip(mono, -1.0, 1.0) * 32767.0).astype(np.int16).astype(np.float32) / 32767.0

    def _clips(self, wav: np.ndarray) -> list[torch.Tensor]:
        """``wav`` cut into model-length clips, back to back, the last one aligned to the end."""
        size, clip = wav.size, self.clip_samples
        starts = [*range(0, size - clip, clip), size - clip] if size > clip else [0]
        return [torch.from_numpy(wav[start : start + clip].copy()) for start in starts]

    def _embed_clips(self, clips: list[torch.Tensor]) -> torch.Tensor:
        from laion_clap.training.data import get_audio_features

        # No clip exceeds clip_samples, so "rand_trunc" never crops at random here.
        truncating = "fusion" if self.clap.enable_fusion else "rand_trunc"
        config, rows = self.clap.audio_config, []
        for start in range(0, len(clips), self.batch_size):
            batch = clips[start : start + self.batch_size]
            features = [
                get_audio_features({}, clip, self.clip_samples, truncating, "repeatpad", config)
                for clip in batch
            ]
            rows.append(self.clap.model.get_audio_embedding(features).float().cpu())
        return l2_normalize(torch.cat(rows))


def _examples(prompt: Any) -> list[Any]:
    if isinstance(prompt, list):
        if not prompt:
            raise PromptError("an empty list of audio examples; give at least one")
        return prompt
    return [prompt]


# -- registry -------------------------------------------------------------------------------------
@register("clap-text")
def make_clap_text(**options: Any) -> ClapTextEncoder:
    """``clap-text``; options as :func:`load_clap`."""
    return load_clap(**options).text_encoder()


@register("clap-audio")
def make_clap_audio(**options: Any) -> ClapAudioEncoder:
    """``clap-audio``; options as :func:`load_clap`, plus ``sample_rate`` (for bare arrays) and
    ``batch_size`` (clips per forward pass)."""
    audio_options = {k: options.pop(k) for k in ("sample_rate", "batch_size") if k in options}
    return load_clap(**options).audio_encoder(**audio_options)
