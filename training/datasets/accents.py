"""Non-native pronunciations of English words, for synthetic speech.

espeak-ng says every word the way its English dictionary says it, so a model
trained on it learns one pronunciation per digit: "six" is [sIks], and a
speaker who says [si:s] (French, Spanish, Italian...) or [sri:] for "three"
falls outside what it heard.
These rules rewrite espeak-ng's phoneme string (its ``-x`` output, e.g.
``s'Iks``) the way common second-language accents do; the rewritten string is
then spoken with espeak-ng's ``[[...]]`` phoneme input, by the same voices.

The rules are features shared by many accents, not one accent each: the
tense/lax vowel merger, th-stopping, full vowels for schwa, monophthongs for
English diphthongs, final devoicing, w/v, cluster simplification. Each clip
draws its own subset, so one word gets many plausible pronunciations.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AccentRule:
    """Replace every match of `pattern` in a phoneme string with one of `choices`."""

    name: str
    pattern: str
    choices: tuple[str, ...]


# Patterns work on espeak-ng's ASCII phoneme mnemonics: ' and , are stress marks;
# aI eI oU @U i@ o@ O@ e@ U@ OI aU are diphthongs, so single letters are matched
# only where they are not part of one.
ACCENT_RULES: tuple[AccentRule, ...] = (
    AccentRule("lax_to_tense_i", r"(?<![aeoOU@])I(?![@2])", ("i:", "i")),  # six -> [si:ks]
    AccentRule("short_long_vowels", r"(i|u):", (r"\1",)),  # three -> [tri], two -> [tu]
    AccentRule("th_stopping", r"T", ("t", "s", "f")),  # three -> [tri:], [sri:]
    AccentRule("strut_to_open", r"[V0]", ("a", "0", "O")),  # one -> [wan]
    AccentRule("w_to_v", r"(?<![a-zA-Z@:])w", ("v",)),  # one -> [van]
    AccentRule("full_schwa", r"(?<![iIoOeaAU3])@(?!U)", ("E", "e", "")),  # seven -> [sEvEn], [sEvn]
    AccentRule("monophthong_o", r"[o@]U", ("o:", "o")),  # zero -> [zi@ro:]
    AccentRule("monophthong_e", r"eI", ("e:", "e")),  # eight -> [e:t]
    AccentRule("monophthong_ai", r"aI2?", ("ai", "a")),  # five -> [faiv]
    AccentRule("centring_diphthong", r"i@", ("e", "E", "i")),  # zero -> [zeroU]
    AccentRule("rhotic_r", r"[oO]@$", ("o:r", "O:r", "o")),  # four -> [fo:r]
    AccentRule("z_devoicing", r"z", ("s",)),  # zero -> [si@roU]
    AccentRule("final_devoicing", r"v$", ("f",)),  # five -> [faIf]
    AccentRule("final_cluster", r"ks$", ("s",)),  # six -> [sIs]
    AccentRule("final_t_drop", r"t$", ("",)),  # eight -> [eI]
    AccentRule("h_dropping", r"^(['\",]?)h", (r"\1",)),  # heaven -> [Ev@n]
)


def bare(phonemes: str) -> str:
    """The phoneme string without stress marks (two renditions collide if these match)."""
    return re.sub(r"[',\"%=_;]", "", phonemes)


def accent(
    phonemes: str,
    rng: np.random.Generator,
    p: float = 0.5,
    forbidden: Collection[str] = (),
    tries: int = 8,
) -> str | None:
    """One accented rendition of `phonemes`, or None (no rule applies, or every draw collided).

    Every rule that matches is applied with probability `p` (at least one is),
    each match replaced by a random choice. A result that is unchanged, or whose
    `bare` form is in `forbidden` (the pronunciation of another word the model
    must tell apart: "three" said [tri:] is "tree"), is drawn again, up to
    `tries` times; the caller then keeps the plain word.
    """
    rules = [r for r in ACCENT_RULES if re.search(r.pattern, phonemes)]
    if not rules:
        return None
    blocked = set(forbidden) | {bare(phonemes)}
    for _ in range(tries):
        chosen = [r for r in rules if rng.random() < p] or [rules[int(rng.integers(len(rules)))]]
        out = phonemes
        for rule in chosen:
            out = re.sub(rule.pattern, lambda m, r=rule: m.expand(r.choices[int(rng.integers(len(r.choices)))]), out)
        if bare(out) not in blocked and bare(out):
            return out
    return None
