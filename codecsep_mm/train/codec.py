"""Training a DAC-architecture codec (``codecsep-mm train-codec``): the codec that masker training
then freezes.

Losses (weights in :class:`CodecLossSpec`): multi-scale log-mel distance (descript-audio-codec's own
``MelSpectrogramLoss``, DAC's seven scales), waveform L1, the RVQ commitment and codebook losses, and
optionally negative SI-SDR (``si_sdr_weight``): mel and L1 losses alone leave the waveform's phase free
for a long time (SI-SDR stays far below 0 dB), and wave-mode separation is scored on the waveform.
The decoder is trained on the quantized latent (as DAC is, for code-stream mode) and, with
``continuous_weight > 0``, also on the continuous encoder latent, which is what wave-mode separation
masks and decodes. No adversarial losses: on a small compute budget they cost more than they give.

Training items are the mixture of a 3-source training mixture (the codec has to encode mixtures) or,
with probability ``single_source_prob``, one of its stems alone.

The result (``OUT_DIR/best/codec.pth``) is in DAC's own weight format: ``create_codec(path)``,
``model.codec: OUT_DIR/best/codec.pth`` in a masker config, or ``dac.DAC.load`` all read it.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch

from codecsep_mm.errors import ConfigError
from codecsep_mm.train.config import DataSpec, OptimSpec, RunSpec, YamlConfig, check_data_and_steps
from codecsep_mm.train.trainer import TrainingLoop, _datasets

CODEC_WEIGHTS = "codec.safetensors"
BEST_FILE = "codec.pth"


@dataclass(frozen=True)
class CodecSpec:
    """A ``dac.DAC`` architecture. The defaults: a small 16 kHz codec (hop 320, latent 512)."""

    encoder_dim: int = 32
    encoder_rates: tuple[int, ...] = (2, 4, 5, 8)
    latent_dim: int | None = None
    decoder_dim: int = 384
    decoder_rates: tuple[int, ...] = (8, 5, 4, 2)
    n_codebooks: int = 8
    codebook_size: int = 1024
    codebook_dim: int = 8
    quantizer_dropout: float = 0.5
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        sizes = {"encoder_dim": self.encoder_dim, "decoder_dim": self.decoder_dim,
                 "n_codebooks": self.n_codebooks, "codebook_dim": self.codebook_dim}
        for key, value in sizes.items():
            if value < 1:
                raise ConfigError(f"codec.{key} is {value}; it must be at least 1")
        if self.codebook_size < 2:
            raise ConfigError(f"codec.codebook_size is {self.codebook_size}; it must be at least 2")
        if not 0.0 <= self.quantizer_dropout <= 1.0:
            raise ConfigError(f"codec.quantizer_dropout is {self.quantizer_dropout}; give 0 to 1")
        if not self.encoder_rates or min(self.encoder_rates + self.decoder_rates) < 1:
            raise ConfigError("codec.encoder_rates and decoder_rates must be strides of at least 1")
        if math.prod(self.encoder_rates) != math.prod(self.decoder_rates):
            raise ConfigError(f"codec.encoder_rates {list(self.encoder_rates)} (hop "
                              f"{math.prod(self.encoder_rates)}) and decoder_rates {list(self.decoder_rates)} (hop "
                              f"{math.prod(self.decoder_rates)}) must give the same hop")

    def dac_kwargs(self) -> dict[str, Any]:
        from dataclasses import asdict

        kwargs = asdict(self)
        kwargs["encoder_rates"] = list(self.encoder_rates)
        kwargs["decoder_rates"] = list(self.decoder_rates)
        return kwargs


FREEZABLE = ("encoder", "quantizer", "decoder")


@dataclass(frozen=True)
class CodecFinetuneSpec:
    """How the codec starts, and which parts stay fixed.

    ``init``: ``random`` (DAC's own initialisation) or ``mdct`` (the encoder and decoder start as an
    MDCT analysis/synthesis pair, :mod:`codecsep_mm.codecs.mdct_init`). ``init_from``: trained
    weights instead (a DAC ``.pth`` file, or a run folder with ``best/codec.pth``). ``freeze``: any
    of ``encoder``, ``quantizer``, ``decoder``. A frozen encoder fixes the latent, so a masker can
    be trained on it while the quantizer and decoder go on training.

    ``quantizer_init``: ``none`` (the quantizer as ``init`` or ``init_from`` left it) or ``kmeans``:
    before the first step, the residual vector quantizer is fitted stage by stage to the encoder's
    latents of ``quantizer_init_items`` training items (:mod:`codecsep_mm.codecs.rvq_init`), and
    that start is validated (and saved as the best so far) before any step. Not redone on resume."""

    init: str = "random"
    init_from: str | None = None
    freeze: tuple[str, ...] = ()
    quantizer_init: str = "none"
    quantizer_init_items: int = 2000


@dataclass(frozen=True)
class CodecLossSpec:
    """Loss weights and the mel scales (DAC's: 7 scales from 32 to 2048 samples)."""

    mel_weight: float = 15.0
    waveform_weight: float = 1.0
    commitment_weight: float = 0.25
    codebook_weight: float = 1.0
    continuous_weight: float = 1.0
    si_sdr_weight: float = 0.0
    mel_window_lengths: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048)
    mel_bins: tuple[int, ...] = (5, 10, 20, 40, 80, 160, 320)
    single_source_prob: float = 0.5

    def __post_init__(self) -> None:
        for key in ("mel_weight", "waveform_weight", "commitment_weight", "codebook_weight",
                    "continuous_weight", "si_sdr_weight"):
            if not 0.0 <= getattr(self, key) < math.inf:
                raise ConfigError(f"loss.{key} is {getattr(self, key)}; give a weight >= 0 (0: off)")
        if not 0.0 <= self.single_source_prob <= 1.0:
            raise ConfigError(f"loss.single_source_prob is {self.single_source_prob}; give 0 to 1")
        if min(self.mel_window_lengths + self.mel_bins, default=1) < 1:
            raise ConfigError("loss.mel_window_lengths and loss.mel_bins must be at least 1")


@dataclass(frozen=True)
class CodecTrainConfig(YamlConfig):
    """A codec training run (sections ``codec``, ``data``, ``optim``, ``loss``, ``run``)."""

    codec: CodecSpec = field(default_factory=CodecSpec)
    data: DataSpec = field(default_factory=DataSpec)
    optim: OptimSpec = field(default_factory=lambda: OptimSpec(lr=1e-4))
    loss: CodecLossSpec = field(default_factory=CodecLossSpec)
    run: RunSpec = field(default_factory=RunSpec)
    finetune: CodecFinetuneSpec = field(default_factory=CodecFinetuneSpec)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.finetune.freeze) - set(FREEZABLE))
        if unknown:
            raise ConfigError(f"finetune.freeze: unknown parts {unknown}; choose from {list(FREEZABLE)}")
        if self.finetune.quantizer_init not in ("none", "kmeans"):
            raise ConfigError(f"finetune.quantizer_init: {self.finetune.quantizer_init!r}; choose 'none' or 'kmeans'")
        if self.finetune.quantizer_init_items < 1:
            raise ConfigError("finetune.quantizer_init_items must be at least 1")
        if self.finetune.init not in ("random", "mdct"):
            raise ConfigError(f"finetune.init: {self.finetune.init!r}; choose 'random' or 'mdct'")
        if self.finetune.init != "random" and self.finetune.init_from:
            raise ConfigError("finetune: give init or init_from, not both")
        if self.finetune.freeze and self.finetune.init == "random" and not self.finetune.init_from:
            raise ConfigError("finetune.freeze needs finetune.init_from or init: mdct (weights to keep fixed)")
        if self.finetune.init == "mdct":
            from codecsep_mm.codecs.mdct_init import check_mdct_widths

            check_mdct_widths(self.codec.dac_kwargs())
        if len(set(self.finetune.freeze)) == len(FREEZABLE):
            raise ConfigError("finetune.freeze: every part is frozen, so nothing would train")

        # a k-means fit of the quantizer is validated at step 0 and kept: a result with no step
        check_data_and_steps(self.data, self.run, allow_zero_steps=self.finetune.quantizer_init == "kmeans")
        if len(self.loss.mel_window_lengths) != len(self.loss.mel_bins):
            raise ConfigError("loss.mel_window_lengths and loss.mel_bins need the same length")
        if self.codec.sample_rate != self.data.mixing.sample_rate:
            raise ConfigError(f"codec.sample_rate {self.codec.sample_rate} != data.mixing.sample_rate "
                              f"{self.data.mixing.sample_rate}; make them equal")


class CodecAutoencoder(torch.nn.Module):
    """A ``dac.DAC`` whose ``forward`` returns what the losses need (so DDP sees one forward)."""

    def __init__(self, codec):
        super().__init__()
        self.codec = codec

    def forward(self, audio: torch.Tensor, continuous: bool = True) -> dict[str, torch.Tensor]:
        """``audio (b, 1, s)`` -> quantized (and continuous) reconstructions trimmed to ``s``, and
        the RVQ losses."""
        codec, n = self.codec, audio.shape[-1]
        latent = codec.encoder(codec.preprocess(audio, codec.sample_rate))
        quantized, _, _, commitment, codebook = codec.quantizer(latent, None)
        out = {"quantized": _fit(codec.decoder(quantized), n), "commitment": commitment.mean(),
               "codebook": codebook.mean()}
        if continuous:
            out["continuous"] = _fit(codec.decoder(latent), n)
        return out


def _fit(wav: torch.Tensor, n: int) -> torch.Tensor:
    """DAC's decoder gives a few samples less when a rate is odd (16 kHz: 8); pad or trim to ``n``."""
    return torch.nn.functional.pad(wav, (0, max(0, n - wav.shape[-1])))[..., :n]


class CodecTrainer(TrainingLoop):
    """Train a codec from a :class:`CodecTrainConfig` with the shared loop (resume, DDP, ...)."""

    weights_file = CODEC_WEIGHTS
    fixed_sections = ("codec", "data", "optim", "loss", "finetune")

    def __init__(self, config: CodecTrainConfig, resume: bool = False):
        super().__init__(config, resume)
        self.quantizer_snr_db: list[float] = []
        if config.finetune.quantizer_init == "kmeans" and not resume:
            self.fit_quantizer()
            self.validate_first = True

    @torch.no_grad()
    def fit_quantizer(self) -> list[float]:
        """Fit the quantizer by k-means to the latents of the first ``quantizer_init_items``
        training items (mixtures or single stems, drawn as in training); returns the latents' SNR
        (dB) after each stage, also printed."""
        import sys

        from codecsep_mm.codecs.rvq_init import fit_residual_vq
        from codecsep_mm.data.mixing import collate

        torch.manual_seed(self.config.run.seed)
        n_items, size = self.config.finetune.quantizer_init_items, self.config.run.batch_size
        latents = []
        for start in range(0, n_items, size):
            batch = collate([self.train_set[i] for i in range(start, min(n_items, start + size))])
            audio = self.items(batch)
            latent = self.codec.encoder(self.codec.preprocess(audio, self.codec.sample_rate))
            latents.append(latent.transpose(1, 2).reshape(-1, latent.shape[1]).cpu())
        left = fit_residual_vq(self.codec.quantizer, torch.cat(latents), seed=self.config.run.seed)
        self.quantizer_snr_db = [-10 * math.log10(max(value, 1e-12)) for value in left]
        if self.rank == 0:
            print(f"quantizer fitted by k-means to {sum(len(x) for x in latents)} latent frames; "
                  "SNR after each codebook (dB): " + " ".join(f"{v:.2f}" for v in self.quantizer_snr_db),
                  file=sys.stderr)
        return self.quantizer_snr_db

    def build(self) -> torch.nn.Module:
        from codecsep_mm.codecs.dac_backend import build_dac

        torch.manual_seed(self.config.run.seed)
        self.codec = build_dac(self.config.codec.dac_kwargs())
        finetune = self.config.finetune
        if finetune.init_from:
            _load_initial_codec(self.codec, finetune.init_from)
        elif finetune.init == "mdct":
            from codecsep_mm.codecs.mdct_init import init_dac_as_mdct

            init_dac_as_mdct(self.codec)
        for part in finetune.freeze:
            for parameter in getattr(self.codec, part).parameters():
                parameter.requires_grad_(False)
        self.mel_loss = _mel_loss(self.config.loss)
        return CodecAutoencoder(self.codec)

    def datasets(self):
        return _datasets(self.config)

    def save_best(self) -> None:
        from codecsep_mm.codecs.dac_backend import save_dac_weights

        directory = self.out_dir / "best"
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{BEST_FILE}.partial"
        save_dac_weights(self.codec, tmp)
        os.replace(tmp, directory / BEST_FILE)

    def items(self, batch: dict[str, Any]) -> torch.Tensor:
        """The batch's training signals ``(b, 1, s)``: mixtures, or single stems (the choice comes
        from the generator the loop seeds at every step)."""
        mixture, stems = batch["mixture"], batch["stems"]
        single = torch.rand(mixture.shape[0]) < self.config.loss.single_source_prob
        pick = torch.randint(stems.shape[1], (mixture.shape[0],))
        chosen = stems[torch.arange(mixture.shape[0]), pick][:, None]
        return torch.where(single[:, None, None], chosen, mixture).to(self.device)

    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        return self._loss(batch)[0]

    def _loss(self, batch: dict[str, Any]):
        """``(loss, reconstructions, the items they reconstruct)``."""
        audio = self.items(batch)
        out = self.model(audio, self._continuous())
        spec = self.config.loss
        total = spec.commitment_weight * out["commitment"] + spec.codebook_weight * out["codebook"]
        total = total + self._reconstruction_loss(out["quantized"], audio)
        if "continuous" in out:
            total = total + spec.continuous_weight * self._reconstruction_loss(out["continuous"], audio)
        return total, out, audio

    def _continuous(self) -> bool:
        """Whether to decode the continuous latent: when its loss counts, and, in training, only if
        the encoder or decoder can learn from it (both frozen: it is a constant; validation still
        reports it)."""
        if self.config.loss.continuous_weight <= 0:
            return False
        return not self.model.training or not {"encoder", "decoder"} <= set(self.config.finetune.freeze)

    def _reconstruction_loss(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        from audiotools import AudioSignal

        rate = self.config.codec.sample_rate
        spec = self.config.loss
        with warnings.catch_warnings():  # each of DAC's mel scales re-takes the STFT; audiotools warns each time
            warnings.filterwarnings("ignore", message="stft_data changed shape")
            mel = self.mel_loss(AudioSignal(estimate.float(), rate), AudioSignal(target.float(), rate))
        total = spec.mel_weight * mel + spec.waveform_weight * (estimate - target).abs().mean()
        if spec.si_sdr_weight > 0:
            from codecsep_mm.train.loss import neg_si_sdr

            total = total + spec.si_sdr_weight * neg_si_sdr(estimate, target).mean()
        return total

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Validation loss, and SI-SDR (dB) of the quantized and continuous reconstructions of the
        validation items (mixtures, or single stems with ``single_source_prob``)."""
        from codecsep_mm.data.mixing import collate
        from codecsep_mm.train.loss import neg_si_sdr

        if self.valid_set is None:
            return {}
        self.model.eval()
        torch.manual_seed(self.config.run.seed)  # the same single/mixture choices every time
        size, n_items = self.config.run.batch_size, self.config.data.valid_items
        totals: dict[str, float] = {}
        for start in range(0, n_items, size):
            batch = collate([self.valid_set[i] for i in range(start, min(n_items, start + size))])
            count = batch["mixture"].shape[0]
            loss, out, audio = self._loss(batch)
            values = {"valid/loss": float(loss),
                      "valid/si_sdr_quantized": float(-neg_si_sdr(out["quantized"], audio).mean())}
            if "continuous" in out:
                values["valid/si_sdr_continuous"] = float(-neg_si_sdr(out["continuous"], audio).mean())
            for key, value in values.items():
                totals[key] = totals.get(key, 0.0) + value * count
        return {key: value / n_items for key, value in totals.items()}


def _load_initial_codec(codec: torch.nn.Module, source: str) -> None:
    """Copy trained weights (a DAC ``.pth`` file, or a codec run folder) into ``codec``, strictly."""
    from pathlib import Path

    from codecsep_mm.codecs.dac_backend import load_dac_weights
    from codecsep_mm.errors import ConfigError

    path = Path(source)
    if path.is_dir():
        path = path / "best" / BEST_FILE if (path / "best" / BEST_FILE).exists() else path / BEST_FILE
    if not path.is_file():
        raise ConfigError(f"finetune.init_from: {source} has no codec weights; give a DAC .pth file "
                          f"or a train-codec run folder with best/{BEST_FILE}")
    trained = load_dac_weights(path)
    try:
        codec.load_state_dict(trained.state_dict(), strict=True)
    except RuntimeError as error:
        raise ConfigError(f"finetune.init_from: {path} is another codec architecture than the config's "
                          f"`codec` section ({str(error).splitlines()[0]})") from error


def _mel_loss(spec: CodecLossSpec):
    from dac.nn.loss import MelSpectrogramLoss

    scales = len(spec.mel_bins)
    return MelSpectrogramLoss(
        n_mels=list(spec.mel_bins), window_lengths=list(spec.mel_window_lengths), clamp_eps=1e-5,
        mag_weight=0.0, log_weight=1.0, pow=1.0, mel_fmin=[0.0] * scales, mel_fmax=[None] * scales,
    )
