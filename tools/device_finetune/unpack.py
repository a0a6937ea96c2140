"""On the GPU machine: the packed streams (Opus or FLAC) -> one WAV per record and a ``sources.jsonl``
for them (and ``sources-first.jsonl``, without the extra music excerpts, when the pack has them).

    python tools/device_finetune/unpack.py .gpu /tmp/data-gpu [--through-opus]

``--through-opus`` codes each stream as Opus at the packer's default setting (about 19 kbit/s) and
decodes it before cutting it: from a lossless pack, the same excerpts as a lossy pack would give, for
a control run that differs from a lossless one only in the coding.
"""

from __future__ import annotations

import gzip
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from codecsep_mm.data.manifest import CLASSES

DROPPED = ("offset", "frames", "excerpt_start", "stream", "sha256", "extra_excerpt")
OPUS_COMPRESSION = 0.95  # pack.py's default


def read_stream(src: Path, cls: str, through_opus: bool = False):
    """The class's packed stream (``CLS.opus`` or ``CLS.flac``) decoded, optionally after a round
    trip through Opus; ``(audio, rate)``."""
    import io

    import soundfile as sf

    found = [src / f"{cls}.{ext}" for ext in ("opus", "flac") if (src / f"{cls}.{ext}").exists()]
    if len(found) != 1:
        raise SystemExit(f"{src}: expected one of {cls}.opus and {cls}.flac, found {len(found)}")
    audio, rate = sf.read(found[0], dtype="float32")
    if through_opus:
        coded = io.BytesIO()
        sf.write(coded, audio, rate, format="OGG", subtype="OPUS", compression_level=OPUS_COMPRESSION)
        coded.seek(0)
        audio, rate = sf.read(coded, dtype="float32")
    return audio, rate


def unpack(src: Path, out: Path, cls: str, through_opus: bool = False) -> list[dict]:
    import soundfile as sf

    audio, rate = read_stream(src, cls, through_opus)
    rows = [json.loads(line) for line in gzip.open(src / "index.jsonl.gz", "rt")]
    written = []
    for i, r in enumerate(rows):
        if r["stream"] != cls:
            continue
        clip = audio[r["offset"]: r["offset"] + r["frames"]]
        if len(clip) != r["frames"]:
            raise SystemExit(f"{cls}.opus is shorter than its index says (record {i})")
        path = out / "audio" / f"{cls}-{i:05d}.wav"
        sf.write(path, clip, rate, subtype="PCM_16")
        keep = {k: v for k, v in r.items() if k not in DROPPED}
        row = {**keep, "path": str(path.relative_to(out)), "duration": round(len(clip) / rate, 4)}
        written.append((row, bool(r.get("extra_excerpt"))))
    return written


def main(src: Path, out: Path, through_opus: bool = False) -> int:
    (out / "audio").mkdir(parents=True, exist_ok=True)
    n = len(CLASSES)
    with ProcessPoolExecutor(n) as pool:
        parts = list(pool.map(unpack, [src] * n, [out] * n, CLASSES, [through_opus] * n))
    rows = [pair for part in parts for pair in part]
    with open(out / "sources.jsonl", "w") as handle:
        handle.writelines(json.dumps(row) + "\n" for row, _ in rows)
    if any(extra for _, extra in rows):  # a control manifest: one excerpt per recording
        with open(out / "sources-first.jsonl", "w") as handle:
            handle.writelines(json.dumps(row) + "\n" for row, extra in rows if not extra)
    print("unpacked", len(rows), "records")
    return 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--through-opus"]
    if len(args) != 2:
        raise SystemExit("usage: unpack.py PACKED_FOLDER OUT_FOLDER [--through-opus]")
    raise SystemExit(main(Path(args[0]), Path(args[1]), "--through-opus" in sys.argv[1:]))
