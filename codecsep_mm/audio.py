"""Audio I/O and checks: soundfile for reading and writing, soxr for resampling (never torchaudio I/O).

Arrays are ``(channels, samples)`` float32 numpy arrays; batches in torch are
``(batch, channels, samples)``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from codecsep_mm.errors import AudioInputError, OutputPathError

MAX_CHANNELS = 2
SILENCE_PEAK = 1e-6
FORMATS = {"wav": "WAV", "flac": "FLAC"}
SUBTYPES = {"wav": "FLOAT", "flac": "PCM_24"}
FLAC_MAX_RATE = 655350  # the highest rate libsndfile writes FLAC at


def load_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read an audio file as ``(channels, samples)`` float32 and its sample rate, checked.

    Raises:
        AudioInputError: missing, unreadable, truncated, empty, silent, NaN/inf or >2 channels.
    """
    import soundfile as sf

    path = Path(path)
    info = probe_audio(path)
    try:
        data, sample_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:  # libsndfile raises several types; all mean "cannot decode"
        raise _unreadable(path, error) from error
    _check_frames(path, data.shape[0], info.frames)
    wav = np.ascontiguousarray(data.T)
    check_waveform(wav, name=str(path))
    return wav, check_sample_rate(sample_rate, str(path))


READ_BLOCK_FRAMES = 1 << 18


def check_audio_file(path: str | os.PathLike) -> int:
    """Every check of :func:`load_audio`, reading the file in blocks rather than holding it, so that
    a batch can be checked whole before any of it is separated. Returns the file's sample rate.

    Raises:
        AudioInputError: as :func:`load_audio`.
    """
    import soundfile as sf

    path = Path(path)
    info = probe_audio(path)
    frames, finite, peak = 0, True, 0.0
    try:
        with sf.SoundFile(str(path)) as handle:
            check_channels(handle.channels, str(path))
            for block in handle.blocks(READ_BLOCK_FRAMES, dtype="float32", always_2d=True):
                frames += block.shape[0]
                finite = finite and bool(np.isfinite(block).all())
                if finite and block.size:
                    peak = max(peak, float(np.abs(block).max()))
    except AudioInputError:
        raise
    except Exception as error:  # libsndfile raises several types; all mean "cannot decode"
        raise _unreadable(path, error) from error
    _check_frames(path, frames, info.frames)
    check_content(str(path), frames, finite, peak)
    return check_sample_rate(info.samplerate, str(path))


def probe_audio(path: str | os.PathLike) -> Any:
    """The checks of :func:`load_audio` that need only the file's header (a path that exists, a
    format libsndfile reads, a WAV data chunk that is all there), so that a batch can be checked
    before any of it is separated. Returns ``soundfile.info``'s result.

    Raises:
        AudioInputError: missing, a folder, unreadable or truncated.
    """
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioInputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise AudioInputError(f"{path}: is a folder, not an audio file")
    try:
        info = sf.info(str(path))
    except Exception as error:  # libsndfile raises several types; all mean "cannot decode"
        raise _unreadable(path, error) from error
    if _wav_data_missing(path):
        raise AudioInputError(f"{path}: truncated audio (its data chunk is cut short); re-export the file")
    return info


def _unreadable(path: Path, error: BaseException) -> AudioInputError:
    return AudioInputError(f"{path}: cannot read audio ({_first_line(error)}); convert it to WAV or FLAC")


def _check_frames(path: Path, readable: int, expected: int) -> None:
    """Truncated: fewer frames decode than the header promises (``expected`` 0: unknown)."""
    if expected > 0 and readable < expected:
        raise AudioInputError(
            f"{path}: truncated audio ({readable} of {expected} frames readable); re-export the file"
        )


def _wav_data_missing(path: Path) -> bool:
    """True when a RIFF/WAVE file's ``data`` chunk claims more bytes than the file holds.

    libsndfile silently reads what is there, so a cut-off download would otherwise pass.
    """
    import struct

    size = path.stat().st_size
    with open(path, "rb") as handle:
        if handle.read(4) != b"RIFF" or handle.read(8)[4:] != b"WAVE":
            return False
        offset = 12
        while offset + 8 <= size:
            handle.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                return chunk_size != 0xFFFFFFFF and offset + 8 + chunk_size > size
            offset += 8 + chunk_size + (chunk_size & 1)
    return False


def check_waveform(wav: np.ndarray, name: str = "audio") -> None:
    """Check a ``(channels, samples)`` array: non-empty, finite, at most 2 channels, not silent."""
    if wav.ndim != 2:
        raise AudioInputError(f"{name}: expected (channels, samples), got shape {wav.shape}")
    channels, samples = wav.shape
    if samples == 0 or channels == 0:
        raise AudioInputError(f"{name}: contains no audio (zero length); give a non-empty file")
    if channels > MAX_CHANNELS and samples <= MAX_CHANNELS:
        raise AudioInputError(
            f"{name}: shaped {wav.shape}, which looks like (samples, channels), the way soundfile.read "
            "returns audio; pass (channels, samples), e.g. wav.T"
        )
    check_channels(channels, name)
    finite = bool(np.isfinite(wav).all())
    check_content(name, samples, finite, float(np.abs(wav).max()) if finite else 0.0)


def check_channels(channels: int, name: str) -> None:
    if channels > MAX_CHANNELS:
        raise AudioInputError(
            f"{name}: has {channels} channels; only mono or stereo is supported, "
            "downmix it first (e.g. `sox in.wav -c 2 out.wav`)"
        )


def check_content(name: str, samples: int, finite: bool, peak: float) -> None:
    """The checks on what audio holds: samples, all finite, not silent (``peak``: the largest
    absolute sample, read only when ``finite``)."""
    if samples == 0:
        raise AudioInputError(f"{name}: contains no audio (zero length); give a non-empty file")
    if not finite:
        raise AudioInputError(f"{name}: contains NaN or infinite samples; fix or re-export it")
    if peak <= SILENCE_PEAK:
        raise AudioInputError(f"{name}: is silent (all samples ~0); nothing to separate")


def audio_array(samples, name: str = "audio") -> np.ndarray:
    """Samples given in memory (a numpy array, a torch tensor, a list) as a float32 array.

    Integer PCM is read as a fraction of full scale, the way soundfile reads an integer file (int16
    32767 -> about 1.0; unsigned 8-bit centred on 128), so stems come back in [-1, 1] whatever the
    input's type. Booleans, complex numbers and text are refused.

    Raises:
        AudioInputError: samples that are not real numbers.
    """
    if hasattr(samples, "detach"):  # a torch tensor (bfloat16 has no numpy type: go through float32)
        samples = samples.detach().cpu().float().numpy()
    try:
        array = np.asarray(samples)
    except ValueError:  # ragged nested lists
        raise AudioInputError(f"{name}: samples of unequal lengths; give one array of numbers") from None
    kind = array.dtype.kind
    if kind == "f":
        return array.astype(np.float32, copy=False)
    if kind in "iu":
        full_scale = 2.0 ** (8 * array.dtype.itemsize - 1)
        offset = full_scale if kind == "u" else 0.0
        return ((array.astype(np.float64) - offset) / full_scale).astype(np.float32)
    if kind in "bc":
        what = "booleans" if kind == "b" else "complex numbers"
        raise AudioInputError(f"{name}: samples are {what}; give real-valued samples (float or integer PCM)")
    what = type(samples).__name__ if array.ndim == 0 else f"an array of {array.dtype.name}"
    raise AudioInputError(f"{name}: got {what}, which is not audio samples; give a file path or an array of numbers")


MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 768_000


def check_sample_rate(rate, name: str = "audio") -> int:
    """``rate`` as an int, if it is a whole number of Hz that audio can have (1 kHz to 768 kHz).

    Raises:
        AudioInputError: a rate that is not a number, not whole, or out of that range.
    """
    whole = isinstance(rate, (int, np.integer)) and not isinstance(rate, (bool, np.bool_))
    if isinstance(rate, (float, np.floating)) and float(rate).is_integer():
        whole, rate = True, int(rate)
    if not whole or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioInputError(
            f"{name}: sample rate {rate!r} is not usable; give the rate in Hz as a whole number from "
            f"{MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} (e.g. 44100)"
        )
    return int(rate)


def as_channels_first(wav, name: str = "audio") -> np.ndarray:
    """Accept ``(samples,)`` or ``(channels, samples)`` and return ``(channels, samples)`` float32
    (through :func:`audio_array`)."""
    wav = audio_array(wav, name)
    if wav.ndim == 1:
        wav = wav[None]
    return wav


def resample(wav: np.ndarray, sample_rate_in: int, sample_rate_out: int) -> np.ndarray:
    """Resample ``(channels, samples)`` with soxr (high quality). No-op when the rates match."""
    if sample_rate_in == sample_rate_out:
        return wav
    import soxr

    out = soxr.resample(wav.T, sample_rate_in, sample_rate_out, quality="HQ")
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(-1, wav.shape[0]).T)


# ITU-R BS.1770 K-weighting: a high shelf (+4 dB above about 1.7 kHz, the head) then a high-pass
# (about 38 Hz); the analogue prototypes' parameters, turned into biquads at any sample rate.
K_SHELF = (1681.9744509555319, 0.7071752369554193, 3.99984385397)  # centre Hz, Q, gain dB
K_HIGHPASS = (38.13547087613982, 0.5003270373253953)  # corner Hz, Q
BLOCK_SECONDS, BLOCK_STEP = 0.4, 0.1  # gating blocks of 400 ms every 100 ms
ABSOLUTE_GATE, RELATIVE_GATE = -70.0, -10.0  # LUFS; LU below the mean of the absolute-gated blocks


def _k_weighting(sample_rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two K-weighting biquads ``(b, a)`` at ``sample_rate``: the analogue prototypes through
    the bilinear transform (at 48 kHz these are the standard's published coefficients)."""
    centre, q, gain_db = K_SHELF
    k = np.tan(np.pi * centre / sample_rate)
    high = 10 ** (gain_db / 20)
    mid = high**0.4996667741545416  # the shelf's gain at its centre
    a0 = 1 + k / q + k * k
    shelf = (np.array([high + mid * k / q + k * k, 2 * (k * k - high), high - mid * k / q + k * k]) / a0,
             np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]))
    corner, q = K_HIGHPASS
    k = np.tan(np.pi * corner / sample_rate)
    a0 = 1 + k / q + k * k
    highpass = (np.array([1.0, -2.0, 1.0]), np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]))
    return [shelf, highpass]


def loudness_lufs(wav: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS) of ``(samples,)`` or ``(channels, samples)`` audio, ITU-R BS.1770:
    K-weighted mean square in 400 ms blocks, absolute gate at -70 LUFS, relative gate 10 LU down.
    Channels count with weight 1 (their mean squares add). ``-inf`` when no block passes the gates
    (silence, or shorter than one block after zero-padding to it).

    >>> t = np.arange(48000 * 2) / 48000
    >>> round(loudness_lufs(np.sin(2 * np.pi * 997 * t), 48000), 2)  # the standard's full-scale sine
    -3.01
    """
    block, step = round(BLOCK_SECONDS * sample_rate), round(BLOCK_STEP * sample_rate)
    wav = np.atleast_2d(np.asarray(wav, dtype=np.float64))
    if wav.shape[-1] < block:
        wav = np.pad(wav, [(0, 0), (0, block - wav.shape[-1])])
    energy = np.cumsum(np.pad(_k_weighted_power(wav, sample_rate), (1, 0)))
    starts = np.arange(0, wav.shape[-1] - block + 1, step)
    return _gated_loudness((energy[starts + block] - energy[starts]) / block)


def loudness_profile(wav: np.ndarray, sample_rate: int, hop: int) -> np.ndarray:
    """K-weighted energy of ``(samples,)`` or ``(channels, samples)`` audio in frames of ``hop``
    samples (channels added; the last frame zero-padded), float32 ``(frames,)``: what
    :func:`profile_loudness` measures any run of frames from, without the audio."""
    power = _k_weighted_power(np.atleast_2d(np.asarray(wav, dtype=np.float64)), sample_rate)
    power = np.pad(power, (0, -power.size % hop))
    return power.reshape(-1, hop).sum(1).astype(np.float32)


def profile_loudness(profile: np.ndarray, sample_rate: int, hop: int) -> float:
    """Integrated loudness (LUFS) of the frames of a :func:`loudness_profile`: BS.1770's gating on
    blocks of the frames nearest 400 ms, every 100 ms. For frames whose audio is ``wav``, this is
    :func:`loudness_lufs` of ``wav`` up to the K-weighting filters' start (they ran on the whole
    input, not from the first frame) and, where 400 ms is not a whole number of frames, the
    rounding of the blocks."""
    block = max(1, round(BLOCK_SECONDS * sample_rate / hop))
    step = max(1, round(BLOCK_STEP * sample_rate / hop))
    profile = np.asarray(profile, dtype=np.float64)
    profile = np.pad(profile, (0, max(0, block - profile.size)))
    energy = np.cumsum(np.pad(profile, (1, 0)))
    starts = np.arange(0, profile.size - block + 1, step)
    return _gated_loudness((energy[starts + block] - energy[starts]) / (block * hop))


def _k_weighted_power(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(channels, samples)`` -> the K-weighted square, channels added, ``(samples,)``."""
    from scipy.signal import lfilter

    for b, a in _k_weighting(sample_rate):
        wav = lfilter(b, a, wav, axis=-1)
    return (wav**2).sum(0)


def _gated_loudness(blocks: np.ndarray) -> float:
    """Blocks' mean squares -> BS.1770's gated loudness (``-inf`` when none passes the gates)."""
    with np.errstate(divide="ignore"):
        levels = -0.691 + 10 * np.log10(blocks)
    kept = blocks[levels > ABSOLUTE_GATE]
    if kept.size == 0:
        return float("-inf")
    relative = -0.691 + 10 * np.log10(kept.mean()) + RELATIVE_GATE
    kept = blocks[levels > max(relative, ABSOLUTE_GATE)]
    return float(-0.691 + 10 * np.log10(kept.mean()))


def save_audio(path: str | os.PathLike, wav: np.ndarray, sample_rate: int) -> Path:
    """Write ``(channels, samples)`` atomically (temporary name, then rename). Format from suffix."""
    import soundfile as sf

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise OutputPathError(f"{path}: unsupported output format '{fmt}'; use .wav or .flac")
    check_output_rate(fmt, sample_rate, str(path))
    data = np.asarray(wav, dtype=np.float32).T
    if fmt == "flac":
        data = np.clip(data, -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), data, sample_rate, format=FORMATS[fmt], subtype=SUBTYPES[fmt])
    return path


def check_output_rate(fmt: str, sample_rate: int, name: str) -> None:
    """A one-line :class:`OutputPathError` if format ``fmt`` (``wav``, ``flac``) cannot store audio
    at ``sample_rate`` (FLAC, as libsndfile writes it, stops at :data:`FLAC_MAX_RATE`)."""
    if fmt == "flac" and sample_rate > FLAC_MAX_RATE:
        raise OutputPathError(f"{name}: FLAC cannot store {sample_rate} Hz audio (at most {FLAC_MAX_RATE} Hz); "
                              "write WAV instead (--format wav)")


class atomic_path:
    """Context manager giving a temporary path beside ``path``; renamed onto it on success only.

    Example:
        >>> with atomic_path("out.wav") as tmp:  # doctest: +SKIP
        ...     write(tmp)
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __enter__(self) -> Path:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(
                prefix=f".{self.path.stem}.", suffix=f".partial{self.path.suffix}", dir=self.path.parent
            )
        except OSError as error:
            raise OutputPathError(f"{self.path}: cannot write here ({error.strerror or error}); choose "
                                  "another output") from None
        os.close(handle)
        # mkstemp creates 0600 files; give the result the usual permissions (0666 minus the umask)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(name, 0o666 & ~umask)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
