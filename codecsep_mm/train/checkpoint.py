"""Training checkpoints: written atomically, loaded strictly, never unpickled beyond plain tensors.

Layout of ``OUT_DIR/checkpoints/last/`` (the state to resume from)::

    masker.safetensors   the weights of what learns (codec training: codec.safetensors)
    optimizer.pt         the optimizer's and LR scheduler's states (tensors and numbers; loaded
                         with weights_only=True)
    trainer_state.json   step, best validation loss, early-stopping count, scheduler state, config

With ``run.keep_checkpoints``, each checkpoint's weights are also kept in
``OUT_DIR/checkpoints/step-NNNNNNN/`` (weights only), to average later (:func:`average_weights`).

The folder is first written as ``last.partial`` and then renamed, so a run killed while saving
keeps the previous checkpoint intact.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import torch

from codecsep_mm.errors import ConfigError, WeightsNotFoundError

MASKER_FILE = "masker.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
STATE_FILE = "trainer_state.json"


def save_checkpoint(directory: Path, module: torch.nn.Module, optimizer, scheduler,
                    state: dict[str, Any], weights_file: str = MASKER_FILE) -> Path:
    """Write a checkpoint folder atomically (``directory.partial`` renamed into place)."""
    partial = directory.with_name(directory.name + ".partial")
    old = directory.with_name(directory.name + ".old")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    _save_weights(module, partial / weights_file)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
               partial / OPTIMIZER_FILE)
    (partial / STATE_FILE).write_text(json.dumps(_finite(state), indent=2))
    if directory.exists():
        shutil.rmtree(old, ignore_errors=True)
        directory.rename(old)
    partial.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
    return directory


def load_checkpoint(directory: Path, module: torch.nn.Module, optimizer=None, scheduler=None,
                    weights_file: str = MASKER_FILE) -> dict[str, Any]:
    """Load a checkpoint into ``module`` (and ``optimizer``, ``scheduler``); returns the trainer state.

    Raises:
        WeightsNotFoundError: no checkpoint there.
        ConfigError: weights of another architecture.
    """

    directory = Path(directory)
    if directory.with_name(directory.name + ".old").is_dir() and not directory.is_dir():
        directory.with_name(directory.name + ".old").rename(directory)  # killed between renames
    if not (directory / weights_file).is_file() or not (directory / STATE_FILE).is_file():
        raise WeightsNotFoundError(f"{directory}: no checkpoint to resume from; start without --resume")
    load_weights(module, directory / weights_file)
    if optimizer is not None or scheduler is not None:
        states = torch.load(directory / OPTIMIZER_FILE, weights_only=True)
        if optimizer is not None:
            optimizer.load_state_dict(states["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(states["scheduler"])
    return json.loads((directory / STATE_FILE).read_text())


def keep_weights(directory: Path, module: torch.nn.Module, weights_file: str = MASKER_FILE) -> Path:
    """Write a copy of ``module``'s weights to ``directory/weights_file`` (``run.keep_checkpoints``)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / weights_file
    partial = path.with_name(path.name + ".partial")
    _save_weights(module, partial)
    partial.replace(path)
    return path


def _save_weights(module: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(path))


def weights_path(path: Path, weights_file: str = MASKER_FILE) -> Path:
    """A weights file, given itself or a folder (a checkpoint or model folder) that holds it."""
    path = Path(path)
    weights = path / weights_file if path.is_dir() else path
    if not weights.is_file():
        raise WeightsNotFoundError(f"{weights} not found; give a {weights_file} file or a folder with one")
    return weights


def average_weights(paths: list[Path], weights_file: str = MASKER_FILE) -> dict[str, torch.Tensor]:
    """The element-wise mean of several weight files of one architecture (checkpoint averaging).

    Floating-point tensors are averaged in float32 and cast back; any other tensor (a counter, an
    index) must be equal in every file."""
    from safetensors.torch import load_file

    if not paths:
        raise ConfigError("nothing to average: give at least one weights file")
    files = [weights_path(p, weights_file) for p in paths]
    states = [load_file(str(f)) for f in files]
    first = states[0]
    for file, state in zip(files[1:], states[1:]):
        if set(state) != set(first) or any(state[k].shape != first[k].shape for k in first):
            raise ConfigError(f"{file} holds other tensors than {files[0]}; average weights of one run only")
    mean = {}
    for key, tensor in first.items():
        if tensor.is_floating_point():
            total = torch.stack([state[key].float() for state in states]).mean(0)
            mean[key] = total.to(tensor.dtype)
        elif any(not state[key].equal(tensor) for state in states):
            raise ConfigError(f"{key} differs between the files and cannot be averaged")
        else:
            mean[key] = tensor
    return mean


def load_weights(masker: torch.nn.Module, path: Path, state: dict[str, torch.Tensor] | None = None) -> None:
    """Strictly load weights (a masker's, or a codec's) from ``path``, or ``state`` read from it; a
    mismatch says which tensors do not fit."""
    from safetensors.torch import load_file

    if state is None:
        state = load_file(str(path))
    own = masker.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        details = []
        if wrong:
            k = wrong[0]
            details.append(f"{len(wrong)} tensors of another shape (e.g. {k}: "
                           f"{tuple(state[k].shape)} vs {tuple(own[k].shape)})")
        if missing:
            details.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            details.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        what = "masker" if path.name == MASKER_FILE else "model"
        raise ConfigError(f"{path}: weights from a different {what} architecture: {'; '.join(details)}")
    masker.load_state_dict(state, strict=True)


def _finite(value: Any) -> Any:
    """JSON has no inf/nan: store them as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def as_float(value: Any) -> float:
    return float(value)  # float("inf") parses the stored strings back
