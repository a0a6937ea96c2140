"""Mixtures that carry a DC offset of their own, separated with ``separation.remove_offset`` on and off.

Some benchmark sources were recorded with a DC offset (0 A.D.'s waterfall: a mean of about 80 % of
its RMS), and a speech clip with one starts and stops as a step. This script takes the mixtures
of a manifest whose mean is more than ``--min-offset`` of their RMS, separates each with the
offset taken out and left in, and scores the stems as ``codecsep-mm eval`` does (zero-mean
SI-SDRi in 10 s chunks) and again with the estimate, reference and mixture all high-passed at
``--highpass-hz`` first (zero-phase Butterworth, 4th order): below 20 Hz nothing is heard, so the
second score leaves out what the first counts of where an inaudible step went.

Usage:
    python benchmarks/dc_offset.py --model starter-16k --manifest /work/heldmix-rendered/mixtures.jsonl \\
        [--kinds class] [--min-offset 0.05] [--highpass-hz 20] [--limit N] [--threads T]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os

import numpy as np
from manifest_options import add_manifest_options, load_manifest_run

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def offset_share(wav: np.ndarray) -> float:
    """The mean of ``wav`` over its RMS (0 for silence)."""
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64))))
    return abs(float(np.mean(wav, dtype=np.float64))) / rms if rms > 0 else 0.0


def low_share(wav: np.ndarray, sample_rate: int, below_hz: float) -> float:
    """The share of ``wav``'s energy, its mean taken out, at frequencies below ``below_hz``."""
    wav = np.asarray(wav, dtype=np.float64)
    power = np.abs(np.fft.rfft(wav - wav.mean())) ** 2
    total = power.sum()
    return float(power[np.fft.rfftfreq(len(wav), 1 / sample_rate) < below_hz].sum() / total) if total else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_manifest_options(parser, kinds="class")
    parser.add_argument("--min-offset", type=float, default=0.05, help="mean over RMS a mixture must exceed")
    parser.add_argument("--highpass-hz", type=float, default=20.0)
    args = parser.parse_args()

    from scipy.signal import butter, sosfiltfilt

    from codecsep_mm.audio import load_audio
    from codecsep_mm.eval.evaluate import separate_each
    from codecsep_mm.eval.metrics import chunked, mono, si_sdr
    from codecsep_mm.eval.report import class_means_line

    separator, records, kinds = load_manifest_run(args)
    chosen = [r for r in records if offset_share(load_audio(r.mixture)[0]) > args.min_offset]
    print(f"{args.model}: {len(chosen)} of {len(records)} mixtures of {args.manifest} have a mean above "
          f"{args.min_offset:.0%} of their RMS")
    low: dict[str, list[float]] = collections.defaultdict(list)
    for record in records:
        for source in record.sources:
            wav, rate = load_audio(source.path)
            low[source.cls].append(low_share(mono(wav), rate, args.highpass_hz))
    print(f"references with more than 10% of their energy below {args.highpass_hz:g} Hz (mean taken out): "
          + ", ".join(f"{c} {sum(v > 0.1 for v in low[c])} of {len(low[c])}" for c in ("speech", "music", "sfx")))
    own = separator.settings
    scores: dict[tuple, list[float]] = collections.defaultdict(list)
    for remove in (True, False):
        separator.settings = dataclasses.replace(own, remove_offset=remove)
        for done in separate_each(separator, chosen, kinds):
            rate = done.sample_rate
            sos = butter(4, args.highpass_hz, "highpass", fs=rate, output="sos")
            heard = {"as eval scores": lambda x: x,
                     f"above {args.highpass_hz:g} Hz": lambda x, sos=sos: np.ascontiguousarray(sosfiltfilt(sos, x))}
            mixture = mono(done.mixture)
            for (index, kind, _), estimate in zip(done.jobs, done.estimates):
                reference = mono(done.references[index])
                for name, band in heard.items():
                    gain = (chunked(si_sdr, band(mono(estimate)), band(reference), rate, 10.0)
                            - chunked(si_sdr, band(mixture), band(reference), rate, 10.0))
                    scores[(name, remove, kind, done.record.sources[index].cls)].append(gain)
    print("mean SI-SDRi (dB), speech / music / sfx, and the mean over the classes")
    for name, remove, kind in sorted({key[:3] for key in scores}, key=lambda k: (k[0], not k[1], k[2])):
        by_class = {c: scores[(name, remove, kind, c)] for c in ("speech", "music", "sfx")}
        title = f"{name:15s} remove_offset {'on' if remove else 'off':3s} {kind:8s}:"
        print(class_means_line(title, by_class), flush=True)


if __name__ == "__main__":
    main()
