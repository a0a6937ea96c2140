"""tools/device_finetune: the packed subset comes back, record by record, as the manifest it came from."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"device_finetune_{name}",
                                                  REPO / "tools" / "device_finetune" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # unpack's worker processes find their function by module name
    spec.loader.exec_module(module)
    return module


def _corpus(root: Path) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for i, (cls, seconds, label) in enumerate([("speech", 1.0, "speech"), ("speech", 1.5, "speech"),
                                               ("speech", 0.7, "speech"), ("music", 12.0, "piano"),
                                               ("music", 2.0, "flute"), ("sfx", 9.0, "dog"),
                                               ("sfx", 0.3, "click"), ("sfx", 1.0, "dog")]):
        path = root / "audio" / f"{i}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32), 16000)
        rows.append({"path": f"audio/{i}.flac", "class": cls, "label": label, "caption": f"a {label} {i}",
                     "split": "train", "duration": seconds, "sha256": "x"})
    rows.append({**rows[0], "split": "valid"})
    (root / "sources.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _pack(tmp_path: Path, **options) -> tuple[list[dict], Path, Path]:
    """The fake corpus packed (two speech utterances, music cut to 5 s, sound effects to 8 s):
    the index, the corpus folder and the packed folder."""
    corpus, packed = tmp_path / "corpus", tmp_path / "packed"
    _corpus(corpus)
    packed.mkdir()
    index = _load("pack").pack_audio(corpus, packed, n_speech=2, caps={"music": 5.0, "sfx": 8.0}, seed=1,
                                     compression=0.5, **options)
    return index, corpus, packed


def test_pack_then_unpack_gives_every_record_its_excerpt(tmp_path):
    unpack, out = _load("unpack"), tmp_path / "unpacked"
    index, corpus, packed = _pack(tmp_path)
    assert [r["class"] for r in index].count("speech") == 2  # a subset; the valid split never
    frames = {r["path"]: r["frames"] for r in index}
    assert frames["audio/3.flac"] == 5 * 16000 and frames["audio/5.flac"] == 8 * 16000  # excerpts
    assert frames["audio/6.flac"] == int(0.3 * 16000)  # shorter than its cap: whole

    assert unpack.main(packed, out) == 0
    rows = [json.loads(line) for line in open(out / "sources.jsonl")]
    assert len(rows) == len(index) == 7
    for row, packed_row in zip(sorted(rows, key=lambda r: r["caption"]),
                               sorted(index, key=lambda r: r["caption"])):
        info = sf.info(out / row["path"])
        assert info.frames == packed_row["frames"] and info.samplerate == 16000
        assert row["duration"] == round(packed_row["frames"] / 16000, 4)
        assert row["label"] == packed_row["label"] and "offset" not in row and "sha256" not in row
        start = packed_row["excerpt_start"]
        original, _ = sf.read(corpus / packed_row["path"], start=start, stop=start + packed_row["frames"])
        decoded, _ = sf.read(out / row["path"])
        # lossy but aligned: the excerpt, not a neighbour's samples
        assert np.corrcoef(original, decoded)[0, 1] > 0.5
    assert not (out / "sources-first.jsonl").exists()  # one excerpt each: no control manifest


def test_long_music_gives_excerpts_from_different_stretches_and_a_control_manifest(tmp_path):
    unpack, out = _load("unpack"), tmp_path / "unpacked"
    index, _, packed = _pack(tmp_path, music_excerpts=3)
    piano = [r for r in index if r["path"] == "audio/3.flac"]  # 12 s: room for two of 5 s, not three
    assert len(piano) == 2 and [bool(r.get("extra_excerpt")) for r in piano] == [False, True]
    assert piano[0]["excerpt_start"] <= 1 * 16000 and piano[1]["excerpt_start"] >= 6 * 16000
    assert sum(r["path"] == "audio/4.flac" for r in index) == 1  # 2 s: one, whole
    assert all(sum(r["path"] == p for r in index) == 1 for p in ("audio/5.flac", "audio/6.flac"))  # sfx: one

    assert unpack.main(packed, out) == 0
    rows = [json.loads(line) for line in open(out / "sources.jsonl")]
    first = [json.loads(line) for line in open(out / "sources-first.jsonl")]
    assert len(rows) == len(index) == 8 and len(first) == 7
    assert all("extra_excerpt" not in row for row in rows)
    assert sorted(r["caption"] for r in first) == sorted({r["caption"] for r in rows})


def test_a_lossless_pack_of_some_recordings_comes_back_exactly_and_through_opus_only_close(tmp_path):
    unpack = _load("unpack")
    index, corpus, packed = _pack(tmp_path, audio_format="flac", counts={"music": 1, "sfx": 2})
    assert sorted(p.name for p in packed.iterdir()) == ["index.jsonl.gz", "music.flac", "sfx.flac", "speech.flac"]
    assert [r["class"] for r in index].count("music") == 1 and [r["class"] for r in index].count("sfx") == 2

    for through_opus, out in ((False, tmp_path / "exact"), (True, tmp_path / "opus")):
        assert unpack.main(packed, out, through_opus) == 0
        rows = [json.loads(line) for line in open(out / "sources.jsonl")]
        assert len(rows) == len(index) == 5
        for row, packed_row in zip(sorted(rows, key=lambda r: r["caption"]),
                                   sorted(index, key=lambda r: r["caption"])):
            start = packed_row["excerpt_start"]
            original, _ = sf.read(corpus / packed_row["path"], start=start, stop=start + packed_row["frames"])
            decoded, _ = sf.read(out / row["path"])
            error = np.abs(original - decoded).max()
            if through_opus:  # aligned, but lossy
                assert error > 1e-3 and np.corrcoef(original, decoded)[0, 1] > 0.5
            else:  # 16-bit PCM: equal to the quantisation step
                assert error <= 1.0 / 32768 + 1e-7


def test_a_pack_in_an_unknown_format_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="unknown format 'mp3'"):
        _pack(tmp_path, audio_format="mp3")


def test_text_table_holds_every_prompt_the_records_can_give(tmp_path):
    pack = _load("pack")
    index = [{"class": "sfx", "label": "dog", "caption": "a dog barking"},
             {"class": "music", "label": "piano", "caption": None}]
    table = pack.text_table(index, "hash-text", embed_dim=16)
    assert {"dog", "the sound of dog", "a dog barking", "piano", "the sound of piano"} <= set(table["texts"])
    assert table["vectors"].shape == (len(table["texts"]), 16) and table["vectors"].dtype == torch.float16
