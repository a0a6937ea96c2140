"""Masker training with ``run.linear_encoder``: the same losses, many times cheaper."""

from __future__ import annotations

import json

import pytest

from codecsep_mm.cli import main

from .conftest import TINY_CONFIG, tiny_overrides


def test_training_with_the_linear_encoder_gives_the_same_losses(tmp_path, capsys, mdct_codec_path):

    codec = mdct_codec_path
    logs = {}
    for linear in (False, True):
        out = tmp_path / f"run-{linear}"
        args = tiny_overrides(out, steps=3, **{"run.valid_every": 3, "loss.kind": "latent",
                                               "loss.latent_db": True, "run.linear_encoder": linear,
                                               "run.log_every": 1})
        assert main(["train", str(TINY_CONFIG), *args, "--set", f"model.codec={codec}",
                     "--set", "model.masker_overrides={n_layers: 1, d_model: 16, n_heads: 2, ffn_dim: 32}"]) == 0
        logs[linear] = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    capsys.readouterr()
    losses = {k: [r["train/loss"] for r in v if "train/loss" in r] for k, v in logs.items()}
    valid = {k: [r["valid/loss"] for r in v if "valid/loss" in r] for k, v in logs.items()}
    assert len(losses[True]) == 3 and len(valid[True]) == 1
    assert losses[True] == pytest.approx(losses[False], abs=1e-3)
    assert valid[True] == pytest.approx(valid[False], abs=1e-3)


def test_training_refuses_the_linear_encoder_for_a_nonlinear_codec(tmp_path, capsys):

    args = tiny_overrides(tmp_path / "run", **{"run.linear_encoder": True})
    assert main(["train", str(TINY_CONFIG), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("codecsep-mm: error:") and "not linear" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run" / "checkpoints").exists()
