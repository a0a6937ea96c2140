"""The prompt-encoder registry: built-in names, unknown names, and encoders contributed by another
installed package through the ``codecsep_mm.prompt_encoders`` entry-point group."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from codecsep_mm.errors import ConfigError, PromptError, UnknownNameError
from codecsep_mm.prompts import ENTRY_POINT_GROUP, PromptEncoder, available, base, create

FIXTURE_PACKAGE = Path(__file__).parent / "fixture_pkg"
BUILT_IN = {
    "hash-text",
    "clap-text",
    "clap-audio",
    "openclip-image",
    "openclip-text",
    "minilm-text",
}


def test_built_in_encoders_are_registered_without_loading_their_libraries():
    code = (
        "import sys, codecsep_mm.prompts as p; names = p.available(); "
        "heavy = {'laion_clap', 'open_clip', 'sentence_transformers', 'transformers', 'PIL'}; "
        "print(sorted(names)); print(sorted(heavy & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    names, heavy = done.stdout.strip().splitlines()
    assert BUILT_IN <= set(ast.literal_eval(names))
    assert heavy == "[]"


def test_unknown_encoder_name_lists_the_known_ones():
    with pytest.raises(UnknownNameError, match="unknown prompt encoder 'clap-txt'.*clap-text"):
        create("clap-txt")


def install_fixture_package(tmp_path: Path) -> Path:
    """pip-install a copy of the fixture distribution into a private folder; return the folder."""
    source, target = tmp_path / "fixture-src", tmp_path / "site"
    shutil.copytree(FIXTURE_PACKAGE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-index",
        "--no-build-isolation",
        "--target",
        str(target),
        str(source),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)
    if done.returncode != 0 and "No module named" in done.stderr and "setuptools" in done.stderr:
        pytest.skip("setuptools is not installed; cannot build the fixture package")
    assert done.returncode == 0, done.stderr
    return target


def test_an_option_an_encoder_does_not_take_is_named_with_those_it_does(capsys, tmp_path):
    from codecsep_mm.cli import main

    with pytest.raises(ConfigError, match=r"prompt encoder 'hash-text' has no option 'colour' \(not an argument of "
                                          r"HashTextEncoder.__init__\); check the spelling"):
        create("hash-text", colour="blue")
    with pytest.raises(ConfigError, match="hash-text embed_dim is 'x'; give a whole number"):
        create("hash-text", embed_dim="x")
    captions = tmp_path / "captions.txt"
    captions.write_text("a\nb\n")
    code = main(["fit-projection", "--source", "hash-text", "--source-option", "dims=32", "--target", "hash-text",
                 "--captions", str(captions), "-o", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert code == 2 and "has no option 'dims'" in err and err.count("\n") == 1
    assert not (tmp_path / "p").exists()


def test_entry_point_encoder_from_an_installed_package(tmp_path, monkeypatch):
    target = install_fixture_package(tmp_path)
    entry_points = next(target.glob("codecsep_mm_fixture_encoder-*.dist-info")) / "entry_points.txt"
    assert f"[{ENTRY_POINT_GROUP}]" in entry_points.read_text()

    monkeypatch.syspath_prepend(str(target))
    monkeypatch.setattr(base, "_entry_points_loaded", False)
    monkeypatch.setattr(base, "_FACTORIES", dict(base._FACTORIES))
    sys.modules.pop("fixture_encoder", None)
    try:
        assert "fixture-text" in available()
        assert "fixture_encoder" not in sys.modules, "entry points load only when created"
        encoder = create("fixture-text", embed_dim=4)
        assert "fixture_encoder" in sys.modules
        assert isinstance(encoder, PromptEncoder)
        assert (encoder.name, encoder.modality, encoder.space) == (
            "fixture-text",
            "text",
            "fixture-letters-4",
        )
        rows = encoder.encode(["abba", "cd", "baab"])
        assert rows.shape == (3, 4)
        assert torch.allclose(rows.norm(dim=-1), torch.ones(3), atol=1e-6)
        assert torch.allclose(rows[0], rows[2]) and (rows[0] @ rows[1]).item() < 0.1
        with pytest.raises(PromptError):
            encoder.encode([""])
    finally:
        sys.modules.pop("fixture_encoder", None)
