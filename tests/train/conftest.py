"""Fixtures for training tests: a tiny config and a small manifest of synthetic recordings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codecsep_mm.data.synthetic import SYNTHETIC_SOURCES, SyntheticBank

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / "configs" / "tiny.yaml"


def tiny_overrides(out_dir: Path, steps: int = 2, **extra) -> list[str]:
    """``--set`` overrides for a fast, quiet run of configs/tiny.yaml."""
    values = {"run.out_dir": str(out_dir), "run.steps": steps, "run.progress": False,
              "run.valid_every": max(1, steps), "run.checkpoint_every": max(1, steps),
              "data.valid_items": 4, "data.mixing.crop_seconds": 0.5, "run.batch_size": 2, **extra}
    args = []
    for key, value in values.items():
        args += ["--set", f"{key}={json.dumps(value) if isinstance(value, bool) else value}"]
    return args


@pytest.fixture
def source_manifest(tmp_path) -> Path:
    """A source manifest over FLAC files rendered from the synthetic sources (train and valid)."""
    import soundfile as sf

    folder = tmp_path / "corpus"
    folder.mkdir()
    lines = []
    rng = np.random.default_rng(0)
    for cls in SYNTHETIC_SOURCES:
        bank = SyntheticBank(cls, 16000)
        for index, record in enumerate(bank.records):
            for split in ("train", "valid"):
                name = f"{cls}-{index}-{split}.flac"
                sf.write(folder / name, 0.5 * bank.crop(index, 24000, rng), 16000)
                lines.append({"path": name, "class": cls, "label": record.label,
                              "caption": record.caption, "licence": "CC0-1.0", "split": split})
    path = folder / "sources.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path
