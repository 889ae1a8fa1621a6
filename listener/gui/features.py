"""The model's own features as a stream of columns: what the scrolling spectrogram draws.

The app shows what the model hears, so it draws the ``features`` output of the model
itself (the log-mel, MFCC or whatever front end the graph holds; docs/architecture.md,
"The model contract"), never a copy of the front end. A model takes fixed windows, so
:class:`FeatureColumns` runs it on the latest window of the stream and keeps the frames
it has not handed out yet. Windows start on the frame grid (multiples of the feature
hop), and a frame depends only on its own samples, so a frame is the same whichever
window computed it: the columns are the model's features, frame for frame.

A model without a ``features`` output has nothing to draw (:func:`feature_layout` is
None); the view says so. No torch, no second front end: this runs in the worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from listener.contract import ModelInfo

UPDATE_SECONDS = 0.1  # run the model for the view at most this often (each run is one window)


class FeatureModel(Protocol):
    """What :class:`FeatureColumns` needs of a model (a :class:`~listener.classifier.Classifier`)."""

    info: ModelInfo
    has_features: bool

    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]: ...


@dataclass(frozen=True)
class FeatureLayout:
    """The shape of a model's ``features`` output and where its frames sit in time."""

    n_features: int  # rows (mel bands, MFCC coefficients...)
    frames: int  # frames per window
    hop: int  # samples between two frames
    sample_rate: int

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop


def feature_layout(model: FeatureModel) -> FeatureLayout | None:
    """The layout of ``model``'s features (one run on silence), None without a ``features`` output.

    The hop is the metadata's (``ModelInfo.feature_hop``); a model that does not say is taken
    to spread its frames evenly over the window.
    """
    if not model.has_features:
        return None
    info = model.info
    _, features = model.predict(np.zeros((1, info.window_samples), np.float32))
    if features is None or np.ndim(features) < 3:
        return None
    n_features, frames = int(features.shape[-2]), int(features.shape[-1])
    hop = info.feature_hop or max(1, info.window_samples // frames)
    return FeatureLayout(n_features, frames, hop, info.sample_rate)


class FeatureColumns:
    """Streams audio blocks into the model's feature frames.

    ``push`` returns the frames completed since the last call that handed any out, as
    ``[n_features, n]`` columns with the absolute index of the first one (frame ``f``
    starts at sample ``f * hop`` of the stream). The model runs at most once per
    ``update_seconds`` of audio, on the latest window that holds only audio already heard.
    """

    def __init__(self, model: FeatureModel, layout: FeatureLayout, update_seconds: float = UPDATE_SECONDS) -> None:
        self.model = model
        self.layout = layout
        self.window = model.info.window_samples
        self.min_frames = max(1, int(round(update_seconds * layout.frames_per_second)))
        self.runs = 0  # model calls made (the benchmark reads this)
        self._audio = np.zeros(0, np.float32)
        self._start = 0  # absolute index of self._audio[0]
        self._position = 0  # samples pushed
        self._next = 0  # absolute index of the next frame to hand out

    def push(self, samples: np.ndarray) -> tuple[np.ndarray, int]:
        samples = np.asarray(samples, dtype=np.float32).ravel()
        self._audio = np.concatenate([self._audio, samples]) if len(self._audio) else samples.copy()
        self._position += len(samples)
        hop, frames = self.layout.hop, self.layout.frames
        latest = (self._position - self.window) // hop  # first frame of the newest complete window
        if latest + frames - self._next < self.min_frames:
            return np.zeros((self.layout.n_features, 0), np.float32), self._next
        first, columns = self._next, []
        # The windows to run (by first frame): from the next frame on, a window apart, then the newest.
        for start in [*range(self._next, latest, frames), latest]:
            columns.append(self._frames(start)[:, self._next - start :])
            self._next = start + frames
        keep = max(latest * hop - self._start, 0)  # no later window starts before this one
        self._audio, self._start = self._audio[keep:], self._start + keep
        return np.concatenate(columns, axis=1), first

    def _frames(self, start_frame: int) -> np.ndarray:
        """The model's features for the window starting at frame ``start_frame`` (zeros before the stream)."""
        begin = start_frame * self.layout.hop - self._start
        window = np.zeros(self.window, np.float32)
        lo, hi = max(begin, 0), min(begin + self.window, len(self._audio))
        if hi > lo:
            window[lo - begin : hi - begin] = self._audio[lo:hi]
        _, features = self.model.predict(window[None, :])
        self.runs += 1
        f = np.asarray(features, dtype=np.float32)
        return f.reshape(f.shape[-2], f.shape[-1])
