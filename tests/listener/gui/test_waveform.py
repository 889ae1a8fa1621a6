"""The live waveform: a min/max envelope of the last seconds, at any width."""

from __future__ import annotations

import numpy as np
import pytest
from guitools import RATE

from listener.gui.waveform import WaveformView


def test_waveform_covers_the_whole_span_at_any_width(qtbot):
    view = WaveformView(seconds=6.0, sample_rate=RATE)
    qtbot.addWidget(view)
    x = np.zeros(6 * RATE, np.float32)
    x[: RATE // 2] = 0.5  # loud at the very start of the 6 s
    view.append(x, True)
    for width in (200, 666, 1000, 1500):
        lo, hi, active = view.envelope(width)
        assert len(hi) == width
        assert hi[0] == pytest.approx(0.5) and hi[-1] == 0.0
        assert 0.05 * width < np.count_nonzero(hi) < 0.12 * width  # 0.5 s of 6 s
