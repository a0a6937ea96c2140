"""On the GPU machine: the packed Opus streams -> one WAV per record and a ``sources.jsonl`` for them
(and ``sources-first.jsonl``, without the extra music excerpts, when the pack has them).

    python tools/device_finetune/unpack.py .gpu /tmp/data-gpu
"""

from __future__ import annotations

import gzip
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from codecsep_mm.data.manifest import CLASSES

DROPPED = ("offset", "frames", "excerpt_start", "stream", "sha256", "extra_excerpt")


def unpack(src: Path, out: Path, cls: str) -> list[dict]:
    import soundfile as sf

    audio, rate = sf.read(src / f"{cls}.opus", dtype="float32")
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


def main(src: Path, out: Path) -> int:
    (out / "audio").mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(len(CLASSES)) as pool:
        parts = list(pool.map(unpack, [src] * len(CLASSES), [out] * len(CLASSES), CLASSES))
    rows = [pair for part in parts for pair in part]
    with open(out / "sources.jsonl", "w") as handle:
        handle.writelines(json.dumps(row) + "\n" for row, _ in rows)
    if any(extra for _, extra in rows):  # a control manifest: one excerpt per recording
        with open(out / "sources-first.jsonl", "w") as handle:
            handle.writelines(json.dumps(row) + "\n" for row, extra in rows if not extra)
    print("unpacked", len(rows), "records")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]), Path(sys.argv[2])))
