"""Compute and speed of a Separator: parameters, GMACs per second of audio, real-time factor, memory.

MACs are counted with ``torch.utils.flop_counter`` (MAC = FLOP / 2). It counts matrix products,
convolutions and attention (we add the CPU attention kernel it does not know); element-wise work
(Snake, norms, softmax) is not counted, as in the paper's and most published figures.
"""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

PAPER_CODE_STREAM_GMACS = 1.35
PROFILE_SECONDS = (0.1, 3600.0)  # the input lengths a profile may time
PROFILE_PROMPTS = (1, 64)


def _cpu_attention_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _flop_counter() -> FlopCounterMode:
    mapping = {}
    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if op is not None:
        mapping[op] = _cpu_attention_flops
    return FlopCounterMode(display=False, custom_mapping=mapping)


def count_macs(fn, *args) -> int:
    """Multiply-accumulates of one call of ``fn(*args)``."""
    counter = _flop_counter()
    with torch.inference_mode(), counter:
        fn(*args)
    return counter.get_total_flops() // 2


@dataclass
class Profile:
    """What ``codecsep-mm profile`` reports. GMACs are per second of audio."""

    model: str
    device: str
    params: dict[str, int]
    gmacs_per_second: dict[str, float]
    totals: dict[str, float]
    seconds: float
    n_prompts: int
    chunk_frames: int
    rtf: dict[str, float] = field(default_factory=dict)
    peak_memory_mb: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_markdown(self) -> str:
        lines = [
            f"model `{self.model}` on {self.device}; {self.n_prompts} prompt(s); "
            f"{self.seconds:g} s input; masker chunk {self.chunk_frames} frames",
            "",
            "| component | params (M) | GMACs / s audio |",
            "| --- | ---: | ---: |",
        ]
        for name, gmacs in self.gmacs_per_second.items():
            params = self.params.get(name.split(" ")[0], 0) / 1e6
            lines.append(f"| {name} | {params:.2f} | {gmacs:.3f} |")
        lines += ["", "| total | GMACs / s audio | real-time factor |", "| --- | ---: | ---: |"]
        for name, gmacs in self.totals.items():
            rtf = self.rtf.get(name)
            lines.append(f"| {name} | {gmacs:.3f} | {'' if rtf is None else f'{rtf:.4f}'} |")
        if self.peak_memory_mb is not None:
            lines.append(f"\npeak memory: {self.peak_memory_mb:.0f} MB")
        lines += [f"\n- {note}" for note in self.notes]
        return "\n".join(lines)


def profile_separator(
    separator,
    name: str = "",
    seconds: float = 10.0,
    n_prompts: int = 1,
    time_runs: bool = True,
) -> Profile:
    """Count MACs per component on one second of audio and time both modes on ``seconds``."""
    check_profile_size(seconds, n_prompts)
    codec, masker = separator.codec, separator.masker
    masker.requires_grad_(False)
    device = separator.device
    frame_rate = codec.frame_rate
    one_second = torch.randn(1, 1, codec.sample_rate, device=device) * 0.1
    latent = codec.encode(one_second)
    settings = separator.settings
    chunk_seconds = (settings.chunk_seconds or seconds) + 2 * settings.context_seconds
    chunk_frames = min(round(chunk_seconds * frame_rate), masker.config.max_len)
    chunk_latent = torch.randn(1, codec.latent_dim, chunk_frames, device=device)
    cond = torch.nn.functional.normalize(torch.randn(1, masker.config.cond_dim, device=device), dim=-1)
    # The masker is counted on one full chunk (attention grows with its length) and scaled to 1 s.
    per_second = frame_rate / chunk_frames
    codes = codec.quantize(latent)
    gmacs = {
        "codec_encoder": count_macs(codec.encode, one_second) / 1e9,
        "masker (per prompt)": count_macs(masker.separate, chunk_latent, cond) * per_second / 1e9,
        "codec_decoder (per stem)": count_macs(codec.decode, latent) / 1e9,
        "rvq_quantize (per stem)": count_macs(codec.quantize, latent) / 1e9,
        "rvq_dequantize": count_macs(codec.dequantize, codes) / 1e9,
    }
    film = sum(p.numel() for n, p in masker.named_parameters() if "film" in n)
    params = {
        "codec_encoder": _n_params(codec.model.encoder),
        "masker": _n_params(masker) - film,
        "film": film,
        "codec_decoder": _n_params(codec.model.decoder),
        "rvq_quantize": _n_params(codec.model.quantizer),
        "rvq_dequantize": _n_params(codec.model.quantizer),
    }
    # End-to-end totals are counted on real calls over `seconds` of audio, so the cost of chunk
    # context and cross-fade overlap is included.
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(int(seconds * codec.sample_rate))).astype(np.float32)
    prompts = [f"sound {i}" for i in range(n_prompts)]
    stream = separator.encode_codes(audio)
    totals = {
        "wave mode": count_macs(separator.separate, audio, prompts) / seconds / 1e9,
        "code-stream mode": count_macs(separator.separate_codes, stream, prompts) / seconds / 1e9,
    }
    notes = [
        f"paper: {PAPER_CODE_STREAM_GMACS} GMACs/s end-to-end in code-stream mode (1 prompt)",
        "component rows: codec on 1 s; masker on one chunk with its context, scaled to 1 s",
        f"totals: counted on whole calls over {seconds:g} s (chunk context and overlap included)",
        "prompt encoding runs once per prompt and is not included",
    ]
    result = Profile(name, str(device), params, gmacs, totals, seconds, n_prompts, chunk_frames, notes=notes)
    if time_runs:
        result.rtf = time_modes(separator, seconds, n_prompts)
        result.peak_memory_mb = peak_memory_mb(device)
    return result


def check_profile_size(seconds: float, n_prompts: int) -> None:
    """A one-line :class:`ConfigError` unless ``seconds`` and ``n_prompts`` are in the ranges a profile
    takes (:data:`PROFILE_SECONDS`, :data:`PROFILE_PROMPTS`)."""
    from codecsep_mm.errors import ConfigError, is_whole

    low, high = PROFILE_SECONDS
    if not low <= float(seconds) <= high:
        raise ConfigError(f"profile length {seconds} s; give {low:g} to {high:g} seconds of input")
    low_n, high_n = PROFILE_PROMPTS
    if not is_whole(n_prompts) or not low_n <= n_prompts <= high_n:
        raise ConfigError(f"{n_prompts} prompts; give a whole number from {low_n} to {high_n}")


def time_modes(separator, seconds: float, n_prompts: int = 1) -> dict[str, float]:
    """Real-time factor (processing time / audio duration) of wave and code-stream modes."""
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(int(seconds * separator.sample_rate))).astype(np.float32)
    prompts = [f"sound {i}" for i in range(n_prompts)]
    separator.separate(audio[: separator.sample_rate], prompts)  # warm-up
    _sync(separator.device)
    start = time.perf_counter()
    separator.separate(audio, prompts)
    _sync(separator.device)
    wave = time.perf_counter() - start
    stream = separator.encode_codes(audio)
    separator.separate_codes(stream, prompts)  # warm-up at full length
    _sync(separator.device)
    start = time.perf_counter()
    separator.separate_codes(stream, prompts)
    _sync(separator.device)
    code = time.perf_counter() - start
    return {"wave mode": wave / seconds, "code-stream mode": code / seconds}


def peak_memory_mb(device: torch.device | str = "cpu") -> float:
    """Peak memory of this process so far: CUDA allocator peak on GPU, peak RSS on CPU.

    On Linux the peak RSS is read from ``VmHWM`` in ``/proc/self/status``: ``ru_maxrss`` would
    include the parent's peak when a process is started by fork + exec.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
