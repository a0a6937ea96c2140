"""The demo as a program talks to it: gradio_client against the app on 127.0.0.1."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from codecsep_mm.demo import MAX_QUERIES, MAX_SECONDS
from codecsep_mm.examples import EXAMPLES, example_path

from .conftest import WITH_AUDIO, load_model

N_SLOTS = MAX_QUERIES + 2


def separate(client, mixture, texts=(), audios=(), images=(), negative="", residual=True, model="tiny",
             floor=0.0, level=True, power=1.0):
    from gradio_client import handle_file

    def pad(items, fill):
        return list(items) + [fill] * (MAX_QUERIES - len(items))

    audios = [handle_file(str(a)) for a in audios]
    mixture = handle_file(str(mixture)) if mixture is not None else None
    outputs = client.predict(
        mixture, model, residual, negative, floor, level, power, *pad(texts, ""), *pad(audios, None),
        *pad(images, None),
        api_name="/separate",
    )
    status, picture, *players = outputs
    assert len(players) == N_SLOTS
    return status, picture, players


def audio_path(output):
    """The file of an Audio output as the client gives it (a component update, a file dict or a path)."""
    if isinstance(output, dict) and output.get("__type__") == "update":
        output = output.get("value") if output.get("visible", True) else None
    if isinstance(output, dict):
        output = output.get("path")
    return output


def label(output) -> str | None:
    return output.get("label") if isinstance(output, dict) else None


def tone(path, seconds, rate=16000, freq=440.0):
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate)
    return path


def test_bundled_examples_exist_and_are_short():
    for example in EXAMPLES:
        info = sf.info(str(example.path))
        assert info.samplerate == 16000 and 4.0 <= info.duration <= 6.0, example.name
        assert "CC0" in example.licence and example.prompts


def test_text_query_on_the_example_gives_the_stem_the_residual_and_spectrograms(client):
    status, picture, players = separate(client, example_path(), texts=["music"])
    assert status.startswith("Separated 1 stem(s), plus the residual,") and "`tiny`" in status
    stem, residual = audio_path(players[0]), audio_path(players[-1])
    assert (label(players[0]), label(players[-1])) == ("Stem 1: music", "Residual (everything else)")
    assert all(audio_path(p) is None for p in players[1:-1])  # unused slots stay hidden
    mixture, rate = sf.read(str(example_path()))
    for path in (stem, residual):
        wav, stem_rate = sf.read(path)
        assert stem_rate == rate and len(wav) == len(mixture)  # the input's rate and exact length
        assert np.abs(wav).max() > 1e-3
    image = picture["path"] if isinstance(picture, dict) else picture
    from PIL import Image

    width, height = Image.open(image).size
    assert width > 500 and height > 3 * 100  # mixture, stem and residual rows


def test_several_queries_and_a_negative_query_fill_their_own_slots(client):
    status, _, players = separate(client, example_path("birds_and_hum"), texts=["birds chirping", "wind"],
                                  negative="electrical hum", residual=False)
    filled = [audio_path(p) is not None for p in players]
    assert filled == [True, True, False, True, False]
    assert [label(p) for p in players[:2]] == ["Stem 1: birds chirping", "Stem 2: wind"]
    assert label(players[3]) == "Everything except: electrical hum"
    assert "everything except the negative query" in status


def test_audio_example_query_runs_on_a_model_with_an_audio_encoder(client, tmp_path):
    example = tone(tmp_path / "example.wav", 1.0)
    status, _, players = separate(client, example_path(), audios=[example], model=WITH_AUDIO, residual=False)
    assert status.startswith("Separated 1 stem") and audio_path(players[0]) is not None


def test_a_query_the_model_cannot_take_is_refused_in_the_page(client, tmp_path):
    from gradio_client.exceptions import AppError

    example = tone(tmp_path / "example.wav", 1.0)
    with pytest.raises(AppError, match="the model 'tiny' has no audio encoder"):
        separate(client, example_path(), audios=[example], model="tiny")


def test_image_query_runs_through_the_imagenet_encoder_and_combines_with_text(client, tmp_path):
    from gradio_client import handle_file
    from PIL import Image

    picture = tmp_path / "stripes.png"
    stripes = np.kron(np.tile([[0, 255]], (4, 4)), np.ones((16, 16))).astype(np.uint8)
    Image.fromarray(np.stack([stripes] * 3, axis=-1)).save(picture)
    status, _, players = separate(client, example_path(), texts=["music", ""],
                                  images=[handle_file(str(picture)), handle_file(str(picture))], residual=False)
    assert status.startswith("Separated 2 stem(s)")
    assert label(players[0]) == "Stem 1: music + image query" and label(players[1]) == "Stem 2: image query"


@pytest.mark.parametrize(
    "case, message",
    [
        ("no mixture", "no mixture: upload or record one"),
        ("no query", "give at least one query"),
        ("too long", f"at most {MAX_SECONDS:.0f} s"),
        ("not audio", "cannot read audio"),
    ],
)
def test_user_errors_are_one_line_messages(client, tmp_path, case, message):
    from gradio_client.exceptions import AppError

    mixture = example_path()
    texts = ["music"]
    if case == "no mixture":
        mixture = None
    elif case == "no query":
        texts = []
    elif case == "too long":
        mixture = tone(tmp_path / "long.flac", MAX_SECONDS + 5, rate=8000)
    elif case == "not audio":
        mixture = tmp_path / "notes.wav"
        mixture.write_text("not audio at all")
    with pytest.raises(AppError, match=message) as caught:
        separate(client, mixture, texts=texts)
    assert "Traceback" not in str(caught.value) and "/tmp/gradio/" not in str(caught.value)


def test_the_mask_floor_slider_applies_to_one_request_only(client):
    def stem(floor):
        _, _, players = separate(client, example_path(), texts=["music"], residual=False, floor=floor)
        return sf.read(audio_path(players[0]))[0]

    first, lifted, again = stem(0.0), stem(0.5), stem(0.0)
    assert np.abs(lifted - first).max() > 0  # tiny's masks are near 1, so the change is small
    np.testing.assert_array_equal(again, first)  # the model's own floor is back


def _settings_seen(separator, field: str, requests: list[dict]) -> list:
    """Run the page's action once per keyword set in ``requests`` (music from the bundled example)
    and return ``separator.settings.<field>`` as each separation saw it."""
    from codecsep_mm.demo.app import ModelPool, run_separation

    seen = []
    original = separator.separate

    def spy(*args, **kwargs):
        seen.append(getattr(separator.settings, field))
        return original(*args, **kwargs)

    separator.separate = spy
    pool = ModelPool(loader=lambda name: separator, imagenet_images=False)
    fields = ["music"] + [""] * (MAX_QUERIES - 1) + [None] * (2 * MAX_QUERIES)
    for request in requests:
        run_separation(pool, MAX_SECONDS, str(example_path()), "tiny", False, "", fields, **request)
    return seen


def test_run_separation_separates_with_the_slider_floor_and_restores_the_models():
    separator = load_model("tiny")
    own = separator.settings.mask_floor
    seen = _settings_seen(separator, "mask_floor", [{"mask_floor": 0.3}, {"mask_floor": None}])
    assert seen == [0.3, own] and separator.settings.mask_floor == own


def test_the_mask_power_slider_applies_to_one_request_only(client):
    def stem(power):
        _, _, players = separate(client, example_path(), texts=["music"], residual=False, power=power)
        return sf.read(audio_path(players[0]))[0]

    first, softer, again = stem(1.0), stem(0.5), stem(1.0)
    assert np.abs(softer - first).max() > 0
    np.testing.assert_array_equal(again, first)  # the model's own power is back
    separator = load_model("tiny")
    seen = _settings_seen(separator, "mask_power", [{"mask_power": 0.5}, {"mask_power": None}])
    assert seen == [0.5, 1.0] and separator.settings.mask_power == 1.0


def test_mask_power_out_of_range_is_a_one_line_error(client):
    from gradio_client.exceptions import AppError

    from codecsep_mm.demo.app import check_mask_power
    from codecsep_mm.errors import ConfigError

    with pytest.raises(ConfigError, match="the mask power must be between 0.25 and 2.0; got 3"):
        check_mask_power(3)
    with pytest.raises(ConfigError, match="between 0.25 and 2.0"):
        check_mask_power("soft")
    assert check_mask_power("0.8") == 0.8
    with pytest.raises(AppError):  # gradio or our check refuses it, without a traceback
        separate(client, example_path(), texts=["music"], power=3.0)


def test_the_power_slider_starts_at_the_models_own_power():
    import dataclasses

    from codecsep_mm.demo.app import ModelPool, model_mask_power

    def loader(name):
        separator = load_model("tiny")
        separator.settings = dataclasses.replace(separator.settings, mask_power=0.8 if name == "soft" else 1.0)
        return separator

    pool = ModelPool(loader=loader)
    assert (model_mask_power(pool, "soft"), model_mask_power(pool, "tiny")) == (0.8, 1.0)
    assert model_mask_power(ModelPool(loader=lambda name: load_model("no-such-model")), "x") == 1.0


def test_the_level_box_off_separates_the_input_as_it_is_for_one_request_only():
    import dataclasses

    separator = load_model("tiny")
    separator.settings = dataclasses.replace(separator.settings, input_lufs=-27.0)
    requests = [{"level_input": level} for level in (False, True, None)]
    seen = _settings_seen(separator, "input_lufs", requests)
    assert seen == [None, -27.0, -27.0] and separator.settings.input_lufs == -27.0


def test_the_level_box_follows_the_model():
    import dataclasses

    from codecsep_mm.demo.app import ModelPool, level_box_update

    def loader(name):
        separator = load_model("tiny")
        lufs = -27.0 if name == "levelled" else None
        separator.settings = dataclasses.replace(separator.settings, input_lufs=lufs)
        return separator

    pool = ModelPool(loader=loader)
    levelled, plain = level_box_update(pool, "levelled"), level_box_update(pool, "tiny")
    assert levelled["value"] and levelled["interactive"] and "-27 LUFS" in levelled["info"]
    assert not plain["value"] and not plain["interactive"] and "no training loudness" in plain["info"]


def test_the_page_takes_the_level_box(client):
    _, _, on = separate(client, example_path(), texts=["music"], residual=False, level=True)
    _, _, off = separate(client, example_path(), texts=["music"], residual=False, level=False)
    # tiny has no training loudness: the box changes nothing for it
    np.testing.assert_array_equal(sf.read(audio_path(on[0]))[0], sf.read(audio_path(off[0]))[0])


def test_mask_floor_out_of_range_is_a_one_line_error(client):
    from gradio_client.exceptions import AppError

    from codecsep_mm.demo.app import check_mask_floor
    from codecsep_mm.errors import ConfigError

    with pytest.raises(ConfigError, match="the mask floor must be between 0 and 0.5; got 0.9"):
        check_mask_floor(0.9)
    with pytest.raises(ConfigError, match="between 0 and 0.5"):
        check_mask_floor("a lot")
    assert check_mask_floor("0.25") == 0.25
    with pytest.raises(AppError):  # gradio or our check refuses it, without a traceback
        separate(client, example_path(), texts=["music"], floor=0.9)


def test_the_slider_starts_at_the_models_own_floor():
    import dataclasses

    from codecsep_mm.demo.app import ModelPool, model_mask_floor

    def loader(name):
        separator = load_model("tiny")
        separator.settings = dataclasses.replace(separator.settings, mask_floor=0.02 if name == "floored" else 0.0)
        return separator

    pool = ModelPool(loader=loader)
    assert (model_mask_floor(pool, "floored"), model_mask_floor(pool, "tiny")) == (0.02, 0.0)


def test_a_pool_floor_replaces_every_models_own_and_the_slider_starts_there():
    import dataclasses

    from codecsep_mm.demo.app import ModelPool, model_mask_floor

    def loader(name):
        separator = load_model("tiny")
        separator.settings = dataclasses.replace(separator.settings, mask_floor=0.02 if name == "floored" else 0.0)
        return separator

    pool = ModelPool(loader=loader, mask_floor=0.1)
    assert (model_mask_floor(pool, "floored"), model_mask_floor(pool, "tiny")) == (0.1, 0.1)
    assert pool.get("tiny")[0].settings.mask_floor == 0.1


def test_cli_demo_refuses_a_mask_floor_out_of_range_on_one_line(capsys):
    from codecsep_mm.cli import main

    assert main(["demo", "--mask-floor", "0.9", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err == "codecsep-mm: error: the mask floor must be between 0 and 0.5; got 0.9\n"


def test_uploads_over_the_size_limit_are_refused(client, tmp_path):
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * (21 * 1024 * 1024))
    with pytest.raises(Exception, match="(?i)size|large|413"):
        separate(client, big, texts=["music"])


def test_cli_demo_refuses_an_unknown_model_on_one_line(capsys):
    from codecsep_mm.cli import main

    assert main(["demo", "--model", "no-such-model", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("codecsep-mm: error: unknown model 'no-such-model'") and err.count("\n") == 1


def test_cli_demo_refuses_a_port_or_length_limit_it_cannot_use_on_one_line(capsys):
    from codecsep_mm.cli import main
    from codecsep_mm.demo.app import build_demo
    from codecsep_mm.errors import ConfigError

    for option, bad, message in (("--port", "70000", "70000: give a port number from 1 to 65535"),
                                 ("--port", "-1", "-1: give a port number from 1 to 65535"),
                                 ("--port", "http", "http: give a port number"),
                                 ("--max-seconds", "0", "0: give the longest mixture in seconds, above 0"),
                                 ("--max-seconds", "nan", "nan: give the longest mixture in seconds"),
                                 ("--max-seconds", "-5", "-5: give the longest mixture in seconds")):
        with pytest.raises(SystemExit) as exit_info:
            main(["demo", option, bad])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    with pytest.raises(ConfigError, match="max_seconds is 0; give the longest mixture"):
        build_demo(model="tiny", max_seconds=0)
