"""Typed errors a user can cause. Each message says what was wrong and what to do.

The CLI prints ``str(error)`` on one line and exits non-zero; the Python API raises them as they are.
"""

from __future__ import annotations

import numbers
from typing import Any


def is_number(value: Any) -> bool:
    """True for an int or float (numpy's too), not for a bool or text: what a numeric setting may be
    before its range is checked."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_whole(value: Any) -> bool:
    """True for an int (numpy's too), not for a bool, a float or text."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class CodecSepError(Exception):
    """Base class of every error a user can cause (bad input, missing weights, unknown names)."""


class AudioInputError(CodecSepError, ValueError):
    """An audio file or array cannot be used: missing, unreadable, empty, silent, NaN, >2 channels."""


class UnknownNameError(CodecSepError, KeyError):
    """A model, codec or encoder name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WeightsNotFoundError(CodecSepError, FileNotFoundError):
    """Pretrained weights are not on disk and cannot be downloaded (offline or not asked to)."""


class DownloadError(CodecSepError, OSError):
    """A download failed: no network, timeout, or a checksum mismatch."""


class ConfigError(CodecSepError, ValueError):
    """A configuration or checkpoint that does not fit: unknown keys, wrong shapes, wrong space."""


class CodecMismatchError(CodecSepError, ValueError):
    """Codes (a ``.dac`` file) that were written by a different codec than the model's."""


class PromptError(CodecSepError, ValueError):
    """A prompt that cannot be encoded (empty text, wrong modality, wrong embedding space)."""


class OutputPathError(CodecSepError, OSError):
    """An output location that cannot be written (a file where a folder is needed, the input itself)."""
