"""Which clips a CTC digits model trains on, validates on and augments with.

Every source is read from the data root with the project's own loaders and the project's
fixed speaker splits (never crossed; a final fit, chosen after the recipe, also trains on the
validation speakers of AN4 and FSDD):

| source | trains | validates (recipe choice, INT8 calibration) |
|---|---|---|
| AN4 (``an4/``) | official train minus ``an4.VAL_SPEAKERS`` (a final fit: all of it) | those ten speakers |
| FSDD (``fsdd/``) | every speaker but validation and test (a final fit: but test) | ``fsdd.VAL_SPEAKERS`` |
| Speech Commands sample (``speech_commands_v0.01_sample/``) | clips on neither list | ``validation_list`` |
| sc09 sample (``sc09_sample/``) | clips on neither list | - |
| Allison prompts (``allison/``, else Debian's asterisk-core-sounds-en-wav) | all | - |
| espeak-ng / flite / festival phrases, joined strings | generated | - |
| SC background noise | the first 70% of each file (the rest is ``evaluate_strings``' test noise) | - |
| ESC-10 (``esc10/``) | folds 1-3 (as silence, and as noise) | fold 4 |
| the sounds model's non-speech negatives (``negatives.build_pool``) | ``n_sound_negatives`` clips, as silence | - |

A source that is not there is skipped with a message (a user rebuilding with less data gets
a model, and the log says what it lacked); with no speech at all the build stops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from listener.training.corpus import SPEECH_COMMANDS, sc09_clips
from listener.training.datasets.allison import DEFAULT_ROOT as ALLISON_ROOT
from listener.training.datasets.allison import load_allison
from listener.training.datasets.an4 import Utterance, load_an4
from listener.training.datasets.base import Clip, DatasetError, load_audio
from listener.training.datasets.esc import load_esc
from listener.training.datasets.fsdd import load_fsdd
from listener.training.datasets.speech_commands import background_noise_files, load_speech_commands
from listener.training.evaluate_strings import ESC_FOLD, NOISE_TEST_FROM
from listener.training.strings import RATE, Item, concat_strings, synthesize_phrases, word_bank, word_item
from listener.training.tokens import HOMOPHONES, words_to_tokens

ESC_VAL = (ESC_FOLD["validation"],)
ESC_TRAIN = tuple(f for f in range(1, 6) if f not in ESC_FOLD.values())  # folds 1-3


# How a build's `training_data` metadata says it was a final fit (train_validation_speakers): the
# digits card reads it to say which validation rows are held out.
FINAL_FIT_NOTE = "the 10 validation speakers too: a final fit"


@dataclass
class CtcDataConfig:
    """How much of each kind of item a recipe trains on, and where the data is."""

    data_root: Path
    allison_root: Path | None = None  # None: <data_root>/allison if there, else Debian's folder
    n_synth: int = 1500  # synthetic phrases (espeak-ng / flite / festival)
    n_concat: int = 1500  # strings joined from isolated words
    # share of the phrases' non-digit words that are teens and tens (strings.phrase_words; chosen on
    # validation: docs/training.md, "How the recipe was chosen")
    confusable_p: float = 0.5
    engines: tuple[str, ...] = ("espeak-ng", "flite", "festival")
    use_esc: bool = True  # ESC-10 train folds as silence items and augmentation noise
    # AN4's spelled letter O sounds like "oh": "other" trains it as <other> (the shipped model's
    # recipe), "skip" leaves out the utterances that contain a digit homophone.
    an4_homophones: str = "other"
    # A final fit: AN4's validation speakers and FSDD's (``VAL_SPEAKERS``) train too, once the recipe has
    # been chosen without them; the Speech Commands validation list and ESC-10 fold 4 stay held out.
    train_validation_speakers: bool = False
    # AN4 / FSDD training speakers that do not train (nor validate): what fewer speakers cost, measured
    leave_out_speakers: tuple[str, ...] = ()
    # non-speech training negatives of the sounds model (music, effects, synthetic sounds) as blank items
    n_sound_negatives: int = 0
    system_root: Path = Path("/")  # where usr/share holds the Debian sound packages those come from
    noise_piece_s: tuple[float, float] = (1.0, 3.0)  # background noise cut into pieces of this length (blank)
    seed: int = 0
    workers: int = 2
    sources: tuple[str, ...] = field(
        default=("an4", "fsdd", "speech_commands", "sc09", "allison", "synth", "concat", "noise")
    )

    def __post_init__(self) -> None:
        if self.an4_homophones not in ("other", "skip"):
            raise ValueError(f"an4_homophones must be 'other' or 'skip', got {self.an4_homophones!r}")


def _present(path: Path, what: str, log: Callable[[str], None]) -> bool:
    if path.is_dir():
        return True
    log(f"{what}: {path} not found; skipped")
    return False


def an4_item(u: Utterance) -> Item:
    """An AN4 utterance: every word a token, no word times."""
    words = tuple(w.lower() for w in u.words)
    return Item(u.audio(), words, words_to_tokens(words), "an4", u.speaker)


def _word_items(clips: list[Clip], source: str, word_of: Callable[[Clip], str]) -> list[Item]:
    return [word_item(load_audio(c.path, RATE), word_of(c), source, c.speaker or source) for c in clips]


def _sc_word(c: Clip) -> str:
    return c.path.parent.name


def _in_split(cfg: CtcDataConfig, split: str, its_split: str, speaker: str) -> bool:
    """Whether an AN4 / FSDD recording of `speaker` in the loader's `its_split` belongs to the recipe's
    `split` (a final fit trains on the validation speakers; left-out speakers never train)."""
    if split != "train":
        return its_split == split
    if speaker in cfg.leave_out_speakers:
        return False
    return its_split == "train" or (cfg.train_validation_speakers and its_split == "validation")


def _left_out(what: str, speakers: set[str], log: Callable[[str], None]) -> None:
    if speakers:
        log(f"{what}: left out of training: {', '.join(sorted(speakers))}")


def an4_items(cfg: CtcDataConfig, split: str, log: Callable[[str], None]) -> list[Item]:
    """AN4 utterances of one split (``train`` / ``validation`` / ``test``)."""
    root = cfg.data_root / "an4"
    if not _present(root, "AN4", log):
        return []
    every = load_an4(root)
    utts = [u for u in every if _in_split(cfg, split, u.split, u.speaker)]
    if split == "train":
        _left_out("AN4", {u.speaker for u in every if u.split == "train"} & set(cfg.leave_out_speakers), log)
    if cfg.an4_homophones == "skip":
        utts = [u for u in utts if not any(w.lower() in HOMOPHONES for w in u.words)]
    return [an4_item(u) for u in utts]


def word_items(cfg: CtcDataConfig, split: str, log: Callable[[str], None]) -> list[Item]:
    """Single recorded words of one split: FSDD, Speech Commands (digits and other words), and for
    ``train`` the sc09 sample and the Allison prompts."""
    items: list[Item] = []
    fsdd = cfg.data_root / "fsdd"
    if "fsdd" in cfg.sources and _present(fsdd, "FSDD", log):
        every = load_fsdd(fsdd)
        items += _word_items([c for c in every if _in_split(cfg, split, c.split, c.speaker)], "fsdd", lambda c: c.label)
        if split == "train":
            _left_out("FSDD", {c.speaker for c in every if c.split == "train"} & set(cfg.leave_out_speakers), log)
    sc = cfg.data_root / SPEECH_COMMANDS
    if "speech_commands" in cfg.sources and _present(sc, "Speech Commands", log):
        clips = load_speech_commands(sc, silence=False)
        items += _word_items([c for c in clips if c.split == split], "speech_commands", _sc_word)
    if split != "train":
        return items
    sc09 = cfg.data_root / "sc09_sample"
    if "sc09" in cfg.sources and _present(sc09, "sc09 sample", log):
        items += _word_items([c for c in sc09_clips(sc09, sc) if c.split == "train"], "sc09", _sc_word)
    allison = cfg.allison_root or (cfg.data_root / "allison" if (cfg.data_root / "allison").is_dir() else ALLISON_ROOT)
    if "allison" in cfg.sources and _present(allison, "Allison prompts", log):
        items += _word_items(load_allison(allison), "allison", lambda c: c.label)
    return items


def esc_items(cfg: CtcDataConfig, folds: tuple[int, ...], log: Callable[[str], None]) -> list[Item]:
    """ESC-10 clips of some folds as silence items (no tokens)."""
    root = cfg.data_root / "esc10"
    if not cfg.use_esc or not _present(root, "ESC-10", log):
        return []
    clips = [c for c in load_esc(root) if c.fold in folds]
    return [Item(load_audio(c.path, RATE), (), [], "esc10", c.speaker or "esc10") for c in clips]


def sound_items(cfg: CtcDataConfig, log: Callable[[str], None]) -> list[Item]:
    """``cfg.n_sound_negatives`` clips of the sounds model's training negatives that say no word
    (``negatives.non_speech``), as blank items, drawn with the recipe's seed."""
    if cfg.n_sound_negatives <= 0:
        return []
    from listener.training.datasets.negatives import Roots, build_pool, non_speech

    pool = build_pool("train", Roots(cfg.data_root, cfg.system_root), log=log)
    idx = non_speech(pool)
    rng = np.random.default_rng([cfg.seed, 11])
    take = sorted(rng.choice(idx, min(cfg.n_sound_negatives, len(idx)), replace=False)) if idx else []
    return [Item(pool.clips[i], (), [], "sounds", pool.source[i]) for i in take]


def noise_train_regions(cfg: CtcDataConfig) -> list[np.ndarray]:
    """The part of each SC background-noise file that trains: before ``evaluate_strings.NOISE_TEST_FROM``."""
    sc = cfg.data_root / SPEECH_COMMANDS
    if not sc.is_dir():
        return []
    out = []
    for path in background_noise_files(sc):
        audio = load_audio(path, RATE)
        out.append(audio[: int(len(audio) * NOISE_TEST_FROM)].copy())
    return out


def noise_recordings(cfg: CtcDataConfig, log: Callable[[str], None] = print) -> list[np.ndarray]:
    """Augmentation noise: the train region of the SC background files and the ESC-10 train folds."""
    return noise_train_regions(cfg) + [it.audio for it in esc_items(cfg, ESC_TRAIN, log)]


def noise_pieces(cfg: CtcDataConfig) -> list[Item]:
    """The background-noise train regions cut into consecutive pieces (blank items)."""
    rng = np.random.default_rng(cfg.seed)
    items = []
    for i, audio in enumerate(noise_train_regions(cfg)):
        start = 0
        while True:
            n = int(rng.uniform(*cfg.noise_piece_s) * RATE)
            if start + n > len(audio):
                break
            items.append(Item(audio[start : start + n], (), [], "noise", f"noise{i}"))
            start += n
    return items


def train_items(cfg: CtcDataConfig, log: Callable[[str], None] = print) -> list[Item]:
    """Every training item of a recipe: real utterances and words, joined strings, synthetic phrases,
    noise; the counts per source are logged."""
    items: list[Item] = []
    if "an4" in cfg.sources:
        items += an4_items(cfg, "train", log)
    words = word_items(cfg, "train", log)
    items += words
    if "concat" in cfg.sources:
        items += concat_strings(word_bank(words), cfg.n_concat, cfg.seed)
    if "synth" in cfg.sources:
        items += synthesize_phrases(cfg.n_synth, cfg.seed, cfg.engines, cfg.workers, log, cfg.confusable_p)
    if "noise" in cfg.sources:
        items += noise_pieces(cfg) + esc_items(cfg, ESC_TRAIN, log) + sound_items(cfg, log)
    if not any(it.tokens for it in items):
        raise DatasetError(f"no speech to train on under {cfg.data_root} (see docs/training.md for the data)")
    counts: dict[str, int] = {}
    for it in items:
        counts[it.source] = counts.get(it.source, 0) + 1
    log(f"training items: {len(items)} {counts}")
    return items


def validation_items(cfg: CtcDataConfig, log: Callable[[str], None] = print) -> dict[str, list[Item]]:
    """Validation sets by name (never trained on; for choosing recipes and calibrating INT8)."""
    sets = {"an4": an4_items(cfg, "validation", log), "words": word_items(cfg, "validation", log)}
    sets["esc10"] = esc_items(cfg, ESC_VAL, log)
    return {k: v for k, v in sets.items() if v}
