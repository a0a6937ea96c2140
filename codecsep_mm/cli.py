"""``codecsep-mm``: a thin command line over the Python API.

Every user error is printed on one line (``codecsep-mm: error: ...``) with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import importlib
import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from codecsep_mm.defaults import DEFAULT_MODEL
from codecsep_mm.errors import CodecSepError, ConfigError, OutputPathError

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".au", ".opus"}
EXIT_USER_ERROR = 2
# Subsystems that add their own commands: each module has ``register(subparsers)`` and imports
# nothing heavy at module level (parsers are built on every call of the command).
COMMAND_MODULES: tuple[str, ...] = (
    "codecsep_mm.train.commands",
    "codecsep_mm.eval.commands",
    "codecsep_mm.data.commands",
    "codecsep_mm.demo.command",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        return int(args.run(args) or 0)
    except CodecSepError as error:
        print(f"codecsep-mm: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("codecsep-mm: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codecsep-mm",
        description="Prompt-driven sound separation in the latent space of a frozen neural codec.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("separate", help="separate stems from audio files by text prompts")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files, folders or globs")
    _model_args(p)
    _prompt_args(p)
    p.add_argument("--residual", action="store_true", help="also write everything else")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--format", choices=("wav", "flac"), default="wav")
    p.add_argument("--chunk-seconds", type=_chunk_seconds, default=None, metavar="S",
                   help="chunk length for long inputs (0 = whole file at once)")
    separation_args(p)
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=cmd_separate)

    p = sub.add_parser("separate-codes", help="code-stream mode: .dac in, one .dac per prompt out")
    p.add_argument("input", metavar="IN.dac")
    _model_args(p)
    _prompt_args(p)
    separation_args(p)
    p.add_argument("--residual", action="store_true")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_separate_codes)

    p = sub.add_parser("encode", help="audio -> .dac codes with the model's codec")
    p.add_argument("input", metavar="IN")
    p.add_argument("-o", "--out", required=True, metavar="OUT.dac")
    p.add_argument("--n-q", type=int, default=None, help="number of codebooks (default: all)")
    _model_args(p)
    p.set_defaults(run=cmd_encode)

    p = sub.add_parser("decode", help=".dac codes -> audio with the model's codec")
    p.add_argument("input", metavar="IN.dac")
    p.add_argument("-o", "--out", required=True, metavar="OUT.wav")
    _model_args(p)
    p.set_defaults(run=cmd_decode)

    p = sub.add_parser("models", help="list named models and whether their weights are present")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_models)

    p = sub.add_parser("profile", help="parameters, GMACs per second, real-time factor, memory")
    _model_args(p)
    p.add_argument("--seconds", type=float, default=10.0, help="input length to time (0.1 to 3600)")
    p.add_argument("--prompts", type=int, default=1, help="prompts per call (1 to 64)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_profile)

    p = sub.add_parser("fit-projection", help="fit and save a linear projection between two spaces")
    p.add_argument("--source", required=True, metavar="ENCODER", help="source encoder (e.g. openclip-text)")
    p.add_argument("--target", required=True, metavar="ENCODER", help="target encoder (e.g. clap-text)")
    p.add_argument("--captions", metavar="FILE", help="text file, one caption per line (text bridge)")
    p.add_argument("--source-embeddings", metavar="X.npy", help="paired embeddings instead of captions")
    p.add_argument("--target-embeddings", metavar="Y.npy")
    p.add_argument("--source-option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--target-option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--ridge", type=float, default=1e-2)
    p.add_argument("-o", "--out", required=True, metavar="DIR")
    p.set_defaults(run=cmd_fit_projection)

    p = sub.add_parser("download", help="fetch official weights (needs a network)")
    p.add_argument("name", help="a codec preset (dac-16khz, dac-24khz, dac-44khz)")
    p.add_argument("--timeout", type=_timeout, default=30.0, help="socket timeout in seconds (1 to 3600)")
    p.set_defaults(run=cmd_download)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME_OR_DIR",
                   help="a named model (`codecsep-mm models`) or a model folder")
    p.add_argument("--random-weights", action="store_true",
                   help="random weights (profiling only; output is meaningless)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")


def _prompt_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text", action="append", default=[], metavar="T", help="a text prompt (repeatable)")
    p.add_argument("--audio-query", action="append", default=[], metavar="FILE",
                   help="an example recording of the sound to extract (repeatable)")
    p.add_argument("--image-query", action="append", default=[], metavar="FILE",
                   help="a picture of the source to extract (repeatable)")
    p.add_argument("--negative", action="append", default=[], metavar="T",
                   help="also extract everything except T (repeatable)")
    p.add_argument("--combine", action="store_true",
                   help="combine all positive prompts into one stem (equal weights)")
    p.add_argument("--prompt-encoder", action="append", default=[], metavar="NAME",
                   help="use this registered encoder for its modality (repeatable)")
    p.add_argument("--projection", action="append", default=[], metavar="DIR",
                   help="a saved projection (from fit-projection) for an encoder (repeatable)")


def build_queries(args) -> tuple[list, list[str]]:
    """The prompt flags -> queries and their output file names."""
    from codecsep_mm.prompts.query import Prompt, Query

    positive = [Prompt.text(t) for t in args.text]
    positive += [Prompt.audio(path) for path in args.audio_query]
    positive += [Prompt.image(path) for path in args.image_query]
    if not positive and not args.negative:
        raise OutputPathError("no prompt given; add --text, --audio-query, --image-query or --negative")
    queries = [Query.of(*positive)] if args.combine and positive else [Query.of(p) for p in positive]
    queries += [Query.everything_except(text) for text in args.negative]
    return queries, _stem_names([q.describe() for q in queries])


def _configure_prompts(separator, args) -> None:
    from codecsep_mm import prompts
    from codecsep_mm.prompts.projection import LinearProjection

    projections = {}
    for directory in args.projection:
        projection = LinearProjection.load(directory)
        projections[projection.source_space] = projection
    for name in args.prompt_encoder:
        encoder = prompts.create(name)
        separator.add_prompt_encoder(encoder, projections.get(encoder.space))


def separation_args(p: argparse.ArgumentParser) -> None:
    """``--mask-floor``, ``--mask-power`` and ``--input-lufs``: the model's separation settings,
    overridden."""
    p.add_argument("--mask-floor", type=_mask_floor, default=None, metavar="F",
                   help="lift every mask to at least F (0 to below 1), so that a source the model "
                        "does not recognise comes out as a quiet mixture, not silence; default: the model's")
    p.add_argument("--mask-power", type=_mask_power, default=None, metavar="P",
                   help="raise every mask to the power P before the floor (0.1 to 4): below 1 a stem "
                        "keeps more of what the model is unsure of, above 1 less; default: the model's")
    p.add_argument("--input-lufs", type=_input_lufs, default=None, metavar="LUFS",
                   help="the loudness each window is separated at (-70 to 0), or 'off' to separate the "
                        "input as it is; default: the model's (the loudness of its training mixtures)")


def bounded(kind: Callable[[str], Any], accept: Callable[[Any], bool], advice: str) -> Callable[[str], Any]:
    """An argparse ``type``: the text read as ``kind`` where ``accept`` takes it, else the one-line
    error ``"{text}: {advice}"`` (also for text that is not a number)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text}: {advice}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{text}: {advice}")
        return value

    return parse


_timeout = bounded(float, lambda v: 1.0 <= v <= 3600.0, "give a network timeout from 1 to 3600 seconds")
_mask_floor = bounded(float, lambda v: 0.0 <= v < 1.0, "the mask floor must be at least 0 and below 1")
_chunk_seconds = bounded(float, lambda v: 0.0 <= v < math.inf,
                         "give a number of seconds >= 0 (0: the whole file at once)")


def _mask_power(text: str) -> float:
    from codecsep_mm.separator import MASK_POWER_RANGE

    low, high = MASK_POWER_RANGE
    return bounded(float, lambda v: low <= v <= high,
                   f"give a mask power from {low} to {high} (1: the masks as they are)")(text)


_lufs = bounded(float, lambda v: -70.0 <= v <= 0.0, "give a loudness from -70 to 0 LUFS, or 'off'")


def _input_lufs(text: str) -> float | str:
    return "off" if text.strip().lower() == "off" else _lufs(text)


def _load(args):
    from codecsep_mm.separator import Separator

    separator = Separator.from_pretrained(args.model, device=args.device, random_weights=args.random_weights)
    return with_separation_args(separator, args)


def with_separation_args(separator, args: argparse.Namespace):
    """``separator`` with ``--mask-floor``, ``--mask-power`` and ``--input-lufs`` applied (absent:
    the model's own)."""
    floor, lufs = getattr(args, "mask_floor", None), getattr(args, "input_lufs", None)
    power = getattr(args, "mask_power", None)
    if floor is not None:
        separator.settings = dataclasses.replace(separator.settings, mask_floor=floor)
    if power is not None:
        separator.settings = dataclasses.replace(separator.settings, mask_power=power)
    if lufs is not None:
        separator.settings = dataclasses.replace(separator.settings, input_lufs=None if lufs == "off" else lufs)
    return separator


# ------------------------------------------------------------------------------------ separate
def expand_inputs(patterns: Sequence[str]) -> list[Path]:
    """Files, folders (searched recursively for audio) and globs -> a sorted, de-duplicated list."""
    from codecsep_mm.errors import AudioInputError

    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            matches = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
            if not matches:
                raise AudioInputError(f"{path}: folder holds no audio files ({', '.join(sorted(AUDIO_SUFFIXES))})")
            found += matches
        elif path.exists():
            found.append(path)
        elif glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
            if not matches:
                raise AudioInputError(f"{pattern}: no file matches this pattern")
            found += matches
        else:
            raise AudioInputError(f"{path}: no such file; check the path")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique


def slugify(text: str, max_length: int = 60) -> str:
    """``"A dog, barking!"`` -> ``"a-dog-barking"``."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:max_length].strip("-")
    return slug or "prompt"


def _output_folder(out: Path) -> Path:
    """``out`` if a folder can be made there (checked without making it, so that a command that
    stops early leaves nothing behind)."""
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"{out}: exists and is a file; give a folder for -o/--out")
    ancestor = out.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputPathError(f"{out}: {ancestor} is a file, so no folder can be made there; give another -o/--out")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputPathError(f"{out}: {ancestor} is not writable; give another -o/--out")
    return out


def _stem_names(labels: Sequence[str]) -> list[str]:
    from codecsep_mm.separator import unique_labels

    return unique_labels([slugify(label) for label in labels], reserved=["residual"], form="{}-{}")


def cmd_separate(args) -> int:
    from codecsep_mm.audio import check_audio_file, check_output_rate, probe_audio, save_audio

    queries, names = build_queries(args)
    out = _output_folder(Path(args.out))
    inputs = expand_inputs(args.inputs)
    # a file that cannot be read or written stops a batch before any of it is written: every file is
    # read through once; a single file only needs its header, as separating it checks the rest first
    rate_of = check_audio_file if len(inputs) > 1 else (lambda source: probe_audio(source).samplerate)
    for source in inputs:
        check_output_rate(args.format, rate_of(source), str(source))
    separator = _load(args)
    _configure_prompts(separator, args)
    cond = separator.encode_queries(queries)  # encode once for every input
    folders = _input_folders(inputs, out)
    stem_names = names + (["residual"] if args.residual else [])
    for folder in folders:  # before any work, so that nothing is half written
        for name in stem_names:
            target = folder / f"{name}.{args.format}"
            if target.resolve() in inputs:
                raise OutputPathError(f"{target}: would overwrite an input; choose another -o")
    summary = []
    for source, folder in zip(inputs, folders):
        result = separator.separate(
            source, cond, residual=args.residual,
            chunk_seconds="default" if args.chunk_seconds is None else (args.chunk_seconds or None),
            progress=not (args.no_progress or args.json),
        )
        written = {}
        stems = list(zip(names, result.stems))
        if result.residual is not None:
            stems.append(("residual", result.residual))
        for name, stem in stems:
            target = folder / f"{name}.{args.format}"
            save_audio(target, stem, result.sample_rate)
            written[name] = str(target)
        summary.append({"input": str(source), "sample_rate": result.sample_rate,
                        "prompts": result.labels, "outputs": written})
        if not args.json:
            print(f"{source} -> {folder}/ ({', '.join(written)})")
    if args.json:
        print(json.dumps({"model": args.model, "results": summary}, indent=2))
    return 0


def _input_folders(inputs: Sequence[Path], out: Path) -> list[Path]:
    from codecsep_mm.separator import unique_labels

    return [out / name for name in unique_labels([source.stem for source in inputs], form="{}-{}")]


# --------------------------------------------------------------------------------- code stream
def cmd_separate_codes(args) -> int:
    from codecsep_mm.codecs import read_dac_file, write_dac_file

    queries, names = build_queries(args)
    out = _output_folder(Path(args.out))
    stream = read_dac_file(args.input)
    separator = _load(args)
    _configure_prompts(separator, args)
    names = names + (["residual"] if args.residual else [])
    targets = [out / f"{name}.dac" for name in names]
    for target in targets:  # before any work, so that nothing is half written
        if target.resolve() == Path(args.input).resolve():
            raise OutputPathError(f"{target}: would overwrite the input; choose another -o")
    stems = separator.separate_codes(stream, queries, residual=args.residual)
    written = {}
    for target, (label, stem) in zip(targets, stems.items(), strict=True):
        write_dac_file(target, stem)
        written[label] = str(target)
    if args.json:
        print(json.dumps({"input": args.input, "outputs": written}, indent=2))
    else:
        print(f"{args.input} -> {out}/ ({', '.join(names)})")
    return 0


def cmd_encode(args) -> int:
    from codecsep_mm.codecs import write_dac_file

    target = Path(args.out)
    if target.suffix != ".dac":
        raise OutputPathError(f"{target}: the output of encode must end in .dac")
    _refuse_overwrite(args.input, target)
    separator = _load(args)
    stream = separator.encode_codes(args.input, n_q=args.n_q)
    write_dac_file(target, stream)
    print(f"{args.input} -> {target} ({stream.n_codebooks} codebooks x {stream.codes.shape[-1]} frames)")
    return 0


def cmd_decode(args) -> int:
    from codecsep_mm.audio import save_audio
    from codecsep_mm.codecs import read_dac_file

    target = Path(args.out)
    _refuse_overwrite(args.input, target)
    stream = read_dac_file(args.input)
    separator = _load(args)
    stream.check_codec(separator.codec, args.input)
    wav = separator.decode_codes(stream)
    save_audio(target, wav, stream.sample_rate)
    print(f"{args.input} -> {target} ({wav.shape[0]} ch, {wav.shape[1]} samples @ {stream.sample_rate} Hz)")
    return 0


def _refuse_overwrite(source: str, target: Path) -> None:
    if target.exists() and target.is_dir():
        raise OutputPathError(f"{target}: is a folder; give a file name")
    if Path(source).exists() and target.resolve() == Path(source).resolve():
        raise OutputPathError(f"{target}: would overwrite the input; choose another output")


# ------------------------------------------------------------------------------ models, profile
def cmd_models(args) -> int:
    from codecsep_mm.models import available_models, model_status

    rows = [model_status(name) for name in available_models()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        state = "ready" if row["ready"] else "weights missing"
        print(f"{row['name']:<22} {state:<16} {row['description']}")
    return 0


def cmd_profile(args) -> int:
    from codecsep_mm.eval.profile import check_profile_size, profile_separator

    check_profile_size(args.seconds, args.prompts)  # before the model loads
    separator = _load(args)
    result = profile_separator(separator, args.model, seconds=args.seconds, n_prompts=args.prompts)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.to_markdown())
    return 0


def cmd_fit_projection(args) -> int:
    import torch

    from codecsep_mm import prompts
    from codecsep_mm.prompts.projection import LinearProjection, fit_text_bridge

    source = prompts.create(args.source, **_options(args.source_option))
    target = prompts.create(args.target, **_options(args.target_option))
    if args.captions:
        path = Path(args.captions)
        if not path.is_file():
            raise OutputPathError(f"{path}: no such captions file")
        captions = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        projection = fit_text_bridge(source, target, captions, ridge=args.ridge)
    elif args.source_embeddings and args.target_embeddings:
        x, y = (torch.from_numpy(_npy_array(path)).float() for path in (args.source_embeddings,
                                                                        args.target_embeddings))
        projection = LinearProjection.fit(x, y, source.space, target.space, ridge=args.ridge)
    else:
        raise OutputPathError("give --captions FILE, or --source-embeddings and --target-embeddings")
    out = projection.save(args.out)
    print(f"{source.space} -> {target.space}: {projection.in_dim}x{projection.out_dim} saved to {out}")
    return 0


def _npy_array(path: str):
    """The numeric array in a ``.npy`` file; a one-line error for anything else."""
    import numpy as np

    if not Path(path).is_file():
        raise ConfigError(f"{path}: no such embeddings file")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError):
        raise ConfigError(f"{path}: not an array saved by numpy.save (.npy); save the embeddings "
                              "with numpy.save") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        raise ConfigError(f"{path}: holds {getattr(array, 'dtype', type(array).__name__)}, not numbers; "
                              "save float embeddings (rows, dims) with numpy.save")
    return array


def _options(pairs: Sequence[str]) -> dict:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise OutputPathError(f"option {pair!r} must look like KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def cmd_download(args) -> int:
    from codecsep_mm.codecs import available_codecs, download_codec_weights

    if args.name in available_codecs():
        path = download_codec_weights(args.name, timeout=args.timeout)
    else:
        path = _download_prompt_weights(args.name, args.timeout)
    print(f"{args.name} -> {path}")
    return 0


def _download_prompt_weights(name: str, timeout: float) -> Path:
    from codecsep_mm.errors import UnknownNameError
    from codecsep_mm.prompts.clap import CLAP_CHECKPOINTS, download_clap_checkpoint

    if name in CLAP_CHECKPOINTS:
        return download_clap_checkpoint(name, timeout=timeout)
    from codecsep_mm.codecs import available_codecs

    known = [c for c in available_codecs() if c != "tiny"] + sorted(CLAP_CHECKPOINTS)
    raise UnknownNameError(f"nothing to download called '{name}'; known: {', '.join(known)}")


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
