"""The documented examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import soundfile as sf
from conftest import tone_mix

DOCS = Path(__file__).resolve().parents[1] / "docs"


def python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.S)


def test_custom_encoder_in_ten_lines(tmp_path, monkeypatch, capsys):
    from codecsep_mm.prompts import base

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(base, "_FACTORIES", dict(base._FACTORIES))
    sf.write("mix.wav", tone_mix(1.0).T, 16000)
    namespace: dict = {}
    blocks = python_blocks("custom_encoder.md")
    assert len(blocks[0].strip().splitlines()) <= 20
    for block in blocks:
        exec(compile(block, "custom_encoder.md", "exec"), namespace)
    assert "my-sbert" in base.available()
    result = namespace["result"]
    assert result.labels == ["a dog barking", "rain on a roof"] and result.stems.shape == (2, 1, 16000)
    encoder = namespace["separator"].prompt_encoder
    dog, puppy, piano = encoder.encode(["a dog barking", "a puppy yelping", "solo piano"])
    assert float(dog @ puppy) > float(dog @ piano) + 0.2
