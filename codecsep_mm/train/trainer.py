"""The trainer: the masker learns, the codec and the prompt encoders stay frozen.

One step: encode the mixtures with the frozen codec encoder (no gradient), embed the prompts with
the frozen prompt encoders (each distinct prompt once: the encoders are cached), mask the latent once
per stem, decode the masked latents and the sum of them with the frozen decoder (gradients flow
through it into the masker), and minimise the loss of :mod:`codecsep_mm.train.loss`. With
``model.learn: audio-encoder`` the masker is frozen too and the audio-query tower learns instead:
its queries are embedded with gradients every step, through the same loss.

Determinism: batch ``s`` on rank ``r`` holds the items ``(s * world + r) * batch + j`` of the
index-seeded mixture dataset, and the torch generator is re-seeded from ``(seed, step, rank)`` at each
step, so a resumed run reproduces an uninterrupted one, and a run on N processes (DDP, launched by
``torchrun``) sees the same items as one process with an N times larger batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from einops import rearrange, repeat

from codecsep_mm.errors import ConfigError, WeightsNotFoundError
from codecsep_mm.train.checkpoint import (
    as_float,
    keep_weights,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    weights_path,
)
from codecsep_mm.train.config import TrainConfig
from codecsep_mm.train.loss import latent_nmse, neg_si_sdr, separation_loss

# Sections that must not change between a run and its resumption (run.* may: e.g. more steps).
FIXED_SECTIONS = ("model", "data", "optim", "loss")
WEIGHTS_FILE_AUDIO = "audio_encoder.safetensors"  # checkpoints of model.learn: audio-encoder


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns."""

    step: int
    best_valid_loss: float
    stopped_early: bool
    out_dir: Path
    history: list[dict[str, Any]]


class TrainingLoop:
    """The loop shared by every trainer: deterministic batches, optimisation, validation, early
    stopping, atomic checkpoints, resumption, DDP, logging.

    A subclass builds ``self.module`` (what learns) in :meth:`build`, and implements :meth:`loss`,
    :meth:`validate` (a dict with ``"valid/loss"``) and :meth:`save_best`.
    """

    weights_file = "masker.safetensors"
    fixed_sections: tuple[str, ...] = FIXED_SECTIONS
    validate_first = False  # validate (and keep as the best so far) the start, before step 1

    def __init__(self, config, resume: bool = False):
        self.config = config
        self.rank, self.world = _distributed_setup(config.run.device)
        self.device = _device(config.run.device, self.rank)
        self.out_dir = Path(config.run.out_dir)
        self.module = self.build().to(self.device)
        self.model = self.module
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.model = DistributedDataParallel(
                self.module, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.optimizer = torch.optim.AdamW(
            self.module.parameters(), lr=config.optim.lr, betas=tuple(config.optim.betas),
            weight_decay=config.optim.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=config.optim.plateau_factor,
            patience=config.optim.plateau_patience,
        )
        self.train_set, self.valid_set = self.datasets()
        self.amp_dtype = _amp_dtype(config.run.amp, self.device)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.state: dict[str, Any] = {"step": 0, "best_valid_loss": math.inf, "bad_evals": 0,
                                      "history": [], "config": config.to_dict()}
        if resume:
            self._resume()
        self.writer = None

    def build(self) -> torch.nn.Module:
        raise NotImplementedError

    def datasets(self):
        raise NotImplementedError

    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        raise NotImplementedError

    def validate(self) -> dict[str, float]:
        raise NotImplementedError

    def save_best(self) -> None:
        raise NotImplementedError

    def check_outputs(self) -> None:
        """Stop before the first step if :meth:`save_best` could not write its result (default: no
        check)."""

    # ---------------------------------------------------------------------------------- loop
    def collate(self, items: list[Any]) -> dict[str, Any]:
        """Items -> a batch (default: training mixtures; see :func:`codecsep_mm.data.mixing.collate`)."""
        from codecsep_mm.data.mixing import collate

        return collate(items)

    def item_seconds(self) -> float:
        """Seconds of audio per item (for the audio-seconds-per-second log)."""
        return self.config.data.mixing.crop_seconds

    def fit(self) -> TrainResult:
        """Train until ``run.steps`` or early stopping; returns the summary."""
        run = self.config.run
        if self.rank == 0:
            self.check_outputs()
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.yaml").write_text(self.config.to_yaml())
            self.writer = _tensorboard(self.out_dir, run.tensorboard)
        if self.validate_first and self.state["step"] == 0:
            self._validate_and_track(0)
        loader = self._loader(self.train_set, self._train_batches(), self.collate)
        bar = _progress(run.steps, self.state["step"], enabled=run.progress and self.rank == 0)
        stopped_early = False
        start_time, seen = time.perf_counter(), 0
        for indices_batch in loader:
            step = self.state["step"]
            loss = self.train_step(indices_batch, step)
            self.state["step"] = step = step + 1
            seen += self.config.run.batch_size * self.world
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.2f}")
            if self.rank == 0 and step % run.log_every == 0:
                rate = seen * self.item_seconds() / (time.perf_counter() - start_time)
                self._log({"train/loss": loss, "train/lr": self.optimizer.param_groups[0]["lr"],
                           "train/audio_seconds_per_second": rate}, step)
            if step % run.valid_every == 0 or step == run.steps:
                stopped_early = self._validate_and_track(step)
            if step % run.checkpoint_every == 0 or step == run.steps or stopped_early:
                self._checkpoint()
            if stopped_early:
                break
        bar.close()
        if self.writer is not None:
            self.writer.close()
        if self.world > 1:
            torch.distributed.barrier()
        return TrainResult(self.state["step"], as_float(self.state["best_valid_loss"]), stopped_early,
                           self.out_dir, self.state["history"])

    def train_step(self, batch: dict[str, Any], step: int) -> float:
        """One optimisation step on a collated batch; returns the (rank-local) loss."""
        torch.manual_seed(_step_seed(self.config.run.seed, step, self.rank))
        self.train_mode()
        with self._autocast():
            loss = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.config.optim.grad_clip)
        self._warm_up(step)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return float(loss.detach())

    def train_mode(self) -> None:
        """Put what learns in training mode before a step."""
        self.model.train()

    def _warm_up(self, step: int) -> None:
        """Linear learning-rate warm-up over ``optim.warmup_steps`` (a no-op after it)."""
        warmup = self.config.optim.warmup_steps
        if step < warmup:
            for group in self.optimizer.param_groups:
                group["lr"] = self.config.optim.lr * (step + 1) / warmup

    def _validate_and_track(self, step: int) -> bool:
        """Validate, step the LR scheduler, save the best model; True when it is time to stop."""
        metrics = self.validate()
        if not metrics:
            return False
        if self.world > 1:  # every rank computed the same numbers on the same items
            torch.distributed.barrier()
        self.scheduler.step(metrics["valid/loss"])
        self.state["history"].append({"step": step, **metrics})
        improved = metrics["valid/loss"] < as_float(self.state["best_valid_loss"]) - self.config.run.min_delta
        if improved:
            self.state["best_valid_loss"] = metrics["valid/loss"]
            self.state["bad_evals"] = 0
            if self.rank == 0:
                self.module.eval()
                self.save_best()
        else:
            self.state["bad_evals"] += 1
        if self.rank == 0:
            self._log(metrics, step)
        return self.state["bad_evals"] >= self.config.run.early_stop_patience

    # ---------------------------------------------------------------------------- checkpoints
    def _checkpoint(self) -> None:
        if self.rank == 0:
            save_checkpoint(self.out_dir / "checkpoints" / "last", self.module, self.optimizer,
                            self.scheduler, self.state, self.weights_file)
            if self.config.run.keep_checkpoints:
                keep_weights(self.out_dir / "checkpoints" / f"step-{self.state['step']:07d}", self.module,
                             self.weights_file)
        if self.world > 1:
            torch.distributed.barrier()

    def _resume(self) -> None:
        state = load_checkpoint(self.out_dir / "checkpoints" / "last", self.module, self.optimizer,
                                self.scheduler, self.weights_file)
        stored = state.get("config", {})
        current = self.config.to_dict()
        changed = [key for s in self.fixed_sections
                   for key in _changed_keys(stored.get(s, {}), current[s], getattr(self.config, s), s)]
        if changed:
            raise ConfigError(
                f"cannot resume: the config changed since the checkpoint in {self.out_dir} "
                f"({', '.join(changed)}); restore those keys or use a new run.out_dir"
            )
        state["best_valid_loss"] = as_float(state["best_valid_loss"])
        self.state.update(state)

    # ------------------------------------------------------------------------------- helpers
    def _train_batches(self):
        run = self.config.run
        return [[(step * self.world + self.rank) * run.batch_size + j for j in range(run.batch_size)]
                for step in range(self.state["step"], run.steps)]

    def _loader(self, dataset, batches, collate):
        from torch.utils.data import DataLoader

        workers = self.config.data.num_workers
        return DataLoader(dataset, batch_sampler=batches, collate_fn=collate, num_workers=workers,
                          persistent_workers=False)

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _log(self, metrics: dict[str, float], step: int) -> None:
        if self.writer is not None:
            for key, value in metrics.items():
                self.writer.add_scalar(key, value, step)
        with open(self.out_dir / "log.jsonl", "a") as handle:
            import json

            handle.write(json.dumps({"step": step, **metrics}) + "\n")


class Trainer(TrainingLoop):
    """Train a masker from a :class:`~codecsep_mm.train.config.TrainConfig`.

    Example:
        >>> from codecsep_mm.train.config import load_config
        >>> result = Trainer(load_config("configs/tiny.yaml")).fit()  # doctest: +SKIP
    """

    def build(self) -> torch.nn.Module:
        self.separator = _build_model(self.config)
        self.masker = self.separator.masker
        self.codec = self.separator.codec
        for parameter in self.codec.parameters():
            parameter.requires_grad_(False)
        self.separator.to(self.device)
        self.separator.prompt_encoders_to(self.device)  # audio queries are embedded every step
        self.linear_encoder = None
        if self.config.run.linear_encoder:
            from codecsep_mm.codecs.linear import linearize_encoder

            self.linear_encoder = linearize_encoder(self.codec)
        self.audio_tower = None
        if self.config.model.learn == "audio-encoder":
            return self._build_audio_tower()
        # the saved model separates in windows as long as its training crops (see with_window), and
        # without a mask floor or power: training and validation never apply them, and a base model's
        # were chosen for the base's weights (choose new ones on validation data afterwards); it
        # separates each window at the loudness of every training mixture (see input_lufs)
        mixing = self.config.data.mixing
        self.separator.settings = dataclasses.replace(
            self.separator.settings.with_window(mixing.crop_seconds), mask_floor=0.0, mask_power=1.0,
            input_lufs=mixing.mixture_lufs,
        )
        return self.masker

    def _build_audio_tower(self) -> torch.nn.Module:
        """``model.learn: audio-encoder``: the default audio encoder's tower learns; the masker is
        frozen, and the model keeps the base's separation settings (its masker is the base's)."""
        encoder = self.separator.encoders.get("audio")
        tower = getattr(getattr(encoder, "encoder", encoder), "model", None)
        if not isinstance(tower, torch.nn.Module) or not hasattr(encoder, "embedding"):
            raise ConfigError("model.learn: audio-encoder needs a trainable audio-query encoder "
                              "(starter-audio) as the model's default audio encoder; add one in "
                              "model.prompt_encoders or use a base model that has one")
        if self.world > 1:
            raise ConfigError("model.learn: audio-encoder runs in one process; start it without torchrun")
        for parameter in self.masker.parameters():
            parameter.requires_grad_(False)
        self.masker.eval()
        self.audio_tower = encoder.encoder  # the encoder inside its cache: every query is embedded afresh
        self.weights_file = WEIGHTS_FILE_AUDIO
        return tower

    def train_mode(self) -> None:
        """The audio tower's batch-norm statistics stay as trained (only its weights learn)."""
        if self.audio_tower is not None:
            self.module.eval()
        else:
            super().train_mode()

    def datasets(self):
        return _datasets(self.config)

    def check_outputs(self) -> None:
        from codecsep_mm.models import check_replaceable

        if (self.out_dir / "best").is_dir():  # e.g. a codec run's: saving over it would be refused late
            check_replaceable(self.out_dir / "best")

    def save_best(self) -> None:
        if self.audio_tower is not None:  # the model folder gets the tower as it is now
            from codecsep_mm.prompts.starter_audio import save_audio_embedder

            folder = save_audio_embedder(self.module, self.out_dir / "audio-encoder" / "best")
            self.audio_tower.options["weights"] = str(folder)
        self.separator.save_pretrained(self.out_dir / "best")

    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        """The configured loss of a batch (see :class:`~codecsep_mm.train.config.LossSpec`)."""
        return self._loss(batch)[0]

    def _loss(self, batch: dict[str, Any], decode_stems: bool = False):
        """``(loss, estimated stems (b, k, s) or None, reference stems)``; the stems are decoded
        when the loss needs them or ``decode_stems`` asks (validation scores them)."""
        kind = self.config.loss.kind
        mixture = batch["mixture"].to(self.device)  # (b, 1, s)
        stems = batch["stems"].to(self.device)  # (b, k, s)
        n_stems, n_samples = stems.shape[1], stems.shape[-1]
        target = None
        with torch.no_grad():
            if self.linear_encoder is not None:  # linear: the mixture's latent is the sum of the stems'
                target = self.linear_encoder(rearrange(stems, "b k s -> (b k) 1 s"))
                latent = rearrange(target, "(b k) d t -> b k d t", k=n_stems).sum(1)
            else:
                latent = self.codec.encode(mixture)
        cond = self.conditioning(batch["prompts"])  # (b, k, c)
        flat_latent = repeat(latent, "b d t -> (b k) d t", k=n_stems)
        masker = self.model if self.audio_tower is None else self.masker
        masked = flat_latent * masker(flat_latent, rearrange(cond, "b k c -> (b k) c"))
        est_stems = None
        if "si-sdr" in kind or decode_stems:
            est_stems = rearrange(self.codec.decode(masked)[..., :n_samples], "(b k) 1 s -> b k s", k=n_stems)
        total = torch.zeros((), device=self.device)
        if est_stems is not None and "si-sdr" in kind:
            est_mixture = est_mixture_target = None
            if self.config.loss.mixture_term:
                summed = rearrange(masked, "(b k) d t -> b k d t", k=n_stems).sum(1)
                est_mixture = self.codec.decode(summed)[:, 0, :n_samples]
                est_mixture_target = mixture[:, 0]
            total = total + separation_loss(est_stems, stems, est_mixture, est_mixture_target)
        if "latent" in kind:
            if target is None:
                with torch.no_grad():
                    target = self.codec.encode(rearrange(stems, "b k s -> (b k) 1 s"))
            absent = rearrange(stems.float().pow(2).sum(-1) == 0, "b k -> (b k)")  # left out (absent_prob)
            error = latent_nmse(masked, target, absent=absent, mixture=flat_latent,
                                absent_floor=10 ** (self.config.loss.absent_floor_db / 10))
            if self.config.loss.latent_db:
                error = 10 * torch.log10(error + 1e-6)
            total = total + self.config.loss.latent_weight * error.mean()
        return total, est_stems, stems

    def conditioning(self, prompts: list[list[Any]]) -> torch.Tensor:
        """Per-item, per-stem prompts -> ``cond (b, k, cond_dim)`` from the frozen, cached encoders
        (audio queries through the learning tower, with gradients, when it learns)."""
        from codecsep_mm.prompts.query import Prompt

        rows = []
        for item in prompts:
            vectors = []
            for prompt in item:
                if isinstance(prompt, tuple) and prompt[0] == "audio":
                    prompt = Prompt.audio(prompt[1], self.separator.sample_rate)
                elif isinstance(prompt, str):
                    prompt = Prompt.text(prompt)
                if self.audio_tower is not None and prompt.modality == "audio":
                    vector = self.audio_tower.embedding(prompt.encoder_input())
                    vectors.append(self.separator.to_masker_space(self.audio_tower, vector[None])[0])
                else:
                    vectors.append(self.separator.embed_prompt(prompt).detach().to(self.device))
            rows.append(torch.stack(vectors))
        return torch.stack(rows).to(self.device, torch.float32)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean loss and mean SI-SDR per class on the fixed validation items."""
        from codecsep_mm.data.mixing import collate

        if self.valid_set is None:
            return {}
        self.model.eval()
        batch_size = self.config.run.batch_size
        n_items = self.config.data.valid_items
        losses: list[float] = []
        scores: dict[str, list[float]] = {}
        for start in range(0, n_items, batch_size):
            items = [self.valid_set[i] for i in range(start, min(n_items, start + batch_size))]
            batch = collate(items)
            with self._autocast():
                loss, est_stems, stems = self._loss(batch, decode_stems=True)
            losses.append(float(loss) * len(items))
            for row, classes in zip((-neg_si_sdr(est_stems, stems)).tolist(), batch["classes"]):
                for value, cls in zip(row, classes):
                    scores.setdefault(cls, []).append(value)
        metrics = {"valid/loss": sum(losses) / n_items}
        metrics.update({f"valid/si_sdr_{cls}": sum(v) / len(v) for cls, v in scores.items()})
        return metrics


def _build_model(config: TrainConfig):
    from codecsep_mm import prompts
    from codecsep_mm.models import build_separator
    from codecsep_mm.separator import Separator

    spec = config.model
    if spec.base:
        separator = Separator.from_pretrained(spec.base)
    else:
        encoder = prompts.create(spec.prompt_encoder["name"], **spec.prompt_encoder.get("options", {}))
        separator = build_separator(encoder, codec=spec.codec, masker=spec.masker,
                                    seed=config.run.seed, **spec.masker_overrides)
    if spec.prompt_encoders:
        from codecsep_mm.models import add_prompt_encoders

        add_prompt_encoders(separator, spec.prompt_encoders, Path.cwd())
    if spec.init_from:
        try:
            weights = weights_path(Path(spec.init_from))
        except WeightsNotFoundError as error:
            raise ConfigError(f"model.init_from: {error}") from None
        load_weights(separator.masker, weights)
    if separator.sample_rate != config.data.mixing.sample_rate:
        raise ConfigError(
            f"data.mixing.sample_rate is {config.data.mixing.sample_rate} but the codec runs at "
            f"{separator.sample_rate} Hz; set data.mixing.sample_rate: {separator.sample_rate}"
        )
    return separator


def _datasets(config: TrainConfig):
    from codecsep_mm.data.manifest import read_sources
    from codecsep_mm.data.mixing import MixtureDataset
    from codecsep_mm.data.synthetic import synthetic_banks

    data, seed = config.data, config.run.seed
    if data.synthetic:
        banks = synthetic_banks(data.mixing.classes, data.mixing.sample_rate)
        train = MixtureDataset(banks, data.mixing, seed=seed)
        valid = (MixtureDataset(banks, data.mixing.without_augmentation(), seed=seed + 1)
                 if data.valid_items else None)
        return train, valid
    assert data.manifest is not None  # TrainConfig checks: a manifest or synthetic data
    records = read_sources(data.manifest)
    train = MixtureDataset.from_records(records, data.mixing, "train", seed=seed)
    valid = None
    if data.valid_items:
        valid_records = read_sources(data.valid_manifest) if data.valid_manifest else records
        if not any(r.split == "valid" for r in valid_records):
            raise ConfigError(
                f"{data.valid_manifest or data.manifest}: no records with split 'valid'; add some, "
                "give data.valid_manifest, or set data.valid_items: 0"
            )
        # A fixed validation set: the same items every time (seed differs from training).
        # and never augmented, so that its loss compares across augmentation settings.
        valid = MixtureDataset.from_records(valid_records, data.mixing.without_augmentation(), "valid",
                                            seed=seed + 1)
    return train, valid


def _changed_keys(stored: dict, current: dict, section: Any, prefix: str) -> list[str]:
    """Dotted keys whose value differs between a checkpoint's config section and the current one.

    Nested sections (``data.mixing``) are compared key by key. A key the checkpoint lacks was
    written before the key existed, so the run had its plain default: it is unchanged while the
    current value keeps that default (a key with no plain default reads as changed)."""
    changed = []
    for key, value in current.items():
        child = getattr(section, key, None)
        if dataclasses.is_dataclass(child) and isinstance(value, dict):
            old = stored.get(key, {})
            changed += _changed_keys(old if isinstance(old, dict) else {}, value, child, f"{prefix}.{key}")
        elif stored.get(key, _default(section, key)) != value:
            changed.append(f"{prefix}.{key}")
    return changed


def _default(section: Any, key: str) -> Any:
    """A config section's plain default for ``key``; ``None`` when it has none."""
    if not dataclasses.is_dataclass(section):
        return None
    spec = {f.name: f for f in dataclasses.fields(section)}.get(key)
    return None if spec is None or spec.default is dataclasses.MISSING else spec.default


def _distributed_setup(device: str) -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and device != "cpu"
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _device(name: str, rank: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    from codecsep_mm.separator import usable_device

    device = usable_device(name, "run.device")
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", rank))
        device = torch.device("cuda", local if device.index is None else device.index)
        torch.cuda.set_device(device)
    return device


def _amp_dtype(mode: str, device: torch.device):
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return None
    if mode == "fp16":
        return torch.float16
    if mode == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def _step_seed(seed: int, step: int, rank: int) -> int:
    return (seed * 1_000_003 + step * 1_009 + rank) % (2**63)


def _tensorboard(out_dir: Path, enabled: bool):
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError("TensorBoard logging needs the `tensorboard` package: "
                          "pip install 'codecsep-mm[train]', or set run.tensorboard: false") from None
    return SummaryWriter(str(out_dir / "tensorboard"))


def _progress(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, desc="train", unit="step")
