"""Stand-in for descript-audiotools on the GPU machine, which lacks it and its many requirements.

Only the names that ``import dac`` touches at import time: the masker trainer builds ``dac.DAC``
and calls no audiotools code. Never on the path of a normal install."""

from collections import namedtuple

from . import ml  # noqa: F401

STFTParams = namedtuple("STFTParams", "window_length hop_length window_type match_stride padding_type",
                        defaults=(None,) * 5)


class AudioSignal:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("audiotools stand-in: AudioSignal is not available on this machine")
