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
Windows overlap (76 frames, 8 apart) and the convolutions are unpadded in time, so
``embed_call`` runs them once over a call's frames (``OwwFrontend.sequence`` +
``SpeechEmbedding.over_frames``): window e's embedding is output row e. The per-window clip only
changes a window holding frames more than 80 dB under its loudest (digital silence, mostly);
``embed_call`` computes those windows again on their own, so every clip mode gets its own numbers
at a fraction of the work (docs/training.md, "The embedding's convolutions once over a call").

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
from dataclasses import dataclass
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


CLIP_MODES = ("window", "utterance", "none")


@dataclass(frozen=True)
class OwwFrontendConfig:
    """How ``OwwFrontend`` treats quiet audio: the one place its two settings and their defaults live, so
    the exported graph, the embedding cache a build trains on and the cache's key all read the same ones.

    Attributes:
        clip_mode: the top-db clip: "window" (per 76-frame embedding window, streamable: the default),
            "utterance" (per clip, = ``melspectrogram.onnx`` on a batch of one), "none" (no clip: digital
            silence then reads as ``log(1e-10)`` unless ``floor_db`` is set).
        floor_db: the RMS level (dBFS) of the white noise whose mean mel power is added before the log;
            None (the default): no floor, ``melspectrogram.onnx``'s numbers.
    """

    clip_mode: str = "window"
    floor_db: float | None = None

    def __post_init__(self) -> None:
        if self.clip_mode not in CLIP_MODES:
            raise ValueError(f"clip_mode must be one of {', '.join(CLIP_MODES)}, got {self.clip_mode!r}")

    @property
    def is_default(self) -> bool:
        """``melspectrogram.onnx``'s front end with the streamable clip (what the shipped models use)."""
        return self == OWW_FRONTEND


OWW_FRONTEND = OwwFrontendConfig()  # the default: melspectrogram.onnx's numbers, clipped per embedding window


class OwwFrontend(nn.Module):
    """Audio [B, N] in [-1, 1] -> embedding-model input windows [B, E, 76, 32] (already ``x/10+2``),
    under ``cfg`` (``OwwFrontendConfig``: the top-db clip and the noise floor)."""

    def __init__(self, cfg: OwwFrontendConfig = OWW_FRONTEND) -> None:
        """Only the DFT bins the mel bank uses (62.5-3781 Hz) and the 400 non-zero window
        taps are kept: the same numbers as the full 257 x 512 STFT, at 0.37 of its cost."""
        super().__init__()
        self.cfg = cfg
        mel = slaney_mel_matrix()
        used = torch.nonzero(mel.abs().sum(1) > 0).flatten()
        lo, hi = int(used.min()), int(used.max()) + 1
        real, imag = stft_kernels()
        taps = slice(WIN_OFFSET, WIN_OFFSET + WIN_LENGTH)
        self.register_buffer("stft", torch.cat([real[lo:hi, :, taps], imag[lo:hi, :, taps]]))  # [2*bins, 1, 400]
        self.register_buffer("mel", mel[lo:hi].contiguous())
        self.bins = hi - lo
        if cfg.floor_db is not None:
            self.register_buffer("floor", noise_mel_power(cfg.floor_db, self.stft, self.mel))

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, N] audio in [-1, 1] -> [B, T, 32] dB mel (before any top-db clip), T = (N-512)//160+1."""
        n_frames = torch.div(audio.shape[1] - N_FFT, HOP, rounding_mode="floor") + 1
        x = (audio[:, WIN_OFFSET:] * INT16_SCALE).unsqueeze(1)
        spec = nn.functional.conv1d(x, self.stft, stride=HOP)[:, :, :n_frames]  # [B, 2*bins, T]
        re, im = spec[:, : self.bins], spec[:, self.bins :]
        power = (re * re + im * im).transpose(1, 2)  # [B, T, bins]
        mel = torch.matmul(power, self.mel)
        if self.cfg.floor_db is not None:
            mel = mel + self.floor
        return 10.0 * torch.log10(torch.clamp(mel, min=AMIN))

    def windows(self, db: torch.Tensor) -> torch.Tensor:
        """[B, T, 32] dB mel -> [B, E, 76, 32] clipped, ``x/10+2`` scaled embedding windows."""
        if self.cfg.clip_mode == "utterance":
            db = self._clip_utterance(db)
        win = self._window_frames(db)  # [B, E, 76, 32]
        if self.cfg.clip_mode == "window":
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

    def _window_frames(self, db: torch.Tensor) -> torch.Tensor:
        """[B, T, 32] -> [B, E, 76, 32], each embedding window's frames as they are."""
        starts = torch.arange(self._window_count(db.shape[1])) * WINDOW_STEP
        idx = starts[:, None] + torch.arange(WINDOW_FRAMES)[None, :]  # [E, 76] (Gather: ONNX-exportable)
        return db[:, idx]

    @staticmethod
    def _clip_utterance(db: torch.Tensor) -> torch.Tensor:
        top = db.amax(dim=(1, 2), keepdim=True)
        return torch.maximum(db, top - TOP_DB)

    def sequence(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, N] audio in [-1, 1] -> [B, 1, 76 + 8 * (E - 1), 32]: every window's frames at once (``x/10+2``),
        window e being rows 8e .. 8e + 75, for ``SpeechEmbedding.over_frames``. Each window holds
        ``forward``'s numbers except, under the per-window clip, those windows ``clipped`` names."""
        return self.frames(self.log_mel(audio))

    def frames(self, db: torch.Tensor) -> torch.Tensor:
        """``sequence`` from [B, T, 32] dB mel (``log_mel``)."""
        if self.cfg.clip_mode == "utterance":
            db = self._clip_utterance(db)
        n_win = self._window_count(db.shape[1])
        return (db[:, : WINDOW_FRAMES + WINDOW_STEP * (n_win - 1)] / 10.0 + 2.0).unsqueeze(1)

    def clipped(self, db: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The windows the per-window clip changes, from [B, T, 32] dB mel: their flat indices [K] into
        [B * E] and their ``forward`` numbers [K, 76, 32]. K is 0 unless a window holds a frame more than
        80 dB under its loudest (digital silence, mostly), and always 0 without the per-window clip."""
        win = self._window_frames(db)  # [B, E, 76, 32]
        top = win.amax(dim=(2, 3))
        changed = win.amin(dim=(2, 3)) < top - TOP_DB
        if self.cfg.clip_mode != "window":
            changed = torch.zeros_like(changed)
        sel = torch.nonzero(changed.reshape(-1)).reshape(-1)  # NonZero: a [K] graph tensor, K may be 0
        win = win.reshape(-1, WINDOW_FRAMES, win.shape[-1])[sel]
        return sel, torch.maximum(win, top.reshape(-1)[sel][:, None, None] - TOP_DB) / 10.0 + 2.0


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


def embed_call(frontend: OwwFrontend, stack: nn.Module, audio: torch.Tensor, one_pass: bool = True) -> torch.Tensor:
    """[B, N] audio -> [B, E, D]: `stack` (``SpeechEmbedding`` or ``LowerBackbone``) on every embedding window
    of `audio` under `frontend`, the same numbers as window by window, at a fraction of the work: the
    convolutions run once over the call's frames and only the windows the per-window clip changes
    (``OwwFrontend.clipped``) are computed again on their own (``embed_frames``). ``one_pass=False``:
    window by window (the graph INT8 calibration reads: ``quantize.quantize_int8``'s `reference`)."""
    return embed_inputs(stack, *call_inputs(frontend, audio, one_pass))


def call_inputs(
    frontend: OwwFrontend, audio: torch.Tensor, one_pass: bool = True
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """``embed_call``'s front-end half, for a graph whose front end and network are separate scopes (the
    sounds model's): (frames [B, 1, T, 32], rows [K], windows [K, 76, 32]) for ``embed_frames``; without the
    per-window clip (frames, None, None); window by window (None, None, windows [B, E, 76, 32])."""
    if not one_pass:
        return None, None, frontend(audio)
    db = frontend.log_mel(audio)
    if frontend.cfg.clip_mode != "window":
        return frontend.frames(db), None, None
    rows, windows = frontend.clipped(db)
    return frontend.frames(db), rows, windows


def embed_inputs(
    stack: nn.Module, frames: torch.Tensor | None, rows: torch.Tensor | None, windows: torch.Tensor | None
) -> torch.Tensor:
    """``embed_call``'s network half on :func:`call_inputs` -> [B, E, D]."""
    if frames is None:
        b, e = windows.shape[:2]
        return stack(windows.reshape(b * e, *windows.shape[2:])).reshape(b, e, -1)
    if rows is None:
        return stack.over_frames(frames)
    return embed_frames(stack, frames, rows, windows)


def embed_frames(stack: nn.Module, frames: torch.Tensor, rows: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
    """The per-window clip's one pass: `stack` once over `frames` [B, 1, T, 32] (``OwwFrontend.frames``), then
    on `windows` [K, 76, 32] put in their flat `rows` [K] of [B * E] (``OwwFrontend.clipped``) -> [B, E, D].
    Exportable: with no window to redo, the second pass runs on an empty batch."""
    out = stack.over_frames(frames)  # [B, E, D]
    b, e, d = out.shape
    return out.reshape(b * e, d).scatter(0, rows[:, None].expand(-1, d), stack(windows)).reshape(b, e, d)


class OwwEmbedder(nn.Module):
    """Audio [B, N] in [-1, 1] at 16 kHz -> embeddings [B, E, 96] (E = ``n_embeddings(N)``)."""

    def __init__(self, cfg: OwwFrontendConfig = OWW_FRONTEND, backbone: SpeechEmbedding | None = None) -> None:
        super().__init__()
        self.frontend = OwwFrontend(cfg)
        self.backbone = backbone if backbone is not None else SpeechEmbedding.from_onnx()
        self.one_pass = True  # embed_call's; False: window by window

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, N] -> [B, E, 96] (``embed_call``)."""
        return embed_call(self.frontend, self.backbone, audio, self.one_pass)


class OrtEmbedder:
    """Fast cache-building path: torch front end + ``embedding_model.onnx`` in onnxruntime.

    Numerically the same pipeline as ``OwwEmbedder`` (checked in ``check_parity``), but ORT's
    convolutions run ~2x faster than torch's on one CPU core.
    """

    def __init__(
        self,
        threads: int = 1,
        cfg: OwwFrontendConfig = OWW_FRONTEND,
        path: str | Path = EMBEDDING_ONNX,
        out_dim: int = EMB_DIM,
    ) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.frontend = OwwFrontend(cfg)
        self.out_dim = out_dim
        self.input_name = self.sess.get_inputs()[0].name

    def windows(self, audio: np.ndarray) -> np.ndarray:
        """One clip [N] -> [E, 76, 32] embedding-model windows."""
        with torch.no_grad():
            return self.frontend(torch.from_numpy(audio.astype(np.float32))[None])[0].numpy()

    def __call__(self, audio: np.ndarray, batch: int = 256) -> np.ndarray:
        """One clip [N] in [-1, 1] -> [E, out_dim] float32 (E may be 0 for clips under 0.78 s)."""
        if self.input_name == FRAMES:  # export_lower(over_frames=True): embed_call's one pass
            if n_embeddings(len(audio)) == 0:
                return np.zeros((0, self.out_dim), np.float32)
            with torch.no_grad():
                db = self.frontend.log_mel(torch.from_numpy(audio.astype(np.float32))[None])
                rows, windows = self.frontend.clipped(db)
                feed = {FRAMES: self.frontend.frames(db).numpy(), "windows": windows.numpy(), "rows": rows.numpy()}
            return self.sess.run(None, feed)[0].reshape(-1, self.out_dim)
        win = self.windows(audio)
        if len(win) == 0:
            return np.zeros((0, self.out_dim), np.float32)
        if self.input_name == "input_1":  # openWakeWord's NHWC graph
            win = win[:, :, :, None]
        outs = [self.sess.run(None, {self.input_name: win[i : i + batch]})[0] for i in range(0, len(win), batch)]
        return np.concatenate(outs).reshape(len(win), self.out_dim)


class _LowerOverFrames(nn.Module):
    """``embed_call`` for one clip with its front end outside: the frames [1, 1, T, 32] (``OwwFrontend.frames``)
    and the windows to redo [K, 76, 32] at their rows [K] (``OwwFrontend.clipped``) -> features [E, lower_dim]."""

    def __init__(self, lower: LowerBackbone) -> None:
        super().__init__()
        self.lower = lower

    def forward(self, frames: torch.Tensor, windows: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return embed_frames(self.lower, frames, rows, windows)[0]


def export_lower(path: Path, n_lower: int = 15, over_frames: bool = False) -> Path:
    """ONNX of ``LowerBackbone``: input ``windows`` [N, 76, 32], output ``features`` [N, lower_dim]; with
    `over_frames`, ``embed_call``'s one pass for one clip under any clip mode: inputs ``frames`` [1, 1,
    76 + 8 * (E - 1), 32], ``windows`` [K, 76, 32] and ``rows`` [K] (``OrtEmbedder`` makes them), output the
    features of its E windows."""
    lower = LowerBackbone(SpeechEmbedding.from_onnx(), n_lower).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    if over_frames:
        module = _LowerOverFrames(lower)
        example = (torch.zeros(1, 1, 76 + 8 * 3, 32), torch.zeros(1, 76, 32), torch.zeros(1, dtype=torch.long))
        names, axes = [FRAMES, "windows", "rows"], {FRAMES: {2: "t"}, "windows": {0: "k"}, "rows": {0: "k"}}
    else:
        module, example, names, axes = lower, (torch.zeros(2, 76, 32),), ["windows"], {"windows": {0: "n"}}
    torch.onnx.export(
        module,
        example,
        str(path),
        input_names=names,
        output_names=["features"],
        dynamic_axes={**axes, "features": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    return path
