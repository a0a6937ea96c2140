"""Chunked processing of long inputs: window plans and overlap-add with cross-fades.

Windows are planned in latent frames. Each window has a *core* span (kept, cross-faded with its
neighbours over ``overlap`` frames) inside a *context* span (processed, then cropped) so that the
codec's convolutions and the masker's attention see audio on both sides of the core.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Window:
    """One chunk: frames ``[start, stop)`` are kept; ``[context_start, context_stop)`` processed."""

    start: int
    stop: int
    context_start: int
    context_stop: int
    fade_in: int
    fade_out: int


def plan_windows(n_frames: int, chunk: int | None, overlap: int, context: int) -> list[Window]:
    """Cover ``[0, n_frames)`` with windows of ``chunk`` frames overlapping by ``overlap``.

    ``chunk=None`` (or ``chunk >= n_frames``) gives one window over everything. The last window is
    shorter; every window is longer than the overlap.

    Example:
        >>> [(w.start, w.stop) for w in plan_windows(10, 4, 1, 0)]
        [(0, 4), (3, 7), (6, 10)]
        >>> [(w.start, w.stop) for w in plan_windows(11, 4, 1, 0)]
        [(0, 4), (3, 7), (6, 10), (9, 11)]
    """
    if n_frames <= 0:
        raise ValueError("nothing to process (0 frames)")
    if chunk is None or chunk >= n_frames:
        return [Window(0, n_frames, 0, n_frames, 0, 0)]
    if not 0 <= overlap < chunk:
        raise ValueError(f"overlap ({overlap} frames) must be smaller than the chunk ({chunk})")
    step = chunk - overlap
    windows: list[Window] = []
    for index, start in enumerate(range(0, n_frames - overlap, step)):
        stop = min(start + chunk, n_frames)
        fade_in = windows[-1].stop - start if index else 0
        windows.append(
            Window(
                start,
                stop,
                max(0, start - context),
                min(n_frames, stop + context),
                fade_in,
                0,
            )
        )
        if index:
            previous = windows[-2]
            windows[-2] = Window(
                previous.start,
                previous.stop,
                previous.context_start,
                previous.context_stop,
                previous.fade_in,
                fade_in,
            )
    return windows


def fade_weights(length: int, fade_in: int, fade_out: int) -> torch.Tensor:
    """Linear cross-fade weights: ramps up over ``fade_in``, down over ``fade_out``, else 1.

    Adjacent windows' ramps over the same span sum to exactly 1.
    """
    weight = torch.ones(length)
    if fade_in:
        weight[:fade_in] = (torch.arange(fade_in) + 0.5) / fade_in
    if fade_out:
        weight[length - fade_out :] = 1 - (torch.arange(fade_out) + 0.5) / fade_out
    return weight


class OverlapAdd:
    """Accumulates weighted blocks along the last axis and hands back finished spans.

    Blocks must arrive in order of their start; memory holds only the not-yet-finished span.
    """

    def __init__(self) -> None:
        self.offset = 0
        self.total: torch.Tensor | None = None
        self.weight: torch.Tensor | None = None

    def add(self, start: int, block: torch.Tensor, weight: torch.Tensor) -> None:
        if self.total is None:
            self.offset = start
            self.total = torch.zeros(*block.shape[:-1], 0, dtype=block.dtype, device=block.device)
            self.weight = torch.zeros(0, dtype=block.dtype, device=block.device)
        assert self.weight is not None
        if start < self.offset:
            raise ValueError("blocks must be added in order")
        stop = start + block.shape[-1]
        grow = stop - self.offset - self.total.shape[-1]
        if grow > 0:
            self.total = torch.nn.functional.pad(self.total, (0, grow))
            self.weight = torch.nn.functional.pad(self.weight, (0, grow))
        weight = weight.to(block)
        span = slice(start - self.offset, stop - self.offset)
        self.total[..., span] += block * weight
        self.weight[span] += weight

    def flush(self, upto: int | None = None) -> tuple[int, torch.Tensor]:
        """Return ``(start, block)`` for the finished span ``[offset, upto)`` and forget it."""
        assert self.total is not None and self.weight is not None
        end = self.total.shape[-1] if upto is None else upto - self.offset
        block = self.total[..., :end] / self.weight[:end].clamp_min(1e-8)
        start = self.offset
        self.total = self.total[..., end:]
        self.weight = self.weight[end:]
        self.offset += end
        return start, block


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    name = ctypes.util.find_library("c")
    library = ctypes.CDLL(name) if name else None
    return getattr(library, "malloc_trim", None)


def release_memory() -> None:
    """Hand freed heap memory back to the OS between chunks (glibc only; a no-op elsewhere).

    Chunks of slightly different lengths leave fragmented free blocks that otherwise keep the
    resident size creeping up on long inputs.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
