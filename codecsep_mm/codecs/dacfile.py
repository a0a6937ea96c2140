"""``.dac`` files, compatible with descript-audio-codec's ``DACFile``, read without unpickling code.

``DACFile.save`` writes ``np.save`` of a dict ``{"codes": uint16 (b*c, q, t), "metadata": {...}}``;
``DACFile.load`` reads it with ``allow_pickle=True``. We write the same layout, plus a top-level
``"codecsep"`` entry (ignored by DAC) recording which codec made the codes and whether the codes are
loudness-normalised. We read with an unpickler that only admits numpy's array reconstruction.
"""

from __future__ import annotations

import io
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from codecsep_mm.audio import atomic_path
from codecsep_mm.errors import AudioInputError, CodecMismatchError

DAC_VERSION = "1.0.0"
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how protocol-2 pickles store bytes
}


@dataclass
class CodeStream:
    """Discrete codes of a (possibly stereo) signal, with what is needed to decode it exactly.

    Attributes:
        codes: ``(batch * channels, q, t)`` int64 codebook indices.
        channels: channels folded into the first axis.
        original_length: samples of the signal at ``sample_rate``.
        sample_rate: sample rate of the original signal (the codec may run at another rate).
        input_db: loudness (LUFS) of the input at the codec's rate, as DAC records it (we measure
            it with :func:`codecsep_mm.audio.loudness_lufs`, BS.1770 as DAC's meter is; -70 for
            silence).
        codec: codec name, and ``fingerprint``: digest of its codebooks (``None`` if unknown).
        normalized: whether the codes were made from loudness-normalised audio (DAC's compress).
    """

    codes: torch.Tensor
    channels: int
    original_length: int
    sample_rate: int
    input_db: float = -16.0
    codec: str | None = None
    fingerprint: str | None = None
    normalized: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_codebooks(self) -> int:
        return int(self.codes.shape[1])

    def check_codec(self, codec, path: str = "codes") -> None:
        """Refuse codes made by another codec (fingerprint, or codebook count and range)."""
        if self.fingerprint is not None and self.fingerprint != codec.fingerprint():
            made_by = f"codec '{self.codec}'" if self.codec else "another codec"
            raise CodecMismatchError(
                f"{path} was written by {made_by} (fingerprint {self.fingerprint}), not by this "
                f"model's codec '{codec.name}' ({codec.fingerprint()}); re-encode the audio with "
                "this model (`codecsep-mm encode`)"
            )
        if self.n_codebooks > codec.n_codebooks or int(self.codes.max()) >= codec.codebook_size:
            raise CodecMismatchError(
                f"{path} has {self.n_codebooks} codebooks with codes up to {int(self.codes.max())}, "
                f"but codec '{codec.name}' has {codec.n_codebooks} codebooks of "
                f"{codec.codebook_size}; re-encode the audio with this model"
            )


def write_dac_file(path: str | os.PathLike, stream: CodeStream) -> Path:
    """Write a ``.dac`` file that descript-audio-codec's ``DACFile.load`` can read."""
    path = Path(path)
    artifacts = {
        "codes": stream.codes.cpu().numpy().astype(np.uint16),
        "metadata": {
            "input_db": np.array(stream.input_db, dtype=np.float32),
            "original_length": int(stream.original_length),
            "sample_rate": int(stream.sample_rate),
            "chunk_length": int(stream.codes.shape[-1]),
            "channels": int(stream.channels),
            "padding": True,
            "dac_version": DAC_VERSION,
        },
        "codecsep": {
            "codec": stream.codec,
            "fingerprint": stream.fingerprint,
            "normalized": bool(stream.normalized),
            **stream.extra,
        },
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, artifacts, allow_pickle=True)  # type: ignore[arg-type]  # a dict, as DACFile writes
    return path


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_dac_file(path: str | os.PathLike) -> CodeStream:
    """Read a ``.dac`` file (ours or descript-audio-codec's) without executing pickled code."""
    path = Path(path)
    if not path.is_file():
        raise AudioInputError(f"{path}: no such .dac file; check the path")
    try:
        artifacts = _load_npy_object(path.read_bytes())
        codes = np.asarray(artifacts["codes"])
        metadata = artifacts["metadata"]
        version = metadata.get("dac_version")
        ours = artifacts.get("codecsep") or {}
    except Exception as error:
        raise AudioInputError(
            f"{path}: not a readable .dac file ({str(error).splitlines()[0] if str(error) else type(error).__name__}); "
            "create it with `codecsep-mm encode` or descript-audio-codec"
        ) from error
    if version != DAC_VERSION:
        raise AudioInputError(f"{path}: .dac version {version!r} is not supported (need {DAC_VERSION})")
    if codes.ndim != 3 or codes.shape[-1] == 0:
        raise AudioInputError(f"{path}: codes have shape {codes.shape}, expected (n, q, t) with t > 0")
    return CodeStream(
        codes=torch.from_numpy(codes.astype(np.int64)),
        channels=int(metadata["channels"]),
        original_length=int(metadata["original_length"]),
        sample_rate=int(metadata["sample_rate"]),
        input_db=float(np.asarray(metadata["input_db"]).reshape(-1)[0]),
        codec=ours.get("codec"),
        fingerprint=ours.get("fingerprint"),
        normalized=bool(ours.get("normalized", not ours)),
        extra={k: v for k, v in ours.items() if k not in ("codec", "fingerprint", "normalized")},
    )


def _load_npy_object(data: bytes) -> dict[str, Any]:
    handle = io.BytesIO(data)
    version = np.lib.format.read_magic(handle)
    read_header = (
        np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    )
    shape, _, dtype = read_header(handle)
    if dtype != np.dtype(object) or shape != ():
        raise ValueError("not a pickled dict")
    array = _NumpyOnlyUnpickler(handle).load()
    payload = array[()] if isinstance(array, np.ndarray) else array
    if not isinstance(payload, dict):
        raise ValueError("not a dict")
    return payload
