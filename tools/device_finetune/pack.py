"""Pack a corpus subset small enough to travel to a lent GPU machine (the working tree it receives is
capped at 64 MiB, and it has no MiniLM weights).

    HF_HUB_OFFLINE=1 python tools/device_finetune/pack.py CORPUS --out .gpu

writes into ``--out``: one Ogg Opus stream per class of training recordings (``speech.opus``,
``music.opus``, ``sfx.opus``; about 19 kbit/s; or lossless FLAC with ``--format flac``, about five
times as large), ``index.jsonl.gz`` (each record with its place in its stream), ``text_table.pt`` (the text encoder's embedding of every text prompt those records can give
under the default templates) and ``mel-16000-512-64.npy`` (the starter audio encoder's mel filterbank).
Speech is a random subset of utterances; music and sound effects are every training recording (or a
random ``--music-recordings`` / ``--sfx-recordings`` of them), each cut to one random excerpt of at
most ``--music-seconds`` / ``--sfx-seconds`` (music recordings long enough: ``--music-excerpts``
excerpts from different stretches; ``unpack.py`` then also writes a manifest of the first excerpts
only, for a control run).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from codecsep_mm.data.manifest import CLASSES

RATE = 16000
FORMATS = {"opus": ("OGG", "OPUS"), "flac": ("FLAC", "PCM_16")}  # file extension -> libsndfile's names


def excerpt_starts(frames: int, want: int, count: int, rng) -> list[int]:
    """Starts of ``count`` excerpts of ``want`` frames, one at random in each of ``count`` equal
    stretches of a recording of ``frames`` frames (fewer when the recording is too short)."""
    count = max(1, min(count, frames // max(want, 1)))
    stretch = frames // count
    return [k * stretch + int(rng.integers(0, stretch - want + 1)) if stretch >= want
            else int(rng.integers(0, frames - want + 1)) for k in range(count)]


def pack_audio(corpus: Path, out: Path, n_speech: int, caps: dict[str, float], seed: int,
               compression: float, music_excerpts: int = 1, audio_format: str = "opus",
               counts: dict[str, int] | None = None) -> list[dict]:
    """Write the per-class streams (``audio_format``: ``opus`` or ``flac``) and ``index.jsonl.gz``;
    returns the index rows. ``counts`` caps the recordings of a class (a random subset; speech is
    always ``n_speech`` of them). A music recording long enough gives ``music_excerpts`` excerpts;
    the rows of all but its first say ``extra_excerpt``."""
    import gzip

    import soundfile as sf

    if audio_format not in FORMATS:
        raise SystemExit(f"unknown format {audio_format!r}; use one of {', '.join(FORMATS)}")
    rng = np.random.default_rng(seed)
    records = [json.loads(line) for line in open(corpus / "sources.jsonl")]
    train = [r for r in records if r["split"] == "train"]
    by_class = {c: [r for r in train if r["class"] == c] for c in CLASSES}
    counts = {"speech": n_speech, **{c: n for c, n in (counts or {}).items() if c != "speech"}}
    chosen = {c: by_class[c] for c in CLASSES}
    for cls, n in counts.items():  # speech first: the same draws as before the other counts existed
        picked = sorted(rng.choice(len(chosen[cls]), min(n, len(chosen[cls])), replace=False))
        chosen[cls] = [chosen[cls][i] for i in picked]
    index = []
    for cls, recs in chosen.items():
        parts, offset = [], 0
        for r in recs:
            info = sf.info(corpus / r["path"])
            if info.samplerate != RATE or info.channels != 1:
                raise SystemExit(f"{r['path']}: expected 16 kHz mono, got {info.samplerate} Hz x {info.channels}")
            want = min(info.frames, int(caps.get(cls, 1e9) * RATE))
            starts = excerpt_starts(info.frames, want, music_excerpts if cls == "music" else 1, rng)
            for k, start in enumerate(starts):
                wav, _ = sf.read(corpus / r["path"], start=start, stop=start + want, dtype="float32")
                parts.append(wav)
                index.append({**r, "offset": offset, "frames": len(wav), "excerpt_start": start,
                              "stream": cls, **({"extra_excerpt": True} if k else {})})
                offset += len(wav)
        audio = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        container, subtype = FORMATS[audio_format]
        stream = out / f"{cls}.{audio_format}"
        sf.write(stream, audio, RATE, format=container, subtype=subtype, compression_level=compression)
        size = stream.stat().st_size
        excerpts = sum(1 for row in index if row["stream"] == cls)
        print(f"{cls}: {len(recs)} recordings, {excerpts} excerpts, {len(audio) / RATE:.0f} s, {size / 1e6:.2f} MB")
    with gzip.open(out / "index.jsonl.gz", "wt") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in index)
    return index


def text_table(index: list[dict], encoder_name: str, **options) -> dict:
    """Every text prompt the records can give (class word, label, caption, through the default
    templates) and its embedding, float16."""
    from codecsep_mm.data.manifest import CLASS_WORDS
    from codecsep_mm.data.mixing import MixingConfig
    from codecsep_mm.prompts import create

    templates = MixingConfig().templates
    texts = set(CLASS_WORDS.values())
    for r in index:
        values = {"class": CLASS_WORDS[r["class"]], "label": r.get("label"), "caption": r.get("caption")}
        for key, value in values.items():
            if value:
                texts.update(t.format(value) for t in templates.get(key, ["{}"]))
    ordered = sorted(texts)
    vectors = create(encoder_name, **options).encode(ordered)
    return {"texts": ordered, "vectors": vectors.half()}


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="a corpus built by `codecsep-mm data build`")
    parser.add_argument("--out", type=Path, default=Path(".gpu"))
    parser.add_argument("--speech", type=int, default=1500, help="utterances of speech")
    parser.add_argument("--music-seconds", type=float, default=5.0)
    parser.add_argument("--sfx-seconds", type=float, default=8.0)
    parser.add_argument("--music-excerpts", type=int, default=1,
                        help="excerpts of each music recording long enough for them (from different stretches)")
    parser.add_argument("--music-recordings", type=int, help="a random subset of the music recordings")
    parser.add_argument("--sfx-recordings", type=int, help="a random subset of the sound-effect recordings")
    parser.add_argument("--format", choices=sorted(FORMATS), default="opus",
                        help="opus (lossy, small) or flac (lossless, about five times as large)")
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--compression", type=float, default=0.95, help="libsndfile's Opus compression level")
    parser.add_argument("--text-encoder", default="minilm-text")
    args = parser.parse_args(argv)
    if not (args.corpus / "sources.jsonl").exists():
        raise SystemExit(f"{args.corpus}: no sources.jsonl; give a folder made by `codecsep-mm data build`")
    args.out.mkdir(parents=True, exist_ok=True)
    caps = {"music": args.music_seconds, "sfx": args.sfx_seconds}
    counts = {cls: n for cls, n in (("music", args.music_recordings), ("sfx", args.sfx_recordings))
              if n is not None}
    index = pack_audio(args.corpus, args.out, args.speech, caps, args.seed, args.compression,
                       args.music_excerpts, args.format, counts)
    table = text_table(index, args.text_encoder)
    torch.save(table, args.out / "text_table.pt")
    print(f"text table: {len(table['texts'])} prompts")
    import librosa

    np.save(args.out / "mel-16000-512-64.npy", librosa.filters.mel(sr=RATE, n_fft=512, n_mels=64))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
