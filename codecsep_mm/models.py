"""Named models and the ``save_pretrained`` / ``from_pretrained`` directory format.

A model directory holds ``config.json`` (codec, prompt encoder, embedding space, masker
architecture, chunking) and ``masker.safetensors``; a codec that is not a named preset is stored
beside them as ``codec.safetensors``. Further prompt encoders (``prompt_encoders``: registry name,
options, whether it is its modality's default, and a projection folder under ``projections/``) come
back with the model; an option value starting with ``./`` is a file inside the model directory.
Everything is loaded strictly; nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from codecsep_mm import __version__, hub
from codecsep_mm.defaults import DEFAULT_MODEL  # noqa: F401  (re-exported: the embedded default)
from codecsep_mm.errors import ConfigError, OutputPathError, UnknownNameError, WeightsNotFoundError
from codecsep_mm.masker import FiLMTransformerMasker, MaskerConfig, masker_config

CONFIG_KEYS = (
    "format_version",
    "codecsep_mm_version",
    "name",
    "description",
    "codec",
    "prompt_encoder",
    "space",
    "masker",
    "separation",
    "prompt_encoders",
)
FORMAT_VERSION = 1
MASKER_FILE = "masker.safetensors"
CODEC_FILE = "codec.safetensors"


@dataclass(frozen=True)
class NamedModel:
    """A model known by name.

    Attributes:
        name: what ``from_pretrained`` takes.
        description: one line for ``codecsep-mm models``.
        config: the ``config.json`` content.
        weights: where the masker weights directory is (``None``: built from ``seed``).
        seed: random models are built from this seed.
        random_space: the space used with ``random_weights=True`` (no prompt weights needed).
    """

    name: str
    description: str
    config: dict[str, Any]
    weights: Callable[[], Path] | None = None
    seed: int | None = None


def _tiny_config() -> dict[str, Any]:
    return {
        "name": "tiny",
        "description": "random seeded model for tests and smoke runs (separates nothing useful)",
        "codec": {"preset": "tiny"},
        "prompt_encoder": {"name": "hash-text", "options": {"embed_dim": 64}},
        "space": "hash-text-64",
        "masker": masker_config("tiny").to_dict(),
        "separation": {"chunk_seconds": 10.0, "overlap_seconds": 0.5, "context_seconds": 0.5},
    }


def _paper_config() -> dict[str, Any]:
    return {
        "name": "codecsep-paper-16k",
        "description": "CodecSep paper setup: official DAC 16 kHz + CLAP text + the paper masker",
        "codec": {"preset": "dac-16khz"},
        # HTSAT-base audio tower + RoBERTa text tower, no fusion (as in DESIGN.md).
        "prompt_encoder": {
            "name": "clap-text",
            "options": {"checkpoint": "music_speech_audioset_epoch_15_esc_89.98"},
        },
        "space": "clap-laion-music-speech-audioset",
        "masker": masker_config("codecsep-paper").to_dict(),
        "separation": {"chunk_seconds": 10.0, "overlap_seconds": 0.5, "context_seconds": 0.5},
    }


_MODELS: dict[str, NamedModel] = {}


def register_model(model: NamedModel, overwrite: bool = False) -> None:
    if model.name in _MODELS and not overwrite:
        raise ValueError(f"model '{model.name}' is already registered")
    _MODELS[model.name] = model


register_model(NamedModel("tiny", _tiny_config()["description"], _tiny_config(), seed=0))
register_model(
    NamedModel(
        "codecsep-paper-16k",
        _paper_config()["description"],
        _paper_config(),
        weights=lambda: hub.weights_dir() / "codecsep-paper-16k",
        seed=0,
    )
)


PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


def _register_embedded(name: str) -> None:
    """Register a model shipped in ``codecsep_mm/pretrained/NAME`` (read at import: one small JSON)."""
    folder = PRETRAINED_DIR / name
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return  # not shipped in this build: `codecsep-mm models` does not list it
    register_model(NamedModel(name, config.get("description", name), config, weights=lambda: folder))


_register_embedded("starter-16k")


def available_models() -> list[str]:
    return sorted(_MODELS)


def model_status(name: str) -> dict[str, Any]:
    """What ``codecsep-mm models`` prints: description and whether each weight file is present."""
    from codecsep_mm.codecs import codec_weights_path, get_codec_preset

    model = _MODELS[name]
    codec = model.config["codec"].get("preset")
    if codec is None:  # a codec stored in the model folder
        codec = model.config["codec"].get("name", "stored")
        stored = model.config["codec"].get("weights", CODEC_FILE)
        codec_ready = model.weights is not None and (model.weights() / stored).is_file()
    else:
        codec_ready = get_codec_preset(codec).seed is not None or codec_weights_path(codec) is not None
    masker_ready = model.weights is None or (model.weights() / MASKER_FILE).is_file()
    return {
        "name": name,
        "description": model.description,
        "codec": codec,
        "prompt_encoder": model.config["prompt_encoder"]["name"],
        "space": model.config["space"],
        "codec_weights": codec_ready,
        "masker_weights": masker_ready,
        "ready": bool(codec_ready and masker_ready),
    }


def check_config(config: dict[str, Any], where: str = "config.json") -> dict[str, Any]:
    if not isinstance(config, dict):
        raise ConfigError(f"{where}: holds a JSON {type(config).__name__}, not an object of model settings; "
                          "write it with save_pretrained")
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; valid keys: {list(CONFIG_KEYS)}")
    missing = [k for k in ("codec", "prompt_encoder", "space", "masker") if k not in config]
    if missing:
        raise ConfigError(f"{where}: missing keys {missing}")
    return config


def load_model(
    name_or_dir: str | os.PathLike, random_weights: bool = False, download: bool = False
):
    """Build a :class:`~codecsep_mm.separator.Separator` from a name or a model directory."""
    path = Path(name_or_dir)
    if path.is_dir():
        return _load_directory(path, download)
    name = str(name_or_dir)
    if name not in _MODELS:
        if path.suffix or os.sep in name:
            raise UnknownNameError(f"{name}: no such model directory (need a folder with config.json)")
        raise UnknownNameError(f"unknown model '{name}'; available: {', '.join(available_models())}")
    model = _MODELS[name]
    if model.weights is not None and not random_weights:
        directory = model.weights()
        if not (directory / MASKER_FILE).is_file():
            raise WeightsNotFoundError(
                f"masker weights for '{name}' not found in {directory}; put a trained model "
                f"directory there (config.json + {MASKER_FILE}), train one with `codecsep-mm "
                "train`, or use --random-weights for profiling"
            )
        return _load_directory(directory, download)
    return _build(model.config, random_weights=random_weights, seed=model.seed, download=download)


def build_separator(
    encoder,
    codec: str = "tiny",
    masker: str = "default",
    seed: int = 0,
    **masker_overrides: Any,
):
    """A new (untrained) Separator whose masker is conditioned in ``encoder``'s space.

    The masker's ``latent_dim`` and ``cond_dim`` follow the codec and the encoder. Train it with the
    training engine, then ``save_pretrained``.

    Example:
        >>> from codecsep_mm import prompts
        >>> sep = build_separator(prompts.create("hash-text", embed_dim=32), masker="tiny")
        >>> sep.space, sep.masker.config.cond_dim
        ('hash-text-32', 32)
    """
    from codecsep_mm.codecs import create_codec
    from codecsep_mm.separator import SeparationSettings, Separator

    codec_backend = create_codec(codec)
    masker_cfg = masker_config(
        masker, latent_dim=codec_backend.latent_dim, cond_dim=encoder.embed_dim, **masker_overrides
    )
    torch.manual_seed(seed)
    config = {
        "name": f"custom-{encoder.space}",
        "description": f"{masker} masker on codec {codec}, prompted in {encoder.space}",
        "codec": {"preset": codec},
        "prompt_encoder": {"name": encoder.name, "options": getattr(encoder, "options", {})},
        "space": encoder.space,
        "masker": masker_cfg.to_dict(),
    }
    return Separator(codec_backend, FiLMTransformerMasker(masker_cfg).eval(), encoder, encoder.space,
                     SeparationSettings(), config=config)


def _build(config, random_weights=False, seed=None, download=False, masker_state=None, codec=None):
    from codecsep_mm import prompts
    from codecsep_mm.codecs import create_codec
    from codecsep_mm.separator import SeparationSettings, Separator

    config = check_config(dict(config))
    masker_cfg = MaskerConfig.from_dict(config["masker"])
    if codec is None:
        preset = config["codec"].get("preset")
        if preset is None:
            raise ConfigError("config.json: codec needs a 'preset' name or stored weights")
        codec = create_codec(preset, random_weights=random_weights, download=download)
    space = config["space"]
    if random_weights and config["prompt_encoder"]["name"] != "hash-text":
        # Random weights are for profiling: a weight-free stand-in encoder replaces the real one.
        space = f"random-{masker_cfg.cond_dim}"
        encoder = prompts.create("hash-text", embed_dim=masker_cfg.cond_dim, space=space)
    else:
        encoder = prompts.create(config["prompt_encoder"]["name"], **config["prompt_encoder"].get("options", {}))
    if seed is not None:
        torch.manual_seed(seed)
    masker = FiLMTransformerMasker(masker_cfg)
    if masker_state is not None:
        try:
            masker.load_state_dict(masker_state, strict=True)
        except RuntimeError as error:
            raise ConfigError(
                f"masker weights do not fit the architecture in config.json: {state_dict_mismatch(error)}"
            ) from None
    try:
        settings = SeparationSettings.from_dict(config.get("separation", {}))
    except ConfigError as error:
        raise ConfigError(f"config.json, separation: {error}") from None
    return Separator(codec, masker.eval(), encoder, space, settings, config=config)


def read_json(path: Path) -> Any:
    """The JSON in ``path``; a one-line :class:`ConfigError` if it is not JSON text."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: invalid JSON ({error})") from None


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file; a one-line :class:`ConfigError` if it is not one."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise ConfigError(f"{path}: not a readable safetensors file ({error}); copy it again, or write "
                          "the model again with save_pretrained") from None


def state_dict_mismatch(error: RuntimeError) -> str:
    """The first detail of ``load_state_dict``'s error (a missing key or a size mismatch), on one line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    detail = lines[1] if len(lines) > 1 else lines[0] if lines else "weights do not match"
    return detail if len(detail) <= 300 else detail[:297] + "..."


def _load_directory(directory: Path, download: bool = False):
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise WeightsNotFoundError(f"{directory}: no config.json; not a codecsep-mm model folder")
    config = read_json(config_path)
    check_config(config, str(config_path))
    masker_path = directory / MASKER_FILE
    if not masker_path.is_file():
        raise WeightsNotFoundError(f"{directory}: {MASKER_FILE} is missing")
    codec = None
    if "preset" not in config["codec"]:
        codec = _load_stored_codec(directory, config["codec"])
    separator = _build(config, masker_state=read_weights(masker_path), codec=codec, download=download)
    add_prompt_encoders(separator, config.get("prompt_encoders", []), directory)
    return separator


def add_prompt_encoders(separator, specs: list[dict[str, Any]], directory: Path) -> None:
    """Add encoders described as in config.json's ``prompt_encoders`` (``./`` paths relative to
    ``directory``)."""
    from codecsep_mm import prompts
    from codecsep_mm.prompts.projection import load_projection

    for spec in specs:
        unknown = sorted(set(spec) - {"name", "options", "projection", "default"})
        if unknown or "name" not in spec:
            raise ConfigError(f"{directory}/config.json: prompt_encoders entry {spec}: needs 'name'; "
                              f"unknown keys {unknown}")
        options = {k: str(directory / v[2:]) if isinstance(v, str) and v.startswith("./") else v
                   for k, v in spec.get("options", {}).items()}
        projection = load_projection(directory / spec["projection"]) if spec.get("projection") else None
        separator.add_prompt_encoder(prompts.create(spec["name"], **options), projection,
                                     default=spec.get("default", True))


def _saved_encoders(separator, directory: Path) -> list[dict[str, Any]]:
    """Specs of the prompt encoders added to ``separator`` beyond its main one; projections are
    written under ``directory/projections/``, and an option naming a local file or folder (trained
    weights) is copied under ``directory/encoders/`` so that the model folder stands alone."""
    from codecsep_mm.prompts.projection import IdentityProjection

    main = separator.prompt_encoder.name
    specs = []
    for name, encoder in separator.encoders_by_name.items():
        if name == main:
            continue
        options = dict(getattr(encoder, "options", {}) or {})
        try:
            json.dumps(options)
        except TypeError:
            raise ConfigError(f"prompt encoder '{name}' has options that cannot be written to "
                              "config.json; give it JSON options (paths as strings)") from None
        options = {k: _embed_file(v, directory / "encoders" / _slug(name)) for k, v in options.items()}
        spec: dict[str, Any] = {"name": name, "options": options,
                                "default": separator.encoders.get(encoder.modality) is encoder}
        projection = separator.projections.get(encoder.space)
        if projection is not None and not isinstance(projection, IdentityProjection):
            if not hasattr(projection, "save"):
                raise ConfigError(f"the projection of prompt encoder '{name}' cannot be saved")
            folder = Path("projections") / _slug(encoder.space)
            projection.save(directory / folder)
            spec["projection"] = str(folder)
        specs.append(spec)
    return specs


def _embed_file(value: Any, folder: Path) -> Any:
    """An option value naming an existing local file or folder is copied into ``folder``; the
    value becomes its ``./`` path inside the model directory. Other values are kept."""
    if not isinstance(value, str) or not value or value.startswith("./") or not Path(value).exists():
        return value
    source = Path(value)
    target = folder / source.name
    folder.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copy2(source, target)
    return "./" + target.relative_to(folder.parent.parent).as_posix()


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "projection"


def _load_stored_codec(directory: Path, spec: dict[str, Any]):
    from codecsep_mm.codecs.dac_backend import DACCodec, build_dac

    path = directory / spec.get("weights", CODEC_FILE)
    if not path.is_file():
        raise WeightsNotFoundError(f"{directory}: codec weights {path.name} are missing")
    model = build_dac(spec["dac_kwargs"])
    from codecsep_mm.codecs.dac_backend import remove_weight_norm

    remove_weight_norm(model)
    try:
        model.load_state_dict(read_weights(path), strict=True)
    except RuntimeError as error:
        raise ConfigError(f"{path}: does not fit dac_kwargs: {state_dict_mismatch(error)}") from None
    return DACCodec(model.eval(), spec.get("name", "custom"), fold_weight_norm=False)


MODEL_FOLDER_ENTRIES = frozenset({"config.json", MASKER_FILE, CODEC_FILE, "encoders", "projections"})


def check_replaceable(directory: Path) -> None:
    """A one-line :class:`OutputPathError` unless ``directory`` may be replaced by a new model
    folder: it is empty, or it is a model folder (``config.json`` and nothing a model folder does
    not hold), so that saving a model never deletes anything else."""
    entries = {entry.name for entry in directory.iterdir()}
    foreign = sorted(entries - MODEL_FOLDER_ENTRIES)
    if foreign or (entries and "config.json" not in entries):
        example = ", ".join(foreign[:3]) or ", ".join(sorted(entries)[:3])
        raise OutputPathError(f"{directory}: holds files that are not a model's ({example}); save into a "
                              "new or empty folder, or over an earlier model folder")


def save_model(separator, directory: str | os.PathLike, half: bool = False) -> Path:
    """Write a model directory atomically (a temporary folder renamed into place). ``half`` stores
    the masker and codec weights as float16 (half the size; they load back into float32)."""
    from safetensors.torch import save_file

    given = Path(directory)
    directory = given.resolve()  # "." has no name to put a temporary sibling beside
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} exists and is not a folder")
    if directory.is_dir():
        check_replaceable(directory)
    config = {k: v for k, v in separator.config.items() if k in CONFIG_KEYS}
    config.update(
        format_version=FORMAT_VERSION,
        codecsep_mm_version=__version__,
        space=separator.space,
        masker=separator.masker.config.to_dict(),
        separation=asdict(separator.settings),
    )
    config.setdefault("prompt_encoder", {"name": separator.prompt_encoder.name, "options": {}})
    tmp = directory.with_name(f".{directory.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
    except OSError as error:
        raise OutputPathError(f"{directory}: cannot create the model folder ({error.strerror}); "
                              "choose a folder you can write") from None
    def stored(module) -> dict[str, torch.Tensor]:
        state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
        return {k: v.half() if half and v.is_floating_point() else v for k, v in state.items()}

    save_file(stored(separator.masker), str(tmp / MASKER_FILE))
    codec = separator.codec
    from codecsep_mm.codecs import available_codecs

    preset = config.get("codec", {}).get("preset")
    if preset not in available_codecs() or codec.name != preset:  # a codec swapped in keeps its weights
        save_file(stored(codec.model), str(tmp / CODEC_FILE))
        config["codec"] = {"name": codec.name, "dac_kwargs": codec.dac_kwargs, "weights": CODEC_FILE}
    extra = _saved_encoders(separator, tmp)
    if extra:
        config["prompt_encoders"] = extra
    else:
        config.pop("prompt_encoders", None)
    (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(tmp, directory)
    return given
