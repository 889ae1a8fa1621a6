"""The digits model's tokens and word rules."""

from __future__ import annotations

import pytest

from listener.training.tokens import (
    BLANK,
    HOMOPHONES,
    OH,
    OTHER,
    SYMBOLS,
    TOKENS,
    is_negative_word,
    token_digit,
    tokens_to_digits,
    word_token,
    words_to_tokens,
)


def test_thirteen_tokens_blank_first_oh_and_other_their_own():
    assert len(TOKENS) == 13 and TOKENS[BLANK] == "<blank>"
    assert TOKENS[1:11] == ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    assert TOKENS[OH] == "oh" and TOKENS[OTHER] == "<other>" and OH != word_token("zero")


def test_words_become_tokens_in_order_any_case():
    assert words_to_tokens("FOUR seven Two".split()) == [5, 8, 3]
    assert words_to_tokens(["OH", "ZERO"]) == [OH, 1]


@pytest.mark.parametrize("word", ["ninety", "fifteen", "twelve", "JENNIFER", "enter", "bee", "hundred"])
def test_every_non_digit_word_is_other(word):
    assert word_token(word) == OTHER and is_negative_word(word)


@pytest.mark.parametrize("word", sorted(HOMOPHONES) + ["O", "Won"])
def test_homophones_of_digits_are_never_negatives(word):
    assert not is_negative_word(word)


@pytest.mark.parametrize("word", ["oh", "zero", "nine"])
def test_digits_are_not_negatives(word):
    assert not is_negative_word(word)


def test_symbols_map_oh_and_zero_to_0_and_nothing_else():
    assert SYMBOLS["oh"] == SYMBOLS["zero"] == "0" and SYMBOLS["nine"] == "9"
    assert set(SYMBOLS) == set(TOKENS[1:12])
    assert token_digit(BLANK) == token_digit(OTHER) == ""
    assert tokens_to_digits(words_to_tokens("my number is oh eight one five".split())) == "0815"


def test_the_synthetic_negatives_follow_the_rule():
    from listener.training.strings import OTHER_WORDS

    assert all(is_negative_word(w) or " " in w for w in OTHER_WORDS)
