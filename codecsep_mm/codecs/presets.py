"""Named codecs: the official DAC configurations, the seeded ``tiny`` codec, and user-added ones.

Weights are looked up in this order: an explicit path, ``$CODECSEP_MM_HOME/weights/<file>``, then
descript-audio-codec's own cache (``~/.cache/descript/dac/``). A download happens only through
:func:`download_codec_weights` (``codecsep-mm download NAME``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from codecsep_mm import hub
from codecsep_mm.codecs.dac_backend import (
    DACCodec,
    build_dac,
    load_dac_weights,
    save_dac_weights,
)
from codecsep_mm.errors import UnknownNameError, WeightsNotFoundError

DAC_RELEASES = "https://github.com/descriptinc/descript-audio-codec/releases/download"


@dataclass(frozen=True)
class CodecPreset:
    """A named codec: its DAC architecture and where its weights come from.

    Attributes:
        name: registry name.
        dac_kwargs: arguments of ``dac.DAC``.
        filename: weight file name in the cache.
        url: official download address (``None``: built locally, e.g. ``tiny``).
        sha256: expected digest of the download, when known.
        seed: for random (locally built) codecs, the seed that makes them reproducible.
        dac_cache_name: the file name descript-audio-codec's own downloader uses.
        description: one line for ``codecsep-mm models``.
    """

    name: str
    dac_kwargs: dict[str, Any]
    filename: str
    url: str | None = None
    sha256: str | None = None
    seed: int | None = None
    dac_cache_name: str | None = None
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def hop_length(self) -> int:
        hop = 1
        for rate in self.dac_kwargs["encoder_rates"]:
            hop *= rate
        return hop

    @property
    def sample_rate(self) -> int:
        return int(self.dac_kwargs["sample_rate"])


_PRESETS: dict[str, CodecPreset] = {}


def register_codec(preset: CodecPreset, overwrite: bool = False) -> None:
    """Add a codec preset to the registry (e.g. your own DAC training)."""
    if preset.name in _PRESETS and not overwrite:
        raise ValueError(f"codec '{preset.name}' is already registered")
    _PRESETS[preset.name] = preset


def available_codecs() -> list[str]:
    return sorted(_PRESETS)


def get_codec_preset(name: str) -> CodecPreset:
    try:
        return _PRESETS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown codec '{name}'; available: {', '.join(available_codecs())}"
        ) from None


register_codec(
    CodecPreset(
        name="dac-16khz",
        dac_kwargs=dict(
            encoder_dim=64, encoder_rates=[2, 4, 5, 8], decoder_dim=1536,
            decoder_rates=[8, 5, 4, 2], n_codebooks=12, codebook_size=1024, codebook_dim=8,
            sample_rate=16000,
        ),
        filename="weights_16khz_8kbps_0.0.5.pth",
        url=f"{DAC_RELEASES}/0.0.5/weights_16khz.pth",
        dac_cache_name="weights_16khz_8kbps_0.0.5.pth",
        description="official DAC 16 kHz (hop 320, 12x1024 codebooks, latent 1024)",
    )
)
register_codec(
    CodecPreset(
        name="dac-24khz",
        dac_kwargs=dict(
            encoder_dim=64, encoder_rates=[2, 4, 5, 8], decoder_dim=1536,
            decoder_rates=[8, 5, 4, 2], n_codebooks=32, codebook_size=1024, codebook_dim=8,
            sample_rate=24000,
        ),
        filename="weights_24khz_8kbps_0.0.4.pth",
        url=f"{DAC_RELEASES}/0.0.4/weights_24khz.pth",
        dac_cache_name="weights_24khz_8kbps_0.0.4.pth",
        description="official DAC 24 kHz (hop 320, 32x1024 codebooks, latent 1024)",
    )
)
register_codec(
    CodecPreset(
        name="dac-44khz",
        dac_kwargs=dict(
            encoder_dim=64, encoder_rates=[2, 4, 8, 8], decoder_dim=1536,
            decoder_rates=[8, 8, 4, 2], n_codebooks=9, codebook_size=1024, codebook_dim=8,
            sample_rate=44100,
        ),
        filename="weights_44khz_8kbps_0.0.1.pth",
        url=f"{DAC_RELEASES}/0.0.1/weights.pth",
        dac_cache_name="weights_44khz_8kbps_0.0.1.pth",
        description="official DAC 44.1 kHz (hop 512, 9x1024 codebooks, latent 1024)",
    )
)
register_codec(
    CodecPreset(
        name="tiny",
        dac_kwargs=dict(
            encoder_dim=8, encoder_rates=[2, 4, 5, 8], decoder_dim=32, decoder_rates=[8, 5, 4, 2],
            n_codebooks=4, codebook_size=64, codebook_dim=4, sample_rate=16000,
        ),
        filename="tiny-dac-seed0.pth",
        seed=0,
        description="small random DAC (seed 0, hop 320, latent 128) for tests and smoke runs",
    )
)


def codec_weights_path(name: str) -> Path | None:
    """Where the weights of a named codec are on disk, or ``None`` if nowhere yet."""
    preset = get_codec_preset(name)
    candidates = [hub.weights_dir() / preset.filename]
    if preset.dac_cache_name:
        candidates.append(Path.home() / ".cache" / "descript" / "dac" / preset.dac_cache_name)
    return next((path for path in candidates if path.is_file()), None)


def create_codec(
    name: str = "dac-16khz",
    weights: str | os.PathLike | None = None,
    random_weights: bool = False,
    download: bool = False,
    fold_weight_norm: bool = True,
) -> DACCodec:
    """Build a named codec, or load a codec weight file.

    Args:
        name: a registered codec (``available_codecs()``), or the path of a weight file in DAC's
            format (e.g. ``runs/codec/best/codec.pth`` from ``codecsep-mm train-codec``).
        weights: a local weight file (DAC's format); overrides the cache lookup.
        random_weights: build the architecture with random weights (profiling only).
        download: fetch the official weights if they are not on disk.
        fold_weight_norm: remove weight norm after loading (faster, same output).

    Raises:
        WeightsNotFoundError: the weights are not on disk and ``download`` is false.

    Example:
        >>> codec = create_codec("tiny")
        >>> codec.hop_length
        320
    """
    if name not in _PRESETS and str(name).endswith((".pth", ".pt")):
        path = Path(name)
        if not path.is_file():
            raise WeightsNotFoundError(f"codec weights not found: {path}; check the path")
        return DACCodec(load_dac_weights(path), path.stem, fold_weight_norm)
    preset = get_codec_preset(name)
    if random_weights:
        torch.manual_seed(0 if preset.seed is None else preset.seed)
        return DACCodec(build_dac(preset.dac_kwargs).eval(), name, fold_weight_norm)
    path = Path(weights) if weights is not None else _resolve(preset, download)
    if not path.is_file():
        raise WeightsNotFoundError(f"codec weights not found: {path}; check the path")
    hub.verify_recorded_checksum(path)
    return DACCodec(load_dac_weights(path), name, fold_weight_norm)


def _resolve(preset: CodecPreset, download: bool) -> Path:
    found = codec_weights_path(preset.name)
    if found is not None:
        return found
    target = hub.weights_dir() / preset.filename
    if preset.seed is not None:
        return _build_seeded(preset, target)
    if download:
        return download_codec_weights(preset.name)
    raise WeightsNotFoundError(
        f"weights for codec '{preset.name}' are not on disk (looked in {target}); run "
        f"`codecsep-mm download {preset.name}` where a network exists, or copy "
        f"{preset.url} to that path"
    )


def _build_seeded(preset: CodecPreset, target: Path) -> Path:
    """Random codecs are built once from their seed, saved, then loaded like real weights."""
    torch.manual_seed(preset.seed)
    model = build_dac(preset.dac_kwargs)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    save_dac_weights(model, tmp)
    os.replace(tmp, target)
    return target


def download_codec_weights(name: str, timeout: float = hub.DEFAULT_TIMEOUT_S) -> Path:
    """Fetch the official weights of a named codec into the cache (timeout, checksum)."""
    preset = get_codec_preset(name)
    if preset.url is None:
        raise WeightsNotFoundError(f"codec '{name}' has no download; it is built locally")
    return hub.download(preset.url, hub.weights_dir() / preset.filename, preset.sha256, timeout)
