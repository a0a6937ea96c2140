"""Adapter over descript-audio-codec's ``dac.DAC``, and its strict, unpickle-free weight loader.

Weight files use DAC's own format (``DAC.save(path, package=False)``): a ``torch.save`` dict with
``state_dict`` and ``metadata["kwargs"]``. The official release files are in that format. We read
them with ``torch.load(weights_only=True)`` and ``load_state_dict(strict=True)`` (DAC's own
``DAC.load`` would also try a torch.package import and load non-strictly).
"""

from __future__ import annotations

import functools
import hashlib
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from codecsep_mm.errors import ConfigError

DAC_KWARGS = (
    "encoder_dim",
    "encoder_rates",
    "latent_dim",
    "decoder_dim",
    "decoder_rates",
    "n_codebooks",
    "codebook_size",
    "codebook_dim",
    "sample_rate",
)


def build_dac(kwargs: dict[str, Any]):
    """A ``dac.DAC`` with the given architecture (random weights)."""
    import dac

    unknown = sorted(set(kwargs) - set(DAC_KWARGS) - {"quantizer_dropout"})
    if unknown:
        raise ConfigError(f"unknown DAC settings {unknown}; valid: {list(DAC_KWARGS)}")
    with warnings.catch_warnings():  # DAC's layers use the old weight_norm; not the user's to act on
        warnings.filterwarnings("ignore", message=r".*weight_norm` is deprecated", category=FutureWarning)
        return dac.DAC(**kwargs)


def save_dac_weights(model, path: str | os.PathLike) -> Path:
    """Save a ``dac.DAC`` in DAC's own non-package format (readable by ``dac.DAC.load``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path), package=False)
    return path


def load_dac_weights(path: str | os.PathLike):
    """Load a DAC weight file strictly, without unpickling code. Returns an eval-mode ``dac.DAC``."""
    path = Path(path)
    try:
        payload = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:
        raise ConfigError(
            f"{path}: not a readable DAC weight file ({str(error).splitlines()[0]}); "
            "expected DAC's `save(package=False)` format (the official .pth files)"
        ) from error
    if not isinstance(payload, dict) or "state_dict" not in payload or "metadata" not in payload:
        raise ConfigError(f"{path}: missing 'state_dict'/'metadata'; not a DAC weight file")
    kwargs = dict(payload["metadata"].get("kwargs", {}))
    model = build_dac({k: v for k, v in kwargs.items() if k in DAC_KWARGS})
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as error:
        raise ConfigError(
            f"{path}: weights do not fit the DAC architecture stored with them: "
            f"{str(error).splitlines()[0]}"
        ) from error
    model.metadata = payload["metadata"]
    return model.eval()


def remove_weight_norm(model: torch.nn.Module) -> torch.nn.Module:
    """Fold weight norm into plain weights (faster inference, identical output)."""
    from torch.nn.utils import remove_weight_norm as remove_legacy

    for module in model.modules():
        if hasattr(module, "weight_g") and hasattr(module, "weight_v"):
            remove_legacy(module)
    return model


def skip_dead_residual_units(model: torch.nn.Module) -> int:
    """Residual units whose output convolution is exactly zero (weight and bias) add nothing: make
    them skip their branch. A codec that starts as an MDCT (``finetune.init: mdct``) and keeps its
    encoder frozen has only such units in its encoder, which then runs several times faster. The
    weights stay in place (the state dict does not change). Returns how many units were skipped."""
    from dac.model.dac import ResidualUnit

    skipped = 0
    for module in model.modules():
        if type(module) is ResidualUnit and _is_zero_conv(module.block[3]):  # type: ignore[index]
            module.__class__ = _skipped_unit_class()
            skipped += 1
    return skipped


def _is_zero_conv(conv: Any) -> bool:
    if conv.bias is not None and torch.any(conv.bias):
        return False
    if hasattr(conv, "weight_g"):  # weight norm: channel c is zero if its gain or direction is
        dead = (conv.weight_g.flatten() == 0) | (conv.weight_v.flatten(1).abs().sum(1) == 0)
        return bool(torch.all(dead))
    return not bool(torch.any(conv.weight))


@functools.cache
def _skipped_unit_class() -> type:
    """A ``ResidualUnit`` subclass that returns its input (defined on first use: dac is lazy)."""
    from dac.model.dac import ResidualUnit

    class SkippedResidualUnit(ResidualUnit):
        """A residual unit whose branch is exactly zero: the identity."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    return SkippedResidualUnit


class DACCodec(torch.nn.Module):
    """A frozen ``dac.DAC`` behind the :class:`CodecBackend` contract.

    Args:
        model: an eval-mode ``dac.DAC``.
        name: the preset name (``dac-16khz``, ``tiny``, ...), recorded in checkpoints.
        fold_weight_norm: remove weight norm for faster inference (no change in output).
    """

    def __init__(self, model, name: str, fold_weight_norm: bool = True):
        super().__init__()
        self.model = model.eval()
        if fold_weight_norm:
            remove_weight_norm(self.model)
        self.skipped_units = skip_dead_residual_units(self.model)
        for parameter in self.model.parameters():  # after the fold, whose weights are new parameters
            parameter.requires_grad_(False)
        self.name = name
        self.sample_rate = int(model.sample_rate)
        self.hop_length = int(model.hop_length)
        self.latent_dim = int(model.latent_dim)
        self.n_codebooks = int(model.n_codebooks)
        self.codebook_size = int(model.codebook_size)
        self._fingerprint: str | None = None

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def dac_kwargs(self) -> dict[str, Any]:
        return {k: getattr(self.model, k) for k in DAC_KWARGS if hasattr(self.model, k)}

    def train(self, mode: bool = True):  # the codec stays frozen and in eval mode
        return super().train(False)

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """``wav: (b, 1, s)`` -> ``latent: (b, d, ceil(s / hop))`` (continuous, unquantized)."""
        wav = self.model.preprocess(wav, self.sample_rate)
        return self.model.encoder(wav)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """``latent: (b, d, t)`` -> ``wav: (b, 1, t * hop)``.

        DAC's decoder gives a few samples less when a rate is odd (16 kHz: ``t * hop - 8``); the end
        is zero-padded so lengths always line up with the frames.
        """
        wav = self.model.decoder(latent)
        return torch.nn.functional.pad(wav, (0, latent.shape[-1] * self.hop_length - wav.shape[-1]))

    def quantize(self, latent: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        n_q = self.n_codebooks if n_q is None else n_q
        if not 1 <= n_q <= self.n_codebooks:
            raise ConfigError(f"n_q must be in 1..{self.n_codebooks}, got {n_q}")
        _, codes, *_ = self.model.quantizer(latent, n_q)
        return codes

    def dequantize(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.quantizer.from_codes(codes.long())[0]

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for vq in self.model.quantizer.quantizers:
                digest.update(vq.codebook.weight.detach().float().cpu().numpy().tobytes())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint
