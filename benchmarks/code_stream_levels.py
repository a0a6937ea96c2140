"""How well does a code stream know its own loudness? Recorded levels against the decoded audio.

Code-stream mode reads each window at a gain set from the loudness the stream records, never from
audio (the codec's decoder does not run). A mixture from ``encode_codes`` records a loudness profile
of the audio it coded; a stem from ``separate_codes`` records only ``input_db`` and ``gain_db``, so
the level its codes hold is ``input_db - gain_db``. This script encodes each mixture, separates it in
code-stream mode, decodes every stream and prints, in dB, the recorded level less the loudness of
the decoded audio (before ``gain_db`` restores it): positive means the stream thinks it is louder
than what its codes hold.

Usage:
    python benchmarks/code_stream_levels.py --model starter-16k \\
        [--manifest /work/openmix-rendered/mixtures.jsonl --limit 20] [--prompts speech music "sound effects"]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

EXAMPLE = Path(__file__).resolve().parents[1] / "codecsep_mm" / "data" / "example_mixture.flac"


def level_errors(separator, wav, sample_rate: int, prompts: list[str]) -> dict[str, float]:
    """``{"mixture": dB, prompt...: dB, "residual": dB}``: recorded level less the decoded level."""
    from codecsep_mm.audio import loudness_lufs, profile_loudness
    from codecsep_mm.separator import PROFILE_KEY

    def held(stream):  # what the codes hold: the decoded audio before gain_db restores its level
        return separator.decode_codes(stream) * 10 ** (-float(stream.extra.get("gain_db", 0.0)) / 20)

    stream = separator.encode_codes(wav, sample_rate)
    recorded = profile_loudness(stream.extra[PROFILE_KEY], separator.sample_rate, separator.codec.hop_length)
    errors = {"mixture": recorded - loudness_lufs(held(stream), sample_rate)}
    for key, stem in separator.separate_codes(stream, prompts, residual=True).items():
        recorded = stem.input_db - float(stem.extra["gain_db"])
        errors[key] = recorded - loudness_lufs(held(stem), sample_rate)
    return errors


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="starter-16k")
    parser.add_argument("--manifest", help="a rendered benchmark's mixtures.jsonl (default: the example mixture)")
    parser.add_argument("--limit", type=int, default=20, help="mixtures from the manifest (default 20)")
    parser.add_argument("--prompts", nargs="+", default=["speech", "music", "sound effects"])
    args = parser.parse_args(argv)

    import numpy as np

    from codecsep_mm import Separator
    from codecsep_mm.audio import load_audio

    if args.manifest:
        root = Path(args.manifest).parent
        with open(args.manifest) as handle:
            paths = [root / json.loads(line)["mixture"] for line in handle if line.strip()][: args.limit]
    else:
        paths = [EXAMPLE]
    separator = Separator.from_pretrained(args.model)
    rows = []
    for path in paths:
        wav, rate = load_audio(path)
        errors = level_errors(separator, wav, rate, args.prompts)
        rows.append(errors)
        print(f"{path.name}: " + ", ".join(f"{key} {value:+.2f}" for key, value in errors.items()))
    for key in rows[0]:
        values = np.array([row[key] for row in rows])
        print(f"{key:>16}: mean {values.mean():+.2f} dB, range {values.min():+.2f} to {values.max():+.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
