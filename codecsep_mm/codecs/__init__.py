"""Codec backends: the DAC adapter, its named presets and ``.dac`` files."""

from codecsep_mm.codecs.base import CodecBackend
from codecsep_mm.codecs.dac_backend import DACCodec, load_dac_weights, save_dac_weights
from codecsep_mm.codecs.dacfile import CodeStream, read_dac_file, write_dac_file
from codecsep_mm.codecs.presets import (
    CodecPreset,
    available_codecs,
    codec_weights_path,
    create_codec,
    download_codec_weights,
    get_codec_preset,
    register_codec,
)

__all__ = [
    "CodecBackend",
    "CodecPreset",
    "CodeStream",
    "DACCodec",
    "available_codecs",
    "codec_weights_path",
    "create_codec",
    "download_codec_weights",
    "get_codec_preset",
    "load_dac_weights",
    "read_dac_file",
    "register_codec",
    "save_dac_weights",
    "write_dac_file",
]
