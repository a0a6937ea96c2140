"""tools/build_starter_model.py: a masker model folder becomes a standalone, float16 embedded model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch

from codecsep_mm import Separator
from codecsep_mm.prompts.query import Prompt

TOOL = Path(__file__).resolve().parents[1] / "tools" / "build_starter_model.py"


def _tool():
    spec = importlib.util.spec_from_file_location("build_starter_model", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_built_model_adds_image_prompts_and_refuses_a_foreign_codec(tmp_path, capsys):
    from codecsep_mm.codecs.dac_backend import build_dac, save_dac_weights
    from codecsep_mm.codecs.presets import get_codec_preset

    tool = _tool()
    out = tmp_path / "starter"
    assert tool.main(["tiny", "--out", str(out), "--name", "starter-test"]) == 0
    assert "MB" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["name"] == "starter-test"
    assert [e["name"] for e in config["prompt_encoders"]] == ["imagenet-image"]
    model = Separator.from_pretrained(out)
    assert model.encoders["image"].name == "imagenet-image"
    image = (torch.rand(64, 64, 3) * 255).to(torch.uint8).numpy()
    embedding, _, _ = model.encode_queries([Prompt.image(image)])
    assert embedding.shape == (1, model.masker.config.cond_dim)

    torch.manual_seed(1)  # another random codec of the same architecture: its encoder differs
    foreign = save_dac_weights(build_dac(get_codec_preset("tiny").dac_kwargs), tmp_path / "other.pth")
    assert tool.main(["tiny", "--out", str(tmp_path / "refused"), "--codec", str(foreign)]) == 2
    assert "another encoder than" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()
