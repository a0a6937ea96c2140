"""Which recordings of a source manifest carry a DC offset: those whose mean is more than ``--min-offset`` of their RMS.

The separator takes a mixture's offset out before it encodes it (``separation.remove_offset``); a
masker trained on mixtures of such recordings heard their offsets. This prints, per class, how many
recordings carry one, and the packages that hold most of them; and the silent recordings (every
sample within 1e-6 of 0), which a mixture made with one holds one source fewer than it says.

Usage:
    python benchmarks/source_offsets.py /work/corpus/train.jsonl [--min-offset 0.05] [--limit N] [--seed 0]
"""

from __future__ import annotations

import argparse
import collections
import random

from dc_offset import offset_share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", help="a source manifest (e.g. the corpus's train.jsonl)")
    parser.add_argument("--min-offset", type=float, default=0.05, help="mean over RMS a recording must exceed")
    parser.add_argument("--limit", type=int, default=None, help="read this many recordings drawn at random")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import soundfile as sf

    from codecsep_mm.audio import SILENCE_PEAK
    from codecsep_mm.data.manifest import read_sources
    from codecsep_mm.eval.metrics import mono

    records = read_sources(args.manifest)
    if args.limit is not None and args.limit < len(records):
        records = random.Random(args.seed).sample(records, args.limit)
    total: collections.Counter[str] = collections.Counter()
    offset: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    silent: list[str] = []
    for record in records:
        total[record.cls] += 1
        wav, _ = sf.read(record.path, dtype="float32", always_2d=True)  # silent ones too: offset 0
        if not wav.size or float(abs(wav).max()) <= SILENCE_PEAK:
            silent.append(f"{record.cls} {record.path}")
        if offset_share(mono(wav.T)) > args.min_offset:
            offset[record.cls] += 1
            packages[record.package or "?"] += 1
    print(f"{len(records)} recordings of {args.manifest}; with a mean above {args.min_offset:.0%} of their RMS:")
    for cls in sorted(total):
        print(f"  {cls:7s} {offset[cls]:5d} of {total[cls]:5d} ({offset[cls] / total[cls]:.1%})")
    print("  packages: " + ", ".join(f"{name} {count}" for name, count in packages.most_common(8)))
    print(f"silent: {len(silent)}" + "".join(f"\n  {line}" for line in silent[:20]))


if __name__ == "__main__":
    main()
