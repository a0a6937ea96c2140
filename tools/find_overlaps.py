"""Find audio files that repeat a recording of a corpus's held-out splits, before adding them to train.

Packages copy each other's sounds (a desktop theme may ship another theme's chime under a new name).
A copy of a `valid` or `test` recording that goes to `train` leaks the benchmark into training. This
script compares each given file with every recording of the chosen splits of a built corpus whose
length is within 25 % of it: both mono at 8 kHz, the largest normalised cross-correlation over all
lags (of their first 20 s). A copy scores about 1 whatever its level, format or offset; different
recordings of the same kind score well below (short clicks against drum hits reach about 0.8).

Usage:
    python tools/find_overlaps.py --corpus /work/corpus PATH... [--splits valid,test] [--threshold 0.9]

PATH is an audio file or a folder (searched for .wav, .ogg, .oga, .flac, .opus). Prints one line per
pair at or above the threshold, best first, then how many; exit status 0 either way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

RATE = 8000
MAX_SECONDS = 20
SUFFIXES = (".wav", ".ogg", ".oga", ".flac", ".opus")


def mono_8k(path: Path):
    import numpy as np
    import soxr

    from codecsep_mm.audio import load_audio

    wav, rate = load_audio(path)
    wav = wav.mean(axis=0).astype(np.float64)
    return soxr.resample(wav, rate, RATE) if rate != RATE else wav


def correlation(a, b) -> float:
    """The largest normalised cross-correlation of ``a`` and ``b`` over all lags."""
    import numpy as np

    a, b = a[: RATE * MAX_SECONDS], b[: RATE * MAX_SECONDS]
    size = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    lagged = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    return float(np.abs(lagged).max() / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def audio_files(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise SystemExit(f"find_overlaps: {name}: no such file or folder")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--splits", default="valid,test")
    parser.add_argument("--threshold", type=float, default=0.9)
    args = parser.parse_args(argv)

    from codecsep_mm.data.corpus import read_corpus
    from codecsep_mm.errors import AudioInputError

    splits = {s.strip() for s in args.splits.split(",") if s.strip()}
    corpus = Path(args.corpus)
    # each held recording's length and the part that is compared (whole soundtracks would not fit)
    held = []
    for record in read_corpus(corpus):
        if record.split in splits:
            wav = mono_8k(corpus / record.path)
            held.append((record, len(wav), wav[: RATE * MAX_SECONDS]))
    pairs = []
    for path in audio_files(args.paths):
        try:
            wav = mono_8k(path)
        except AudioInputError as error:  # silent or empty files cannot repeat anything
            print(f"skipped {path}: {error}", file=sys.stderr)
            continue
        for record, length, other in held:
            if abs(len(wav) - length) <= 0.25 * max(len(wav), length) + RATE // 10:
                value = correlation(wav, other)
                if value >= args.threshold:
                    pairs.append((value, str(path), record))
    for value, path, record in sorted(pairs, key=lambda p: -p[0]):
        print(f"{value:.2f}  {path}  repeats  {record.split} {record.cls} {record.label!r}  {record.path}")
    print(f"{len(pairs)} pairs at or above {args.threshold} among the {len(held)} recordings of "
          f"{', '.join(sorted(splits))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
