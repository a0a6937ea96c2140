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
    assert tool.main(["tiny", "--out", str(out), "--name", "starter-test", "--mask-floor", "0.05",
                      "--input-lufs", "-27", "--mask-power", "0.7"]) == 0
    assert "MB" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["name"] == "starter-test" and config["separation"]["mask_floor"] == 0.05
    assert config["separation"]["input_lufs"] == -27.0 and config["separation"]["mask_power"] == 0.7
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
    assert tool.main(["tiny", "--out", str(tmp_path / "refused"), "--mask-floor", "1.5"]) == 2
    assert "mask_floor" in capsys.readouterr().err and not (tmp_path / "refused").exists()
    assert tool.main(["tiny", "--out", str(tmp_path / "refused"), "--input-lufs", "6"]) == 2
    assert "input_lufs" in capsys.readouterr().err and not (tmp_path / "refused").exists()
    assert tool.main(["tiny", "--out", str(tmp_path / "refused"), "--mask-power", "9"]) == 2
    assert "mask_power" in capsys.readouterr().err and not (tmp_path / "refused").exists()


def test_the_built_model_can_take_only_the_quantizer_of_another_codec(tmp_path, capsys):
    from codecsep_mm.codecs.dac_backend import build_dac, save_dac_weights
    from codecsep_mm.codecs.presets import get_codec_preset

    tool = _tool()
    torch.manual_seed(2)  # a codec of the same architecture: every part differs from tiny's
    other = save_dac_weights(build_dac(get_codec_preset("tiny").dac_kwargs), tmp_path / "other.pth")
    out = tmp_path / "starter"
    assert tool.main(["tiny", "--out", str(out), "--quantizer", str(other)]) == 0
    assert f"quantizer: from {other}" in capsys.readouterr().out
    # tiny's codec is a named preset; the one swapped in is stored as weights, not as that name
    assert json.loads((out / "config.json").read_text())["codec"]["weights"] == "codec.safetensors"
    built = Separator.from_pretrained(out).codec.model.state_dict()
    tiny = Separator.from_pretrained("tiny").codec.model.state_dict()
    from codecsep_mm.codecs import create_codec

    donor = create_codec(other).model.state_dict()  # through the backend the model's codec uses
    for key, value in built.items():  # float16 in the folder
        expected = donor[key] if key.startswith("quantizer.") else tiny[key]
        torch.testing.assert_close(value, expected.half().float(), atol=1e-3, rtol=1e-3)
    assert any(not torch.allclose(tiny[k], donor[k], atol=1e-2) for k in tiny if k.startswith("quantizer."))

    smaller = {**get_codec_preset("tiny").dac_kwargs, "codebook_size": 8}
    foreign = save_dac_weights(build_dac(smaller), tmp_path / "smaller.pth")
    assert tool.main(["tiny", "--out", str(tmp_path / "refused"), "--quantizer", str(foreign)]) == 2
    assert "another architecture than the model's codec" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()


def test_the_built_model_can_take_the_mean_of_several_masker_checkpoints(tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    tool = _tool()
    plain = tmp_path / "plain"
    assert tool.main(["tiny", "--out", str(plain)]) == 0
    weights = {k: v.float() for k, v in load_file(str(plain / "masker.safetensors")).items()}
    shifted = tmp_path / "ckpt" / "masker.safetensors"
    shifted.parent.mkdir()
    save_file({k: v + 1.0 if v.is_floating_point() else v for k, v in weights.items()}, str(shifted))
    unchanged = tmp_path / "same.safetensors"
    save_file(weights, str(unchanged))

    out = tmp_path / "averaged"
    assert tool.main(["tiny", "--out", str(out), "--average", str(shifted.parent), str(unchanged)]) == 0
    assert "mean of 2 sets of weights" in capsys.readouterr().out
    averaged = load_file(str(out / "masker.safetensors"))
    for key, value in weights.items():
        expected = value + 0.5 if value.is_floating_point() else value
        torch.testing.assert_close(averaged[key].float(), expected.float(), atol=2e-3, rtol=2e-3)

    between = tmp_path / "between"  # a model folder and a fine-tune of it: their weights interpolated
    assert tool.main(["tiny", "--out", str(between), "--average", str(plain), str(shifted.parent)]) == 0
    interpolated = load_file(str(between / "masker.safetensors"))
    assert set(interpolated) == set(averaged)
    for key, value in averaged.items():
        torch.testing.assert_close(interpolated[key].float(), value.float(), atol=2e-3, rtol=2e-3)

    assert tool.main(["tiny", "--out", str(tmp_path / "refused"), "--average", str(tmp_path / "nothing")]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()
