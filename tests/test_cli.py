"""The command line: outputs, JSON summaries, and one-line errors for bad input."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import tone_mix

from codecsep_mm.cli import expand_inputs, main, slugify


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def wav_file(tmp_path):
    path = tmp_path / "in" / "mix.wav"
    path.parent.mkdir()
    sf.write(path, tone_mix(1.0).T, 16000)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_separate_writes_one_file_per_prompt_and_residual(capsys, wav_file, tmp_path):
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, "separate", wav_file, "--text", "A dog, barking!", "--text", "speech",
                          "--residual", "-o", out, "--format", "flac", "--json")
    assert code == 0
    summary = json.loads(stdout)
    assert set(summary["results"][0]["outputs"]) == {"a-dog-barking", "speech", "residual"}
    assert files_under(out) == ["mix/a-dog-barking.flac", "mix/residual.flac", "mix/speech.flac"]
    data, rate = sf.read(out / "mix" / "speech.flac")
    assert rate == 16000 and data.shape == (16000,)


def test_separate_batches_folders_and_globs(capsys, tmp_path):
    folder = tmp_path / "many"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.wav", "sub/b.flac", "sub/a.wav"):
        sf.write(folder / name, tone_mix(0.5).T, 16000)
    code, _, _ = run(capsys, "separate", folder, str(folder / "*.wav"), "--text", "x", "-o", tmp_path / "o")
    assert code == 0
    assert files_under(tmp_path / "o") == ["a-2/x.wav", "a/x.wav", "b/x.wav"]
    assert len(expand_inputs([str(folder), str(folder / "*.wav")])) == 3
    (folder / "sub" / "c.wav").write_text("not audio")  # sorted after a.wav and b.flac
    code, _, err = run(capsys, "separate", folder, "--text", "x", "-o", tmp_path / "o2")
    assert code == 2 and "c.wav: cannot read audio" in err and err.count("\n") == 1
    assert not (tmp_path / "o2").exists()  # none of the batch was written


def test_code_stream_commands(capsys, wav_file, tmp_path):
    codes = tmp_path / "mix.dac"
    assert run(capsys, "encode", wav_file, "-o", codes)[0] == 0
    assert run(capsys, "separate-codes", codes, "--text", "speech", "--residual", "-o", tmp_path / "s")[0] == 0
    assert files_under(tmp_path / "s") == ["residual.dac", "speech.dac"]
    assert run(capsys, "decode", tmp_path / "s" / "speech.dac", "-o", tmp_path / "speech.wav")[0] == 0
    assert sf.info(tmp_path / "speech.wav").frames == 16000


def test_separate_codes_writes_one_file_per_prompt_when_prompts_repeat(capsys, wav_file, tmp_path):
    from codecsep_mm.codecs import read_dac_file

    codes = tmp_path / "mix.dac"
    assert run(capsys, "encode", wav_file, "-o", codes)[0] == 0
    args = ("--text", "speech", "--text", "speech", "--text", "residual", "--residual", "-o", tmp_path / "s")
    assert run(capsys, "separate-codes", codes, *args)[0] == 0
    assert files_under(tmp_path / "s") == ["residual-2.dac", "residual.dac", "speech-2.dac", "speech.dac"]
    prompts = {name: read_dac_file(tmp_path / "s" / f"{name}.dac").extra["prompt"]
               for name in ("speech", "speech-2", "residual-2", "residual")}
    assert prompts == {"speech": "speech", "speech-2": "speech", "residual-2": "residual", "residual": "residual"}
    assert not (read_dac_file(tmp_path / "s" / "residual.dac").codes
                == read_dac_file(tmp_path / "s" / "residual-2.dac").codes).all()


def test_separate_codes_refuses_to_overwrite_its_input_before_writing_anything(capsys, wav_file, tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    codes = out / "speech.dac"
    assert run(capsys, "encode", wav_file, "-o", codes)[0] == 0
    before = codes.read_bytes()
    code, _, err = run(capsys, "separate-codes", codes, "--text", "music", "--text", "speech", "-o", out)
    assert code != 0 and "would overwrite the input" in err and len(err.strip().splitlines()) == 1
    assert files_under(out) == ["speech.dac"] and codes.read_bytes() == before

def test_separate_refuses_to_overwrite_an_input_before_writing_anything(capsys, wav_file, tmp_path):
    victim = tmp_path / "o" / "a" / "a.wav"  # with --text a and -o o, its own stem would land on it
    victim.parent.mkdir(parents=True)
    sf.write(victim, tone_mix(0.5).T, 16000)
    before = victim.read_bytes()
    code, _, err = run(capsys, "separate", wav_file, victim, "--text", "a", "-o", tmp_path / "o")
    assert code != 0 and "would overwrite an input" in err and len(err.strip().splitlines()) == 1
    assert files_under(tmp_path / "o") == ["a/a.wav"] and victim.read_bytes() == before

def test_a_mask_floor_from_the_command_line(capsys, wav_file, tmp_path):
    base = ["separate", wav_file, "--text", "speech"]  # the default model: its masks are far from 1
    assert run(capsys, *base, "-o", tmp_path / "plain")[0] == 0
    assert run(capsys, *base, "--mask-floor", "0.5", "-o", tmp_path / "floor")[0] == 0
    plain, floored = (sf.read(tmp_path / name / "mix" / "speech.wav")[0] for name in ("plain", "floor"))
    assert plain.shape == floored.shape and not np.allclose(plain, floored, atol=1e-3)
    before = digest(wav_file)
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in [*base, "--mask-floor", "1", "-o", tmp_path / "bad"]])
    assert exit_info.value.code == 2
    assert "the mask floor must be at least 0 and below 1" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists() and digest(wav_file) == before


def test_a_mask_power_from_the_command_line(capsys, wav_file, tmp_path):
    base = ["separate", wav_file, "--text", "speech"]
    assert run(capsys, *base, "-o", tmp_path / "plain")[0] == 0
    assert run(capsys, *base, "--mask-power", "0.5", "-o", tmp_path / "soft")[0] == 0
    plain, soft = (sf.read(tmp_path / name / "mix" / "speech.wav")[0] for name in ("plain", "soft"))
    assert plain.shape == soft.shape and not np.allclose(plain, soft, atol=1e-3)
    before = digest(wav_file)
    for bad in ("0", "many"):
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in [*base, "--mask-power", bad, "-o", tmp_path / "bad"]])
        assert exit_info.value.code == 2
        assert "give a mask power from 0.1 to 4" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists() and digest(wav_file) == before


def test_a_chunk_length_that_is_not_a_number_of_seconds_is_refused(capsys, wav_file, tmp_path):
    base = ["separate", wav_file, "--text", "speech"]
    before = digest(wav_file)
    for bad in ("nan", "inf", "-1", "x"):
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in [*base, "--chunk-seconds", bad, "-o", tmp_path / "bad"]])
        assert exit_info.value.code == 2
        assert f"{bad}: give a number of seconds >= 0" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists() and digest(wav_file) == before


def test_the_input_loudness_from_the_command_line(capsys, wav_file, tmp_path):
    base = ["separate", wav_file, "--text", "speech"]
    outputs = {}
    for name, value in (("quiet", "-40"), ("off", "off"), ("loud", "-10")):
        assert run(capsys, *base, "--input-lufs", value, "-o", tmp_path / name)[0] == 0
        outputs[name] = sf.read(tmp_path / name / "mix" / "speech.wav")[0]
    assert not np.allclose(outputs["quiet"], outputs["loud"], atol=1e-3)
    before = digest(wav_file)
    for bad in ("5", "loud"):
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in [*base, "--input-lufs", bad, "-o", tmp_path / "bad"]])
        assert exit_info.value.code == 2
        assert "give a loudness from -70 to 0 LUFS, or 'off'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists() and digest(wav_file) == before


def test_models_and_profile(capsys):
    code, out, _ = run(capsys, "models", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == 0 and rows["tiny"]["ready"] and not rows["codecsep-paper-16k"]["ready"]
    code, out, _ = run(capsys, "profile", "--model", "tiny", "--seconds", "2", "--json")
    report = json.loads(out)
    assert code == 0 and report["totals"]["code-stream mode"] < report["totals"]["wave mode"]
    assert report["rtf"]["wave mode"] > 0 and report["peak_memory_mb"] > 0
    for option, bad, message in (("--seconds", "0", "profile length 0.0 s; give 0.1 to 3600 seconds"),
                                 ("--seconds", "-1", "give 0.1 to 3600 seconds"),
                                 ("--seconds", "nan", "give 0.1 to 3600 seconds"),
                                 ("--seconds", "1e9", "give 0.1 to 3600 seconds"),
                                 ("--prompts", "0", "0 prompts; give a whole number from 1 to 64"),
                                 ("--prompts", "1000", "give a whole number from 1 to 64")):
        code, out, err = run(capsys, "profile", "--model", "tiny", option, bad)
        assert code == 2 and not out and message in err and len(err.strip().splitlines()) == 1


def test_slugify():
    assert slugify("  Solo PIANO -- soft ") == "solo-piano-soft"
    assert slugify("???") == "prompt"


def _bad_wavs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    cases = {}

    def write(name, data, rate=16000):
        path = tmp_path / name
        sf.write(path, data, rate, subtype="FLOAT")
        return path

    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00garbage" * 10)
    truncated = write("truncated.wav", tone_mix(1.0).T)
    truncated.write_bytes(truncated.read_bytes()[:-30000])
    cases["missing"] = (tmp_path / "nope.wav", "no such file")
    cases["corrupt"] = (corrupt, "cannot read audio")
    cases["truncated"] = (truncated, "truncated")
    cases["empty"] = (write("empty.wav", np.zeros((0, 1), np.float32)), "zero length")
    cases["silent"] = (write("silent.wav", np.zeros((16000, 1), np.float32)), "silent")
    nan = np.ones((16000, 1), np.float32)
    nan[5] = np.inf
    cases["nan"] = (write("nan.wav", nan), "NaN or infinite")
    cases["channels"] = (write("surround.wav", np.ones((16000, 6), np.float32) * 0.1), "6 channels")
    return cases


@pytest.mark.parametrize("case", ["missing", "corrupt", "truncated", "empty", "silent", "nan", "channels"])
def test_bad_audio_gives_one_line_error_and_no_output(capsys, tmp_path, case):
    path, message = _bad_wavs(tmp_path)[case]
    before = digest(path) if path.exists() else None
    code, out, err = run(capsys, "separate", path, "--text", "x", "-o", tmp_path / "out")
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("codecsep-mm: error:") and message in err
    assert files_under(tmp_path / "out") == []
    assert (digest(path) if path.exists() else None) == before


@pytest.mark.parametrize("case", ["truncated", "empty", "silent", "nan", "channels"])
def test_a_bad_file_anywhere_in_a_batch_stops_it_before_anything_is_written(capsys, wav_file, tmp_path, case):
    path, message = _bad_wavs(tmp_path)[case]
    code, _, err = run(capsys, "separate", wav_file, path, "--text", "x", "-o", tmp_path / "out")
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()  # not even the good first file's stems


def test_the_streamed_check_of_a_file_says_what_loading_it_would(tmp_path, monkeypatch):
    from codecsep_mm import audio

    monkeypatch.setattr(audio, "READ_BLOCK_FRAMES", 1000)  # many blocks: the NaN and the peak in a late one
    late = np.zeros((16000, 2), np.float32)
    late[15500, 1] = 0.5
    sf.write(tmp_path / "late.wav", late, 22050, subtype="FLOAT")
    assert audio.check_audio_file(tmp_path / "late.wav") == 22050
    late[15600, 0] = np.nan
    sf.write(tmp_path / "late-nan.wav", late, 22050, subtype="FLOAT")
    cases = {name: path for name, (path, _) in _bad_wavs(tmp_path).items()}
    cases["late-nan"] = tmp_path / "late-nan.wav"
    for name, path in cases.items():
        with pytest.raises(audio.AudioInputError) as loaded:
            audio.load_audio(path)
        with pytest.raises(audio.AudioInputError) as checked:
            audio.check_audio_file(path)
        assert str(checked.value) == str(loaded.value), name


def test_unknown_model(capsys, wav_file, tmp_path):
    code, _, err = run(capsys, "separate", wav_file, "--model", "giant", "--text", "x", "-o", tmp_path / "o")
    assert code != 0 and "unknown model 'giant'" in err and err.count("\n") == 1


@pytest.mark.parametrize("device, match", [("cuda", "no GPU is visible"), ("banana", "is not a device"),
                                           ("xla", "does not run on")])
def test_a_device_this_machine_lacks(capsys, wav_file, tmp_path, monkeypatch, device, match):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, _, err = run(capsys, "separate", wav_file, "--model", "tiny", "--device", device, "--text", "x",
                       "-o", tmp_path / "o")
    assert code == 2 and match in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_weights_missing_offline(capsys, wav_file, tmp_path):
    code, _, err = run(capsys, "separate", wav_file, "--model", "codecsep-paper-16k", "--text", "x", "-o", tmp_path / "o")
    assert code != 0 and "not found" in err and err.count("\n") == 1
    code, _, err = run(capsys, "download", "dac-16khz", "--timeout", "3")
    assert code != 0 and "could not download" in err
    for bad in ("0", "-1", "nan", "soon"):
        with pytest.raises(SystemExit) as exit_info:
            main(["download", "dac-16khz", "--timeout", bad])
        assert exit_info.value.code == 2
        assert f"{bad}: give a network timeout from 1 to 3600 seconds" in capsys.readouterr().err


def test_output_folder_that_is_a_file(capsys, wav_file, tmp_path):
    target = tmp_path / "taken"
    target.write_text("keep me")
    code, _, err = run(capsys, "separate", wav_file, "--text", "x", "-o", target)
    assert code != 0 and "is a file" in err and target.read_text() == "keep me"
    code, _, err = run(capsys, "separate", wav_file, "--text", "x", "-o", target / "deeper" / "out")
    assert code == 2 and "taken is a file, so no folder can be made there" in err and err.count("\n") == 1
    for command in (["encode", wav_file, "-o", target / "mix.dac"],
                    ["decode", tmp_path / "missing.dac", "-o", target / "x.wav"]):
        code, _, err = run(capsys, *command)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    code, _, err = run(capsys, "encode", wav_file, "-o", target / "mix.dac")
    assert "mix.dac: cannot write here" in err and target.read_text() == "keep me"


def test_dac_file_from_another_codec(capsys, tmp_path):
    from codecsep_mm.codecs import CodeStream, create_codec, write_dac_file

    other = create_codec("dac-16khz", random_weights=True)
    codes = other.quantize(other.encode(torch.randn(1, 1, 3200) * 0.1))
    path = write_dac_file(tmp_path / "other.dac", CodeStream(codes, 1, 3200, 16000, codec="dac-16khz",
                                                             fingerprint=other.fingerprint()))
    before = digest(path)
    code, _, err = run(capsys, "separate-codes", path, "--text", "x", "-o", tmp_path / "o")
    assert code != 0 and "dac-16khz" in err and "re-encode" in err
    code, _, err = run(capsys, "decode", path, "-o", tmp_path / "x.wav")
    assert code != 0 and not (tmp_path / "x.wav").exists() and digest(path) == before


def test_never_overwrites_the_input(capsys, wav_file):
    before = digest(wav_file)
    code, _, err = run(capsys, "decode", wav_file, "-o", wav_file)
    assert code != 0 and digest(wav_file) == before


def test_installed_entry_point_exit_code(tmp_path):
    env = {**os.environ, "CODECSEP_MM_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "codecsep_mm", "separate", str(tmp_path / "x.wav"),
                           "--text", "x", "-o", str(tmp_path / "o")], capture_output=True, text=True, env=env)
    assert done.returncode == 2 and done.stderr.strip().endswith("no such file; check the path")


def test_import_is_light():
    code = ("import sys, codecsep_mm, codecsep_mm.prompts, codecsep_mm.cli; "
            "heavy = {'gradio','laion_clap','open_clip','dac','sentence_transformers','transformers','torch'}; "
            "print(sorted(heavy & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in ("[]", "['torch']")


def test_negative_and_combined_prompts(capsys, wav_file, tmp_path):
    code, out, _ = run(capsys, "separate", wav_file, "--text", "speech", "--text", "dog", "--combine",
                       "--negative", "speech", "-o", tmp_path / "o", "--json")
    assert code == 0
    assert set(json.loads(out)["results"][0]["outputs"]) == {"speech-dog", "not-speech"}


def test_audio_query_without_audio_encoder_is_a_clear_error(capsys, wav_file, tmp_path):
    code, _, err = run(capsys, "separate", wav_file, "--model", "tiny", "--audio-query", wav_file,
                       "-o", tmp_path / "o")
    assert code != 0 and "no audio prompt encoder; add one (command line: --prompt-encoder NAME" in err and files_under(tmp_path / "o") == []


def test_the_default_model_takes_text_audio_and_image_prompts(capsys, wav_file, tmp_path):
    from PIL import Image

    image = tmp_path / "picture.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(image)
    code, out, err = run(capsys, "separate", wav_file, "--text", "speech", "--audio-query", wav_file,
                         "--image-query", image, "-o", tmp_path / "o", "--json")
    assert code == 0, err
    assert len(json.loads(out)["results"][0]["outputs"]) == 3


def test_unknown_prompt_encoder(capsys, wav_file, tmp_path):
    code, _, err = run(capsys, "separate", wav_file, "--text", "x", "--prompt-encoder", "nope", "-o", tmp_path / "o")
    assert code != 0 and "unknown prompt encoder 'nope'" in err


def test_fit_projection_from_captions(capsys, tmp_path):
    captions = tmp_path / "captions.txt"
    captions.write_text("\n".join(f"sound number {i}" for i in range(40)))
    code, out, _ = run(capsys, "fit-projection", "--source", "hash-text", "--source-option", "embed_dim=32",
                       "--source-option", "space=src", "--target", "hash-text", "--captions", captions,
                       "-o", tmp_path / "proj")
    assert code == 0 and "src -> hash-text-64" in out
    from codecsep_mm.prompts.projection import LinearProjection

    assert LinearProjection.load(tmp_path / "proj").weight.shape == (32, 64)


def test_fit_projection_refuses_what_it_cannot_fit(capsys, tmp_path):
    base = ["fit-projection", "--source", "hash-text", "--target", "hash-text", "-o", tmp_path / "proj"]
    one = tmp_path / "one.txt"
    one.write_text("a dog barking\n\n")
    good = tmp_path / "good.txt"
    good.write_text("\n".join(f"sound number {i}" for i in range(10)))
    pickled, text, words = tmp_path / "pickled.npy", tmp_path / "text.npy", tmp_path / "words.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    text.write_text("not an array")
    np.save(words, np.array(["a", "b"]))
    np.save(tmp_path / "x.npy", np.ones((4, 3)))
    cases = [
        (["--captions", one], "a text bridge is fitted on at least 2 captions, got 1"),
        (["--captions", good, "--ridge", "-1"], "ridge is -1.0; give a penalty >= 0"),
        (["--captions", good, "--ridge", "nan"], "ridge is nan"),
        (["--source-embeddings", pickled, "--target-embeddings", tmp_path / "x.npy"],
         "pickled.npy: not an array saved by numpy.save (.npy)"),
        (["--source-embeddings", text, "--target-embeddings", tmp_path / "x.npy"], "text.npy: not an array"),
        (["--source-embeddings", words, "--target-embeddings", tmp_path / "x.npy"], "words.npy: holds <U1, not numbers"),
        (["--source-embeddings", tmp_path / "missing.npy", "--target-embeddings", tmp_path / "x.npy"],
         "missing.npy: no such embeddings file"),
    ]
    for extra, message in cases:
        code, out, err = run(capsys, *base, *extra)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (extra, err)
    assert not (tmp_path / "proj").exists()


def test_a_rate_flac_cannot_store_stops_before_anything_is_written(capsys, tmp_path):
    from codecsep_mm.audio import save_audio
    from codecsep_mm.errors import OutputPathError

    high = tmp_path / "high.wav"
    sf.write(high, tone_mix(0.05, sample_rate=700000).T, 700000)
    before = digest(high)
    code, _, err = run(capsys, "separate", high, "--text", "x", "--format", "flac", "-o", tmp_path / "o")
    assert code == 2 and "FLAC cannot store 700000 Hz audio" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists() and digest(high) == before
    with pytest.raises(OutputPathError, match="FLAC cannot store"):
        save_audio(tmp_path / "x.flac", np.zeros((1, 100)), 700000)
    assert list(tmp_path.iterdir()) == [high]
    assert run(capsys, "separate", high, "--text", "x", "-o", tmp_path / "o")[0] == 0  # WAV takes it
