"""The spoken-digits CTC model's tokens and the word -> token rules.

Index 0 is the CTC blank (silence, noise, music: nothing). ``zero``..``nine`` are tokens
1..10; ``oh`` is its own token (it sounds nothing like "zero"; its symbol is still ``0``);
every word that is not a digit (letters, names, "ninety", "fifteen", commands) is one
``<other>`` token, so the model learns to hear a word and say it is not a digit.

Words that *sound* like a digit (won, to, too, for, ate, the letter O) are never used as
``<other>`` examples (``HOMOPHONES``): they would teach the model to contradict itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from listener.training.datasets.base import DIGITS

BLANK_LABEL = "<blank>"
OTHER_LABEL = "<other>"
TOKENS: tuple[str, ...] = (BLANK_LABEL, *DIGITS, "oh", OTHER_LABEL)
BLANK = 0
OH = TOKENS.index("oh")
OTHER = TOKENS.index(OTHER_LABEL)
N_TOKENS = len(TOKENS)

# What each token stands for in a sequence record (the contract's ``symbols``): oh and zero -> 0.
SYMBOLS: dict[str, str] = {**{word: str(i) for i, word in enumerate(DIGITS)}, "oh": "0"}

# Sound like a digit: never a negative (``<other>``) example.
HOMOPHONES: frozenset[str] = frozenset({"won", "to", "too", "for", "fore", "ate", "o"})


def word_token(word: str) -> int:
    """Token of one spoken word (any case): zero..nine, oh, else ``<other>``."""
    w = word.lower()
    if w in DIGITS:
        return DIGITS.index(w) + 1
    if w == "oh":
        return OH
    return OTHER


def words_to_tokens(words: Iterable[str]) -> list[int]:
    """One token per word."""
    return [word_token(w) for w in words]


def is_negative_word(word: str) -> bool:
    """May this word be trained as ``<other>``? Not a digit, not "oh", not a digit's homophone."""
    return word_token(word) == OTHER and word.lower() not in HOMOPHONES


def token_digit(token: int) -> str:
    """The digit a token means ('' for the blank and ``<other>``); oh -> '0'."""
    return SYMBOLS.get(TOKENS[token], "")


def tokens_to_digits(tokens: Iterable[int]) -> str:
    """Digit string of a decoded token sequence (``<other>`` dropped)."""
    return "".join(token_digit(t) for t in tokens)
