"""Google's speech_embedding under its own log-mel front end, as torch modules.

The embedding (``pretrained/embedding_model.onnx``, Apache-2.0, see ``pretrained/NOTICE.md``)
has heard far more voices than any dataset here; the digits and sounds models put small
trained heads on it. Exported models hold these modules as ONNX, so the runtime never
needs the files or torch.

Front end (``OwwFrontend``): ``melspectrogram.onnx`` re-implemented, read off its graph:

- audio at int16 scale (float32, +-32768), no centre padding;
- STFT as ``Conv1d``, kernel 512, stride 160 (10 ms hop), periodic Hann(400) zero-padded
  to 512 (56 zeros each side); only the DFT bins the mel bank uses and the 400 non-zero taps
  are computed (the same numbers at 0.37 of the cost);
- power, slaney mel bank (32 bands, 60-3800 Hz) as MatMul, ``10*log10(max(x, 1e-10))``,
  then ``max(x, x.max() - 80)``; openWakeWord then applies ``x/10 + 2``.

``melspectrogram.onnx`` takes that max over the whole input tensor (every clip of a batch),
which no streaming runtime can reproduce; ``clip_mode="window"`` (the default) takes it per
*embedding window* (76 mel frames stepped by 8), exactly what ``melspectrogram.onnx`` gives on
that window's own 12,512 samples. ``clip_mode="utterance"`` is the ONNX file on a batch of one.
Without a per-window clip ("utterance", "none") every window holds the same numbers where windows
overlap, and ``OwwFrontend.sequence`` + ``SpeechEmbedding.over_frames`` compute all the embeddings in
one pass over the frames (several times less work; tried for the digits graph: docs/training.md).

``floor_db`` (off by default, where the front end is ``melspectrogram.onnx``): the mel power that
white noise at that RMS level (dBFS) has on average is added to every frame before the log.
Digital silence (an 8-bit file's quiet stretches, a phone's noise gate) then reads as the faint
noise every training copy has (``strings.StringAugment.floor_db``) instead of ``log(1e-10)``; audio
whose own noise is well above the floor barely changes. A constant, so the graph stays deterministic.
Tried for the digits model and not adopted (it buries quiet speech: docs/training.md).

Backbone (``SpeechEmbedding``): ``embedding_model.onnx``'s 20 convolutions (batch norm fused),
each but the last followed by ``LeakyRelu(0.2)`` and ``max(x, -0.4)``, five max-pools; 76 mel
frames x 32 bands -> one 96-d vector, one every 80 ms (``EMB_HOP`` samples). The weights are
read from the ONNX initializers in node order (``from_onnx``), so the port cannot drift from
the file. ``LowerBackbone`` / ``UpperBackbone`` split it for caching a frozen lower part and
fine-tuning the upper convolutions.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 16000
N_FFT = 512
WIN_LENGTH = 400
HOP = 160
N_MELS = 32
F_MIN, F_MAX = 60.0, 3800.0
TOP_DB = 80.0
AMIN = 1e-10
WINDOW_FRAMES = 76  # mel frames per embedding window
WINDOW_STEP = 8  # mel frames between embedding windows (80 ms)
EMB_HOP = WINDOW_STEP * HOP  # 1280 samples
EMB_SPAN = (WINDOW_FRAMES - 1) * HOP + N_FFT  # 12512 samples feed one embedding (12400 non-zero-weighted)
INT16_SCALE = 32768.0


WIN_OFFSET = (N_FFT - WIN_LENGTH) // 2  # 56 zero-weight samples before (and after) the window


def stft_kernels() -> tuple[torch.Tensor, torch.Tensor]:
    """Real and imaginary DFT kernels [257, 1, 512] with the zero-padded Hann(400) window."""
    window = torch.zeros(N_FFT, dtype=torch.float64)
    offset = (N_FFT - WIN_LENGTH) // 2
    window[offset : offset + WIN_LENGTH] = torch.hann_window(WIN_LENGTH, periodic=True, dtype=torch.float64)
    n = torch.arange(N_FFT, dtype=torch.float64)
    k = torch.arange(N_FFT // 2 + 1, dtype=torch.float64)[:, None]
    angle = 2 * math.pi * k * n / N_FFT
    real = (window * torch.cos(angle)).float()[:, None, :]
    imag = (-window * torch.sin(angle)).float()[:, None, :]
    return real, imag


def slaney_mel_matrix() -> torch.Tensor:
    """[257, 32] slaney-scale, slaney-normalised mel filter bank (librosa's default)."""
    import torchaudio.functional as AF

    return AF.melscale_fbanks(N_FFT // 2 + 1, F_MIN, F_MAX, N_MELS, SAMPLE_RATE, norm="slaney", mel_scale="slaney")


def n_mel_frames(n_samples: int) -> int:
    """Mel frames ``melspectrogram.onnx`` returns for `n_samples` of audio."""
    return max(0, (n_samples - N_FFT) // HOP + 1)


def n_embeddings(n_samples: int) -> int:
    """Embedding vectors (one per 80 ms) for `n_samples` of audio."""
    frames = n_mel_frames(n_samples)
    return max(0, (frames - WINDOW_FRAMES) // WINDOW_STEP + 1)


def noise_mel_power(db: float, stft: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
    """[32] mean mel power of white noise at RMS `db` dBFS through the STFT kernels `stft` ([2*bins, 1, taps],
    real rows then imaginary) and the bank `mel` ([bins, 32]): each bin's power is the noise variance at
    int16 scale times its kernels' summed squares."""
    bins = mel.shape[0]
    taps = stft[:, 0].double() ** 2
    per_bin = (taps[:bins] + taps[bins:]).sum(1) * (INT16_SCALE * 10.0 ** (db / 20.0)) ** 2
    return (per_bin @ mel.double()).float()


class OwwFrontend(nn.Module):
    """Audio [B, N] in [-1, 1] -> embedding-model input windows [B, E, 76, 32] (already ``x/10+2``).

    clip_mode: "window" (top-db clip per 76-frame window, streamable: the default),
    "utterance" (per clip, = ``melspectrogram.onnx`` on a batch of one), "none" (no top-db clip).
    """

    def __init__(self, clip_mode: str = "window", floor_db: float | None = None) -> None:
        """Only the DFT bins the mel bank uses (62.5-3781 Hz) and the 400 non-zero window
        taps are kept: the same numbers as the full 257 x 512 STFT, at 0.37 of its cost."""
        super().__init__()
        if clip_mode not in ("window", "utterance", "none"):
            raise ValueError(f"clip_mode must be window, utterance or none, got {clip_mode!r}")
        self.clip_mode = clip_mode
        self.floor_db = floor_db
        mel = slaney_mel_matrix()
        used = torch.nonzero(mel.abs().sum(1) > 0).flatten()
        lo, hi = int(used.min()), int(used.max()) + 1
        real, imag = stft_kernels()
        taps = slice(WIN_OFFSET, WIN_OFFSET + WIN_LENGTH)
        self.register_buffer("stft", torch.cat([real[lo:hi, :, taps], imag[lo:hi, :, taps]]))  # [2*bins, 1, 400]
        self.register_buffer("mel", mel[lo:hi].contiguous())
        self.bins = hi - lo
        if floor_db is not None:
            self.register_buffer("floor", noise_mel_power(floor_db, self.stft, self.mel))

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, N] audio in [-1, 1] -> [B, T, 32] dB mel (before any top-db clip), T = (N-512)//160+1."""
        n_frames = torch.div(audio.shape[1] - N_FFT, HOP, rounding_mode="floor") + 1
        x = (audio[:, WIN_OFFSET:] * INT16_SCALE).unsqueeze(1)
        spec = nn.functional.conv1d(x, self.stft, stride=HOP)[:, :, :n_frames]  # [B, 2*bins, T]
        re, im = spec[:, : self.bins], spec[:, self.bins :]
        power = (re * re + im * im).transpose(1, 2)  # [B, T, bins]
        mel = torch.matmul(power, self.mel)
        if self.floor_db is not None:
            mel = mel + self.floor
        return 10.0 * torch.log10(torch.clamp(mel, min=AMIN))

    def windows(self, db: torch.Tensor) -> torch.Tensor:
        """[B, T, 32] dB mel -> [B, E, 76, 32] clipped, ``x/10+2`` scaled embedding windows."""
        if self.clip_mode == "utterance":
            db = self._clip_utterance(db)
        n_win = self._window_count(db.shape[1])
        starts = torch.arange(n_win) * WINDOW_STEP
        idx = starts[:, None] + torch.arange(WINDOW_FRAMES)[None, :]  # [E, 76] (Gather: ONNX-exportable)
        win = db[:, idx]  # [B, E, 76, 32]
        if self.clip_mode == "window":
            top = win.amax(dim=(2, 3), keepdim=True)
            win = torch.maximum(win, top - TOP_DB)
        return win / 10.0 + 2.0

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, N] audio in [-1, 1] -> [B, E, 76, 32] embedding-model input."""
        return self.windows(self.log_mel(audio))

    @staticmethod
    def _window_count(n_frames: int | torch.Tensor) -> int | torch.Tensor:
        """Embedding windows in `n_frames` mel frames (a tensor while tracing, so the export keeps it dynamic)."""
        return torch.div(n_frames - WINDOW_FRAMES, WINDOW_STEP, rounding_mode="floor") + 1

    @staticmethod
    def _clip_utterance(db: torch.Tensor) -> torch.Tensor:
        top = db.amax(dim=(1, 2), keepdim=True)
        return torch.maximum(db, top - TOP_DB)

    def sequence(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, N] audio in [-1, 1] -> [B, 1, 76 + 8 * (E - 1), 32]: every window's frames at once (``x/10+2``),
        window e being rows 8e .. 8e + 75, for ``SpeechEmbedding.over_frames``. Only where no clip is per
        window ("utterance", "none"): each window then holds exactly ``forward``'s numbers."""
        if self.clip_mode == "window":
            raise ValueError('a sequence of frames has no per-window clip: clip_mode "utterance" or "none"')
        db = self.log_mel(audio)
        if self.clip_mode == "utterance":
            db = self._clip_utterance(db)
        n_win = self._window_count(db.shape[1])
        return (db[:, : WINDOW_FRAMES + WINDOW_STEP * (n_win - 1)] / 10.0 + 2.0).unsqueeze(1)


def onnx_melspec(audio: np.ndarray, path: str) -> np.ndarray:
    """Reference: run ``melspectrogram.onnx`` on one clip in [-1, 1]; returns [T, 32] after ``x/10+2``."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    out = sess.run(None, {"input": (audio[None] * INT16_SCALE).astype(np.float32)})[0]
    return np.squeeze(out, axis=(0, 1)) / 10.0 + 2.0


PRETRAINED = Path(__file__).resolve().parent / "pretrained"
EMBEDDING_ONNX = PRETRAINED / "embedding_model.onnx"
MELSPEC_ONNX = PRETRAINED / "melspectrogram.onnx"
EMB_DIM = 96
FRAMES = "frames"  # the input of a lower graph that runs once over a clip's frames (export_lower(over_frames=True))

# (out_channels, kernel) of the 20 convolutions; "P" = max-pool (time, mel) after it.
_LAYERS: list[tuple[int, tuple[int, int]] | tuple[str, tuple[int, int]]] = [
    (24, (3, 3)),
    (24, (1, 3)),
    (24, (3, 1)),
    ("P", (2, 2)),
    (48, (1, 3)),
    (48, (3, 1)),
    (48, (1, 3)),
    (48, (3, 1)),
    ("P", (1, 2)),
    (72, (1, 3)),
    (72, (3, 1)),
    (72, (1, 3)),
    (72, (3, 1)),
    ("P", (2, 2)),
    (96, (1, 3)),
    (96, (3, 1)),
    (96, (1, 3)),
    (96, (3, 1)),
    ("P", (1, 2)),
    (96, (1, 3)),
    (96, (3, 1)),
    (96, (1, 3)),
    (96, (3, 1)),
    ("P", (2, 2)),
    (96, (3, 1)),
]


class ConvAct(nn.Module):
    """Conv2d (mel axis 'same'-padded when the kernel spans it) + LeakyRelu(0.2) + max(., -0.4)."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int], act: bool = True, bias: bool = True) -> None:
        super().__init__()
        pad_mel = (kernel[1] - 1) // 2
        self.conv = nn.Conv2d(cin, cout, kernel, padding=(0, pad_mel), bias=bias)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, T, F] -> [N, C', T', F]."""
        x = self.conv(x)
        if self.act:
            x = torch.clamp_min(nn.functional.leaky_relu(x, 0.2), -0.4)
        return x


class SpeechEmbedding(nn.Module):
    """Windows [N, 76, 32] (already ``x/10+2``) -> embeddings [N, 96]."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        convs = [spec for spec in _LAYERS if spec[0] != "P"]
        for spec in _LAYERS:
            if spec[0] == "P":
                layers.append(nn.MaxPool2d(spec[1], spec[1]))
                continue
            cout, kernel = spec
            last = len([m for m in layers if isinstance(m, ConvAct)]) == len(convs) - 1
            layers.append(ConvAct(cin, cout, kernel, act=not last, bias=not last))
            cin = cout
        self.layers = nn.Sequential(*layers)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """[N, 76, 32] -> [N, 96]."""
        return self.layers(windows.unsqueeze(1)).flatten(1)

    def over_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """[B, 1, 76 + 8 * (E - 1), 32] (``OwwFrontend.sequence``) -> [B, E, 96]: the convolutions once over
        all the frames. They are unpadded in time and the three time pools (x8) match the 8-frame hop, so
        output row e is window e's embedding, at about a seventh of the work for a long call."""
        # [B, 96, E, 1] -> [B, E, 96] as Transpose then Reshape: ONNX Runtime's transpose optimizer (run before
        # INT8 quantization) cannot move the Transpose past the Reshape into the head, which would leave the
        # embeddings [B, 96, E] where the frame-context surgery looks for them
        return self.layers(frames).permute(0, 2, 1, 3).flatten(2)

    def split(self, n_lower: int = 15) -> tuple[nn.Sequential, nn.Sequential]:
        """(lower, upper) layer stacks: the first `n_lower` convolutions (+ the pool right
        after the last of them) and the rest. ``upper(lower(x)) == layers(x)``."""
        count, cut = 0, len(self.layers)
        for i, m in enumerate(self.layers):
            if isinstance(m, ConvAct):
                count += 1
                if count == n_lower:
                    cut = i + 1
                    if cut < len(self.layers) and isinstance(self.layers[cut], nn.MaxPool2d):
                        cut += 1
                    break
        return self.layers[:cut], self.layers[cut:]

    def convs(self) -> list[nn.Conv2d]:
        """The 20 convolutions in graph order."""
        return [m.conv for m in self.layers if isinstance(m, ConvAct)]

    @classmethod
    def from_onnx(cls, path: str | Path = EMBEDDING_ONNX) -> SpeechEmbedding:
        """Build the port and copy every Conv weight/bias from the ONNX graph, in node order."""
        import onnx
        from onnx import numpy_helper

        graph = onnx.load(str(path)).graph
        inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        onnx_convs = [n for n in graph.node if n.op_type == "Conv"]
        model = cls()
        if len(onnx_convs) != len(model.convs()):
            raise ValueError(f"{path}: expected {len(model.convs())} Conv nodes, found {len(onnx_convs)}")
        for node, conv in zip(onnx_convs, model.convs()):
            weight = torch.from_numpy(inits[node.input[1]].copy())
            if weight.shape != conv.weight.shape:
                raise ValueError(f"{node.name}: weight {tuple(weight.shape)} != port {tuple(conv.weight.shape)}")
            conv.weight.data.copy_(weight)
            if len(node.input) > 2:
                conv.bias.data.copy_(torch.from_numpy(inits[node.input[2]].copy()))
        return model.eval()


LOWER_SHAPES = {15: (96, 10, 2), 17: (96, 8, 2), 19: (96, 3, 1)}  # [C, T, F] after the first n convs (+ pool)


def lower_dim(n_lower: int) -> int:
    """Feature size after the first `n_lower` convolutions."""
    c, t, f = LOWER_SHAPES[n_lower]
    return c * t * f


class LowerBackbone(nn.Module):
    """Frozen part for caching: windows [N, 76, 32] -> features [N, lower_dim(n_lower)]."""

    def __init__(self, backbone: SpeechEmbedding, n_lower: int = 15) -> None:
        super().__init__()
        self.layers = backbone.split(n_lower)[0]
        self.rows = LOWER_SHAPES[n_lower][1]  # time rows of one window's features
        pooled = math.prod(m.kernel_size[0] for m in self.layers if isinstance(m, nn.MaxPool2d))
        self.step = WINDOW_STEP // pooled  # rows between consecutive windows' features

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """[N, 76, 32] -> [N, lower_dim]."""
        return self.layers(windows.unsqueeze(1)).flatten(1)

    def over_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """[B, 1, 76 + 8 * (E - 1), 32] (``OwwFrontend.sequence``) -> [B, E, lower_dim]: each window's features,
        the convolutions once over all the frames (see ``SpeechEmbedding.over_frames``)."""
        x = self.layers(frames)  # [B, C, rows + step * (E - 1), F]
        n_win = torch.div(x.shape[2] - self.rows, self.step, rounding_mode="floor") + 1
        idx = (torch.arange(n_win) * self.step)[:, None] + torch.arange(self.rows)[None, :]  # Gather: exportable
        return x[:, :, idx].permute(0, 2, 1, 3, 4).flatten(2)  # [B, E, C * rows * F], a window's own order


class UpperBackbone(nn.Module):
    """Fine-tunable part: features [..., lower_dim] -> embeddings [..., 96] (the last 20 - n_lower convs)."""

    def __init__(self, backbone: SpeechEmbedding, n_lower: int = 15) -> None:
        super().__init__()
        self.layers = backbone.split(n_lower)[1]
        self.shape = LOWER_SHAPES[n_lower]

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """[..., lower_dim] -> [..., 96]."""
        lead = feats.shape[:-1]
        x = feats.reshape(-1, *self.shape)
        return self.layers(x).reshape(*lead, EMB_DIM)


class OwwEmbedder(nn.Module):
    """Audio [B, N] in [-1, 1] at 16 kHz -> embeddings [B, E, 96] (E = ``n_embeddings(N)``)."""

    def __init__(
        self, clip_mode: str = "window", backbone: SpeechEmbedding | None = None, floor_db: float | None = None
    ) -> None:
        super().__init__()
        self.frontend = OwwFrontend(clip_mode, floor_db)
        self.backbone = backbone if backbone is not None else SpeechEmbedding.from_onnx()

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, N] -> [B, E, 96]: window by window under a per-window clip, else the convolutions once."""
        if self.frontend.clip_mode != "window":
            return self.backbone.over_frames(self.frontend.sequence(audio))
        win = self.frontend(audio)  # [B, E, 76, 32]
        b, e = win.shape[:2]
        return self.backbone(win.reshape(b * e, *win.shape[2:])).reshape(b, e, -1)


class OrtEmbedder:
    """Fast cache-building path: torch front end + ``embedding_model.onnx`` in onnxruntime.

    Numerically the same pipeline as ``OwwEmbedder`` (checked in ``check_parity``), but ORT's
    convolutions run ~2x faster than torch's on one CPU core.
    """

    def __init__(
        self,
        threads: int = 1,
        clip_mode: str = "window",
        path: str | Path = EMBEDDING_ONNX,
        out_dim: int = EMB_DIM,
        floor_db: float | None = None,
    ) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.frontend = OwwFrontend(clip_mode, floor_db)
        self.out_dim = out_dim
        self.input_name = self.sess.get_inputs()[0].name
        if self.input_name == FRAMES and clip_mode == "window":
            raise ValueError(
                f"{path}: a graph over a clip's frames does not fit a per-window clip (clip_mode 'window')"
            )

    def windows(self, audio: np.ndarray) -> np.ndarray:
        """One clip [N] -> [E, 76, 32] embedding-model windows."""
        with torch.no_grad():
            return self.frontend(torch.from_numpy(audio.astype(np.float32))[None])[0].numpy()

    def __call__(self, audio: np.ndarray, batch: int = 256) -> np.ndarray:
        """One clip [N] in [-1, 1] -> [E, out_dim] float32 (E may be 0 for clips under 0.78 s)."""
        if self.input_name == FRAMES:  # no per-window clip: one pass over the clip's frames
            if n_embeddings(len(audio)) == 0:
                return np.zeros((0, self.out_dim), np.float32)
            with torch.no_grad():
                frames = self.frontend.sequence(torch.from_numpy(audio.astype(np.float32))[None]).numpy()
            return self.sess.run(None, {FRAMES: frames})[0].reshape(-1, self.out_dim)
        win = self.windows(audio)
        if len(win) == 0:
            return np.zeros((0, self.out_dim), np.float32)
        if self.input_name == "input_1":  # openWakeWord's NHWC graph
            win = win[:, :, :, None]
        outs = [self.sess.run(None, {self.input_name: win[i : i + batch]})[0] for i in range(0, len(win), batch)]
        return np.concatenate(outs).reshape(len(win), self.out_dim)


class _LowerOverFrames(nn.Module):
    """``LowerBackbone.over_frames`` for one clip: frames [1, 1, T, 32] -> features [E, lower_dim]."""

    def __init__(self, lower: LowerBackbone) -> None:
        super().__init__()
        self.lower = lower

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.lower.over_frames(frames)[0]


def export_lower(path: Path, n_lower: int = 15, over_frames: bool = False) -> Path:
    """ONNX of ``LowerBackbone``: input ``windows`` [N, 76, 32], output ``features`` [N, lower_dim]; with
    `over_frames`, input ``frames`` [1, 1, 76 + 8 * (E - 1), 32] (``OwwFrontend.sequence``, a front end
    without a per-window clip) and the features of its E windows, computed in one pass."""
    lower = LowerBackbone(SpeechEmbedding.from_onnx(), n_lower).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    if over_frames:
        module, example, name, axes = _LowerOverFrames(lower), torch.zeros(1, 1, 76 + 8 * 3, 32), FRAMES, {2: "t"}
    else:
        module, example, name, axes = lower, torch.zeros(2, 76, 32), "windows", {0: "n"}
    torch.onnx.export(
        module,
        (example,),
        str(path),
        input_names=[name],
        output_names=["features"],
        dynamic_axes={name: axes, "features": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    return path
