"""The tutorial baselines, trained and scored with this project's protocols.

    .venv/bin/python -m bench.bench_accuracy [--data ../shared/data] [--skip-cnn] [--out docs/baselines.json]

Digits task (10 classes, real speech only): train on FSDD george/jackson/lucas +
the Speech Commands samples' training list, test on FSDD nicolas/theo (unseen
speakers) + the Speech Commands samples' testing list. Each feature-mean MLP is
also scored on a *random* 80/20 split of the same clips (the tutorials'
protocol, which puts every speaker in both halves) to show how much that
overstates accuracy. Sounds task: ESC-10, official 5 folds, MLP on the mean of
40 MFCCs of the whole 5 s clip.

Baselines: (1) MLP on 173 librosa feature means; (2) MLP on 20 MFCC means;
(3) CNN on the mel spectrogram; (4) MLP on 40 MFCC means for sounds (two sizes,
like the tutorial's two models); (5) CNN-LSTM-attention on the log-mel.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bench.record import write_record
from listener.training.corpus import SPEECH_COMMANDS, WaveSet, build_esc_set, sc09_clips, waveset
from listener.training.datasets.base import DIGITS, Clip
from listener.training.models.baselines import MLP

ROOT = Path(__file__).resolve().parents[1]

REPORTED = {
    "1_mlp_173_feature_means": "76.19% (Speech Commands digits, random split)",
    "2_mlp_20_mfcc_means": "95.56% (Speech Commands digits, random split)",
    "3_cnn_mel_spectrogram": "95.81% (Speech Commands digits, random split)",
    "4_mlp_40_mfcc_means_sounds": "58% and 65% (UrbanSound8K)",
    "5_cnn_lstm_attention": "(no single figure given)",
}


def librosa_features(audio: np.ndarray, kind: str, sr: int = 16000) -> np.ndarray:
    """Per-clip feature means, as in the tutorials (librosa defaults)."""
    import librosa

    out = []
    for y in audio:
        y = y.astype(np.float32)
        if kind == "mfcc20":
            f = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20).mean(axis=1)
        elif kind == "mfcc40":
            f = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40).mean(axis=1)
        elif kind == "all173":
            stft = np.abs(librosa.stft(y))
            f = np.concatenate(
                [
                    librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20).mean(axis=1),
                    librosa.feature.chroma_stft(S=stft, sr=sr).mean(axis=1),
                    librosa.feature.melspectrogram(y=y, sr=sr).mean(axis=1),
                    librosa.feature.spectral_contrast(S=stft, sr=sr).mean(axis=1),
                    librosa.feature.tonnetz(y=librosa.effects.harmonic(y), sr=sr).mean(axis=1),
                ]
            )
        else:
            raise ValueError(kind)
        out.append(f)
    return np.nan_to_num(np.stack(out)).astype(np.float32)


def train_mlp(
    xtr: np.ndarray, ytr: np.ndarray, n_classes: int, hidden: tuple[int, ...], epochs: int = 300, seed: int = 0
) -> MLP:
    """Full-batch AdamW on standardised features (the scaler is folded into the first layer)."""
    torch.manual_seed(seed)
    mean, std = xtr.mean(0), xtr.std(0) + 1e-6
    model = MLP(xtr.shape[1], n_classes, hidden)
    x = torch.from_numpy((xtr - mean) / std)
    y = torch.from_numpy(ytr)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    for _ in range(epochs):
        model.train()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    model.mean, model.std = mean, std  # type: ignore[attr-defined]
    return model


def mlp_accuracy(model: MLP, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        pred = model(torch.from_numpy((x - model.mean) / model.std)).argmax(1).numpy()  # type: ignore[attr-defined]
    return float((pred == y).mean())


def digits_sets(data: Path) -> tuple[WaveSet, WaveSet]:
    from listener.training.datasets.fsdd import load_fsdd
    from listener.training.datasets.speech_commands import load_speech_commands

    sc_root = data / SPEECH_COMMANDS
    clips: list[Clip] = load_fsdd(data / "fsdd")
    clips += [c for c in load_speech_commands(sc_root, unknown=False, silence=False)]
    clips += sc09_clips(data / "sc09_sample", sc_root)
    clips = [c for c in clips if c.label in DIGITS]
    train = [c for c in clips if c.split == "train"]
    test = [c for c in clips if c.split == "test"]
    return waveset(train, DIGITS, "train"), waveset(test, DIGITS, "test")


def random_split(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y))
    cut = int(0.8 * len(y))
    return x[idx[:cut]], y[idx[:cut]], x[idx[cut:]], y[idx[cut:]]


def cnn_baseline(arch: str, train: WaveSet, test: WaveSet, epochs: int) -> dict:
    from listener.training.frontend import DIGITS_FRONTEND
    from listener.training.models.registry import ModelSpec, build_model
    from listener.training.train import TrainConfig, evaluate_model, fit

    spec = ModelSpec(name=arch, kind="speech", labels=list(DIGITS), arch=arch, frontend=asdict(DIGITS_FRONTEND))
    model = build_model(spec)
    res = fit(
        model, train, None, TrainConfig(epochs=epochs, batch_size=32, lr=3e-3, progress=False), log=lambda m: None
    )
    r = evaluate_model(model, spec, test)  # through the runtime pipeline, as the shipped models are scored
    params = sum(p.numel() for p in model.net.parameters())
    return {
        "accuracy_unseen_speakers": r.accuracy,
        "macro_f1": r.macro_f1,
        "epochs": epochs,
        "train_seconds": round(res.seconds, 1),
        "parameters": params,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "baselines.json")
    parser.add_argument("--skip-cnn", action="store_true", help="only the feature-mean MLPs (about a minute)")
    parser.add_argument("--cnn-epochs", type=int, default=10)
    parser.add_argument("--skip-173", action="store_true", help="skip baseline 1 (librosa tonnetz is slow)")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"error: data folder {args.data} not found (pass --data)", file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    t0 = time.time()
    results: dict[str, dict] = {}
    train, test = digits_sets(args.data)
    print(f"digits: {len(train)} training clips, {len(test)} test clips (unseen speakers)", flush=True)
    mlps = [("2_mlp_20_mfcc_means", "mfcc20")] + ([] if args.skip_173 else [("1_mlp_173_feature_means", "all173")])
    for key, kind in mlps:
        t = time.time()
        xtr, xte = librosa_features(train.audio, kind), librosa_features(test.audio, kind)
        m = train_mlp(xtr, train.labels, 10, (256, 128))
        acc = mlp_accuracy(m, xte, test.labels)
        xa, ya = np.concatenate([xtr, xte]), np.concatenate([train.labels, test.labels])
        a, b, c, d = random_split(xa, ya)
        acc_random = mlp_accuracy(train_mlp(a, b, 10, (256, 128)), c, d)
        results[key] = {
            "accuracy_unseen_speakers": acc,
            "accuracy_random_split": acc_random,
            "features": xtr.shape[1],
            "seconds": round(time.time() - t, 1),
        }
        print(key, results[key], flush=True)

    esc = build_esc_set(args.data)
    x = librosa_features(esc.audio, "mfcc40")
    for key, hidden in (("4_mlp_40_mfcc_means_sounds_small", (256,)), ("4_mlp_40_mfcc_means_sounds", (256, 128))):
        accs = []
        for k in sorted(set(esc.folds.tolist())):
            tr, te = esc.folds != k, esc.folds == k
            m = train_mlp(x[tr], esc.labels[tr], len(esc.label_names), hidden)
            accs.append(mlp_accuracy(m, x[te], esc.labels[te]))
        results[key] = {"esc10_5fold_mean_accuracy": float(np.mean(accs)), "per_fold": accs, "hidden": list(hidden)}
        print(key, results[key], flush=True)

    if not args.skip_cnn:
        for key, arch in (("3_cnn_mel_spectrogram", "melcnn"), ("5_cnn_lstm_attention", "crnn_attention")):
            results[key] = cnn_baseline(arch, train, test, args.cnn_epochs)
            print(key, results[key], flush=True)
    out = {
        "machine": "2-core x86 CPU VM, no GPU",
        "protocol": "digits: train FSDD george/jackson/lucas + SC sample training list; test FSDD nicolas/theo + "
        "SC sample testing list (10 classes, real speech only, no augmentation for the MLPs). "
        "sounds: ESC-10 official 5-fold CV, mean of 40 MFCCs over the 5 s clip.",
        "reported_by_tutorials": REPORTED,
        "results": results,
        "seconds": round(time.time() - t0, 1),
    }
    write_record(args.out, out, detail=f" in {out['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
