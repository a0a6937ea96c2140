"""Training configuration: typed, frozen dataclasses that round-trip through YAML.

A config has five sections; every key is optional (the defaults are the paper's recipe) and an
unknown key is an error that names it and lists the valid ones::

    model: {codec: tiny, masker: tiny, prompt_encoder: {name: hash-text, options: {embed_dim: 64}}}
    data:  {synthetic: true, mixing: {crop_seconds: 1.0}}
    optim: {lr: 1.5e-4}
    loss:  {kind: si-sdr}
    run:   {out_dir: runs/tiny, steps: 20, batch_size: 4}

Paths in a config are relative to the current directory.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from codecsep_mm.data.mixing import MixingConfig
from codecsep_mm.errors import ConfigError, is_number

LOSS_KINDS = ("si-sdr", "latent", "si-sdr+latent")
AMP_MODES = ("auto", "off", "bf16", "fp16")
LEARN_PARTS = ("masker", "audio-encoder")


@dataclass(frozen=True)
class ModelSpec:
    """What to train. Either ``base`` (a named model or model folder to fine-tune) or a new model
    from a codec (a preset name or a ``codec.pth`` from ``train-codec``), a prompt encoder and a
    masker preset (with overrides). ``prompt_encoders`` adds frozen encoders of other modalities
    (``{name, options, projection, default}``, as in a model's config.json), e.g. the audio-query
    encoder that ``data.mixing.audio_query_prob`` needs; they are saved with the model.

    ``learn``: what the run trains. ``masker`` (the paper). ``audio-encoder``: the model's
    audio-query encoder (a ``starter-audio`` tower) learns through the frozen masker with the same
    loss, every other part frozen, so that audio queries catch up with a masker trained on without
    changing what text prompts do; set ``data.mixing.audio_query_prob`` above 0 (1: every stem)."""

    base: str | None = None
    codec: str = "tiny"
    prompt_encoder: dict[str, Any] = field(
        default_factory=lambda: {"name": "hash-text", "options": {"embed_dim": 64}}
    )
    masker: str = "default"
    masker_overrides: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None
    prompt_encoders: list[dict[str, Any]] = field(default_factory=list)
    learn: str = "masker"


@dataclass(frozen=True)
class DataSpec:
    """Where mixtures come from: a source manifest (splits ``train`` and ``valid``), or synthetic
    sources (no files; for smoke runs and tests)."""

    manifest: str | None = None
    valid_manifest: str | None = None
    synthetic: bool = False
    mixing: MixingConfig = field(default_factory=MixingConfig)
    valid_items: int = 64
    num_workers: int = 0


@dataclass(frozen=True)
class OptimSpec:
    """AdamW with the paper's settings, gradient clipping, and ReduceLROnPlateau on validation.

    ``warmup_steps``: raise the learning rate linearly from ``lr / warmup_steps`` to ``lr`` over the
    first steps of a run (0: none, the paper). Post-norm Transformers and runs that start from
    trained weights with a fresh optimizer are steadier with a few hundred. The plateau scheduler
    takes over after it, so keep it shorter than ``run.valid_every``."""

    lr: float = 1.5e-4
    betas: tuple[float, ...] = (0.8, 0.99)
    weight_decay: float = 0.01
    grad_clip: float = 10.0
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        checks = (("lr", 0.0 < self.lr < math.inf, "a learning rate above 0 (e.g. 1.5e-4)"),
                  ("weight_decay", 0.0 <= self.weight_decay < math.inf, "a weight decay >= 0"),
                  ("grad_clip", 0.0 < self.grad_clip < math.inf, "a gradient-norm limit above 0"),
                  ("plateau_factor", 0.0 < self.plateau_factor < 1.0, "a factor above 0 and below 1"),
                  ("plateau_patience", self.plateau_patience >= 0, "a number of validations >= 0"),
                  ("warmup_steps", self.warmup_steps >= 0, "a number of steps >= 0 (0: no warm-up)"),
                  ("betas", len(self.betas) == 2 and all(0.0 <= b < 1.0 for b in self.betas),
                   "two numbers from 0 to below 1 (AdamW's, e.g. [0.8, 0.99])"))
        for key, ok, what in checks:
            if not ok:
                raise ConfigError(f"optim.{key} is {getattr(self, key)}; give {what}")


@dataclass(frozen=True)
class LossSpec:
    """``si-sdr``: negative SI-SDR on decoded waveforms, averaged over the stems and the mixture
    reconstruction (the paper; ``mixture_term: false`` leaves the reconstruction out). ``latent``:
    normalised squared error between each masked latent and the codec latent of its source (no
    decoder; cheap pre-training). ``si-sdr+latent``: both.
    ``latent_db``: take the latent error in dB (``10 log10``), so that every item counts alike, as
    in SI-SDR; with the plain ratio a few quiet stems dominate the batch and training can blow up.
    ``absent_floor_db``: a source left out of its mixture (``data.mixing.absent_prob``) is scored by
    the share of the mixture its estimate lets through, counted down to this level and no further;
    with ``latent_db`` a low floor lets the silent prompts outweigh the others (each can gain 30 dB
    at -30), a higher one asks only that most of the mixture be kept out."""

    kind: str = "si-sdr"
    mixture_term: bool = True
    latent_weight: float = 1.0
    latent_db: bool = False
    absent_floor_db: float = -30.0


@dataclass(frozen=True)
class RunSpec:
    """Length, batching, checkpoints, early stopping, logging and the device.

    ``linear_encoder``: encode with the single strided convolution that a *linear* frozen encoder
    computes (:func:`codecsep_mm.codecs.linear.linearize_encoder`, checked against the encoder when
    the run starts; a non-linear encoder is an error), and take the mixture's latent as the sum of
    its sources' latents. The same numbers to within -40 dB, many times cheaper on a CPU; for the
    starter codec's MDCT-start encoder."""

    out_dir: str = "runs/default"
    steps: int = 100_000
    batch_size: int = 4
    valid_every: int = 1000
    checkpoint_every: int = 1000
    keep_checkpoints: bool = False
    early_stop_patience: int = 10
    min_delta: float = 0.0
    log_every: int = 50
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"
    linear_encoder: bool = False
    tensorboard: bool = True
    progress: bool = True

    def __post_init__(self) -> None:  # run.steps: check_data_and_steps (its least value depends on the trainer)
        for key in ("batch_size", "valid_every", "checkpoint_every", "log_every"):
            if getattr(self, key) < 1:
                raise ConfigError(f"run.{key} must be at least 1")


def check_data_and_steps(data: Any, run: RunSpec, allow_zero_steps: bool = False) -> None:
    """A data section must say where its audio comes from, and a run must train at least one step
    (``allow_zero_steps``: where a run of none still makes a result)."""
    if not data.synthetic and not data.manifest:
        raise ConfigError("data: give a source manifest (data.manifest) or set data.synthetic: true")
    least = 0 if allow_zero_steps else 1
    if run.steps < least:
        raise ConfigError(f"run.steps must be at least {least}")
    if data.valid_items < 1:
        raise ConfigError("data.valid_items must be at least 1 (the best weights are chosen on them)")
    if data.num_workers < 0:
        raise ConfigError("data.num_workers must be 0 (load in the training process) or more")


class YamlConfig:
    """Round-trips a config dataclass through plain dicts and YAML (tuples become lists)."""

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config"):
        return _build(cls, data or {}, where, "")

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class TrainConfig(YamlConfig):
    """A masker training run: what to train, on what data, and how."""

    model: ModelSpec = field(default_factory=ModelSpec)
    data: DataSpec = field(default_factory=DataSpec)
    optim: OptimSpec = field(default_factory=OptimSpec)
    loss: LossSpec = field(default_factory=LossSpec)
    run: RunSpec = field(default_factory=RunSpec)

    def __post_init__(self) -> None:
        if self.loss.kind not in LOSS_KINDS:
            raise ConfigError(f"loss.kind {self.loss.kind!r}; valid: {list(LOSS_KINDS)}")
        if self.run.amp not in AMP_MODES:
            raise ConfigError(f"run.amp {self.run.amp!r}; valid: {list(AMP_MODES)}")
        if self.model.learn not in LEARN_PARTS:
            raise ConfigError(f"model.learn {self.model.learn!r}; valid: {list(LEARN_PARTS)}")
        if self.model.learn == "audio-encoder" and not self.data.mixing.audio_query_prob:
            raise ConfigError("model.learn: audio-encoder learns from audio queries; set "
                              "data.mixing.audio_query_prob above 0 (1: every stem)")
        if self.data.mixing.absent_prob and self.loss.kind != "latent":
            raise ConfigError("data.mixing.absent_prob leaves sources out, and SI-SDR has no value for a "
                              "silent source; use it with loss.kind: latent")
        floor = self.loss.absent_floor_db
        if not is_number(floor) or not -60 <= floor < 0:
            raise ConfigError(f"loss.absent_floor_db {floor!r}: give a level in dB from -60 up to (not "
                              "including) 0, e.g. -10")
        check_data_and_steps(self.data, self.run)



def load_config(path: str | os.PathLike, overrides: list[str] | None = None, cls: type = TrainConfig):
    """Read a YAML config of type ``cls``; ``overrides`` are ``section.key=value`` strings (values
    parsed as YAML).

    Raises:
        ConfigError: a missing file, invalid YAML, or an unknown key (named with its section).
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file; see configs/ for examples")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; a config is a YAML file (see configs/ for examples)") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        sections = ", ".join(f.name for f in fields(cls))
        raise ConfigError(f"{path}: expected a mapping of sections ({sections})")
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r}: use section.key=value, e.g. run.steps=10")
        target = data
        *parents, leaf = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = yaml.safe_load(value)
    return cls.from_dict(data, str(path))  # type: ignore[attr-defined]


def _build(cls, data: dict[str, Any], where: str, prefix: str):
    """``cls(**data)`` with nested dataclass sections built recursively; unknown keys named."""
    import dataclasses
    import typing

    if not isinstance(data, dict):
        raise ConfigError(f"{where}: '{prefix.rstrip('.') or 'config'}' must be a mapping")
    valid = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        named = [prefix + k for k in unknown]
        raise ConfigError(f"{where}: unknown key {named}; valid keys in "
                          f"'{prefix.rstrip('.') or 'config'}': {valid}")
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in data.items():
        if dataclasses.is_dataclass(hints.get(key)) and isinstance(value, dict | type(None)):
            values[key] = _build(hints[key], value or {}, where, f"{prefix}{key}.")
        else:
            value = _yaml_float(cls, key, value)
            _check_type(cls, key, value, where, prefix)
            values[key] = tuple(value) if isinstance(value, list) and _default_is_tuple(cls, key) else value
    try:
        return cls(**values)
    except TypeError as error:
        raise ConfigError(f"{where}: {prefix.rstrip('.')}: {error}") from None


def _check_type(cls, key: str, value: Any, where: str, prefix: str) -> None:
    """Scalars must have their default's type (an int is fine where a float is expected)."""
    from dataclasses import MISSING

    default = next(f.default for f in fields(cls) if f.name == key)
    if default is MISSING or default is None or value is None:
        return
    expected = type(default)
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if expected is int and isinstance(value, bool):
        ok = False
    if expected is tuple and isinstance(value, list):
        ok = True
    if not ok:
        raise ConfigError(f"{where}: {prefix}{key} = {value!r} should be a {expected.__name__}")


def _default_is_tuple(cls, key: str) -> bool:
    from dataclasses import MISSING

    f = next(f for f in fields(cls) if f.name == key)
    default = f.default if f.default is not MISSING else (
        f.default_factory() if f.default_factory is not MISSING else None)
    return isinstance(default, tuple)


def _yaml_float(cls, key: str, value: Any) -> Any:
    """YAML 1.1 reads ``3e-3`` (no dot) as a string; take it as the float it means."""
    from dataclasses import MISSING

    default = next((f.default for f in fields(cls) if f.name == key), MISSING)
    if isinstance(default, float) and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value
