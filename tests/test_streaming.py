from __future__ import annotations

import torch

from codecsep_mm.streaming import OverlapAdd, fade_weights, plan_windows


def test_windows_cover_everything_once_at_full_weight():
    for n, chunk, overlap in [(1000, 500, 25), (11, 4, 1), (7, 7, 2), (501, 100, 10)]:
        windows = plan_windows(n, chunk, overlap, context=5)
        total = torch.zeros(n)
        for w in windows:
            assert w.context_start <= w.start < w.stop <= w.context_stop <= n
            total[w.start : w.stop] += fade_weights(w.stop - w.start, w.fade_in, w.fade_out)
        assert torch.allclose(total, torch.ones(n), atol=1e-6)


def test_overlap_add_reassembles_a_signal_from_chunks():
    signal = torch.randn(3, 1000)
    out = torch.zeros_like(signal)
    ola = OverlapAdd()
    windows = plan_windows(1000, 130, 20, 0)
    for i, w in enumerate(windows):
        ola.add(w.start, signal[:, w.start : w.stop], fade_weights(w.stop - w.start, w.fade_in, w.fade_out))
        start, block = ola.flush(windows[i + 1].start if i + 1 < len(windows) else None)
        out[:, start : start + block.shape[-1]] = block
    assert torch.allclose(out, signal, atol=1e-5)
