"""Scoring a sequence model's logged digits (listener.training.evaluate_strings)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_ctc_model, silence, tone

from listener.classifier import Classifier
from listener.training.evaluate_strings import (
    Logged,
    Recording,
    at_peak,
    change_tempo,
    digit_sets,
    edit_distance,
    eight_bit_versions,
    log_digits,
    score_codecs,
    score_eight_bit,
    score_levels,
    score_tempos,
    score_voice_shifts,
    shift_voice,
    summarize,
    with_settings,
)
from listener.training.strings import CODECS, codec_round_trip


@pytest.mark.parametrize(
    "a, b, d", [("", "", 0), ("472", "472", 0), ("47", "472", 1), ("4720", "472", 1), ("", "123", 3), ("12", "21", 2)]
)
def test_edit_distance(a, b, d):
    assert edit_distance(a, b) == d == edit_distance(b, a)


def test_summarize_counts_digits_right_exact_and_false_digits():
    logged = [
        Logged("472", "472", 3, 2.0, "anna"),
        Logged("8851", "851", 4, 2.0, "bob"),  # one digit missed
        Logged("", "9", 2, 1.0),  # "ninety two"? no: two words without digits, one false digit
        Logged("", "", 1, 1.0),
        Logged("", "", 0, 60.0),  # a minute of noise, nothing logged
        Logged("", "11", 0, 60.0),  # another, two false digits
    ]
    s = summarize(logged)
    assert s["with_digits"] == 2 and s["reference_digits"] == 7 and s["exact"] == 1
    assert s["digits_right"] == pytest.approx(100 * (1 - 1 / 7), abs=0.01)
    assert s["digits_right_by_group"] == {"anna": 100.0, "bob": 75.0}
    assert (s["without_digits"], s["words"], s["false_digits"]) == (2, 3, 1)
    assert s["false_per_100_words"] == pytest.approx(33.33, abs=0.01)
    assert (s["noise_minutes"], s["noise_false_digits"], s["false_per_minute"]) == (2.0, 2, 1.0)


def test_summarize_counts_the_digits_logged_beyond_those_said_around_teens_and_tens():
    logged = [
        Logged("65", "635", 3, 1.0, confusable=1),  # "six thirty five": "3" is one too many
        Logged("5", "5", 2, 1.0, confusable=1),  # "fifty five"
        Logged("", "99", 2, 1.0, confusable=2),  # "nineteen ninety": two false digits
        Logged("472", "47", 3, 1.0),  # no teen or ten: not counted here
    ]
    s = summarize(logged)
    assert (s["confusable_recordings"], s["confusable_words"], s["confusable_extra_digits"]) == (3, 4, 3)
    assert s["confusable_extra_per_100"] == 75.0
    assert s["confusable_digits_right"] == pytest.approx(100 * (1 - 1 / 3), abs=0.01)
    assert "confusable_words" not in summarize(logged[3:])


def test_an4_recordings_count_their_teens_and_tens(tmp_path):
    from listener.training.evaluate_strings import digit_sets
    from tests.fakes import make_an4

    test = {"an4test_clstk/fjlp/an417-fjlp-b": "SIX THIRTY FIVE", "an4test_clstk/fjlp/an418-fjlp-b": "NINETEEN NINETY"}
    recs = digit_sets(make_an4(tmp_path / "data" / "an4", test=test).parent, "test", ["an4"])
    assert {r.reference: r.confusable for r in recs["an4"]} == {"65": 1, "": 2}


def test_log_digits_reads_what_the_pipeline_logged(tmp_path):
    """The ctc test model hears a low tone as "1" and a high one as "2"; scoring goes through the
    runtime pipeline, so its threshold (from the metadata, or with_settings) applies."""
    clf = Classifier(make_ctc_model(tmp_path))
    audio = np.concatenate([silence(0.5), tone(300, 0.4), silence(0.15), tone(3000, 0.4), silence(0.5)])
    recs = [Recording("a", audio, "12", 2), Recording("quiet", silence(2.0), "", 0)]
    logged = log_digits(clf, recs)
    assert [x.digits for x in logged] == ["12", ""]
    assert logged[1].seconds == 2.0
    assert [x.digits for x in log_digits(with_settings(clf, threshold=1.0), recs)] == ["", ""]
    assert with_settings(clf, tail=0).info.frame_tail_samples == 0
    assert clf.info.frame_tail_samples != 0  # the original is untouched


def test_log_digits_refuses_a_window_model(tmp_path):
    from conftest import make_test_model

    with pytest.raises(ValueError, match="not a sequence model"):
        log_digits(Classifier(make_test_model(tmp_path)), [])


def test_digit_sets_refuses_an_unknown_part(tmp_path):
    with pytest.raises(ValueError, match="part must be one of"):
        digit_sets(tmp_path, "train")


def test_eight_bit_versions_keep_256_levels_and_score_through_the_pipeline(tmp_path):
    clf = Classifier(make_ctc_model(tmp_path))
    quiet = np.concatenate([silence(0.5), 0.02 * tone(300, 0.4), silence(0.15), tone(3000, 0.4), silence(0.5)])
    versions = eight_bit_versions([Recording("a", quiet.astype(np.float32), "12", 2)])
    assert list(versions) == ["linear", "linear_peak_-13dB", "mu_law"]
    linear, peak, mu = (versions[k][0].audio for k in versions)
    assert np.allclose(linear * 128, np.round(linear * 128)) and len(np.unique(linear)) <= 256
    assert np.abs(peak).max() == pytest.approx(10 ** (-13 / 20), abs=1 / 128)  # loud enough for many levels
    assert len(np.unique(mu)) <= 256 and len(np.unique(mu)) > len(np.unique(linear))  # fine steps when quiet
    assert versions["linear"][0].reference == "12"  # what was said is unchanged
    sets = {"an4": [Recording("a", quiet.astype(np.float32), "12", 2)]}
    scored = score_eight_bit(clf, sets)
    assert set(scored["digits_right"]) == {"an4/linear", "an4/linear_peak_-13dB", "an4/mu_law"}
    assert scored["mean"] == pytest.approx(np.mean(list(scored["digits_right"].values())), abs=0.01)
    assert score_eight_bit(clf, {}) == {"digits_right": {}, "mean": None}


def test_score_levels_scores_each_set_with_its_peak_at_each_level(tmp_path):
    clf = Classifier(make_ctc_model(tmp_path))
    said = np.concatenate([silence(0.5), 0.3 * tone(300, 0.4), silence(0.15), 0.5 * tone(3000, 0.4), silence(0.5)])
    rec = Recording("a", said.astype(np.float32), "12", 2)
    assert np.abs(at_peak(rec.audio, -40)).max() == pytest.approx(10 ** (-40 / 20), rel=1e-5)
    scored = score_levels(clf, {"an4": [rec], "esc10": [rec]}, [-20, -45.5])
    assert list(scored) == ["-20", "-45.5"] and all(list(by) == ["an4"] for by in scored.values())  # LEVEL_SETS only
    quiet = [Recording("a", at_peak(rec.audio, -45.5), "12", 2)]
    assert scored["-45.5"]["an4"] == summarize(log_digits(clf, quiet))


def _pitch(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * 16000 / len(x))


@pytest.mark.parametrize("factor", [0.85, 1.2])
def test_shift_voice_scales_the_pitch_and_keeps_the_tempo(factor):
    said = np.concatenate([silence(0.3), 0.5 * tone(200, 0.6), silence(0.3)]).astype(np.float32)
    shifted = shift_voice(said, factor)
    assert shifted.dtype == np.float32 and abs(len(shifted) - len(said)) <= 160  # the tempo is kept
    assert _pitch(shifted[6400:12800]) == pytest.approx(200 * factor, rel=0.03)
    assert np.abs(shifted[:3000]).max() < 0.05  # the silence before the tone stays where it was


def test_shift_voice_says_what_it_needs_when_sox_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without sox on it
    with pytest.raises(RuntimeError, match="needs the sox program"):
        shift_voice(tone(200, 0.2), 1.1)
    with pytest.raises(RuntimeError, match="tempo change needs the sox program"):
        change_tempo(tone(200, 0.2), 1.3)


def test_score_voice_shifts_scores_each_set_and_sex_with_the_voices_shifted(tmp_path):
    clf = Classifier(make_ctc_model(tmp_path))
    said = np.concatenate([silence(0.5), 0.3 * tone(300, 0.4), silence(0.15), 0.5 * tone(3000, 0.4), silence(0.5)])
    woman = Recording("a", said.astype(np.float32), "12", 2, group="fxyz")
    man = Recording("b", said.astype(np.float32), "21", 2, group="mxyz")
    scored = score_voice_shifts(clf, {"an4": [woman, man], "fsdd": [woman], "esc10": [man]}, [0.9, 1.1])
    assert list(scored["digits_right"]) == ["0.9", "1.1"]
    row = scored["digits_right"]["1.1"]
    assert set(row) == {"an4", "an4/f", "an4/m", "fsdd"}  # VOICE_SHIFT_SETS only, AN4 by sex
    higher = [Recording(r.name, shift_voice(r.audio, 1.1), r.reference, 2, r.group) for r in (woman, man)]
    assert row["an4"] == summarize(log_digits(clf, higher))["digits_right"]
    assert row["an4/m"] == summarize(log_digits(clf, higher[1:]))["digits_right"]
    whole = [v for r in scored["digits_right"].values() for k, v in r.items() if "/" not in k]
    assert scored["mean"] == pytest.approx(np.mean(whole), abs=0.01)
    assert score_voice_shifts(clf, {}, [1.1]) == {"digits_right": {"1.1": {}}, "mean": None}
    back = score_voice_shifts(clf, {"an4": [man]}, [1.2], there_and_back=True)["digits_right"]["1.2"]
    unchanged = [Recording("b", shift_voice(shift_voice(man.audio, 1.2), 1 / 1.2), "21", 2, "mxyz")]
    assert back["an4"] == summarize(log_digits(clf, unchanged))["digits_right"]


def test_there_and_back_gives_the_voice_back():
    said = np.concatenate([silence(0.3), 0.5 * tone(200, 0.6), silence(0.3)]).astype(np.float32)
    back = shift_voice(shift_voice(said, 1.2), 1 / 1.2)
    assert _pitch(back[6400:12800]) == pytest.approx(200, rel=0.03)


def test_change_tempo_shortens_the_speech_and_keeps_the_voice():
    said = np.concatenate([silence(0.3), 0.5 * tone(200, 0.8), silence(0.3)]).astype(np.float32)
    fast = change_tempo(said, 1.25)
    assert len(fast) == pytest.approx(len(said) / 1.25, rel=0.02)
    middle = len(fast) // 2
    assert _pitch(fast[middle - 3200 : middle + 3200]) == pytest.approx(200, rel=0.03)


def test_score_tempos_scores_the_sets_said_faster(tmp_path):
    clf = Classifier(make_ctc_model(tmp_path))
    said = np.concatenate([silence(0.5), 0.3 * tone(300, 0.4), silence(0.15), 0.5 * tone(3000, 0.4), silence(0.5)])
    rec = Recording("a", said.astype(np.float32), "12", 2, group="mabc")
    scored = score_tempos(clf, {"an4": [rec], "esc10": [rec]}, [1.3])
    assert set(scored["digits_right"]["1.3"]) == {"an4", "an4/m"}
    faster = [Recording("a", change_tempo(rec.audio, 1.3), "12", 2, group="mabc")]
    assert scored["digits_right"]["1.3"]["an4"] == summarize(log_digits(clf, faster))["digits_right"]


@pytest.mark.parametrize("codec", list(CODECS))
def test_a_codec_round_trip_keeps_the_length_and_the_tone_and_costs_fewer_bytes(codec):
    said = np.concatenate([silence(0.3), 0.5 * tone(440, 1.0), silence(0.3)]).astype(np.float32)
    coded, size = codec_round_trip(said, codec)
    assert len(coded) == len(said) and coded.dtype == np.float32
    assert size < said.size * 2 / 4  # a quarter of 16-bit PCM at most
    middle = slice(8000, 16000)
    spectrum = np.abs(np.fft.rfft(coded[middle]))
    assert np.fft.rfftfreq(8000, 1 / 16000)[spectrum.argmax()] == pytest.approx(440, abs=4)
    assert np.corrcoef(said[middle], coded[middle])[0, 1] > 0.9  # not shifted in time


def test_score_codecs_scores_the_coded_sets_and_gives_each_bitrate(tmp_path):
    clf = Classifier(make_ctc_model(tmp_path))
    said = np.concatenate([silence(0.5), 0.3 * tone(300, 0.4), silence(0.15), 0.5 * tone(3000, 0.4), silence(0.5)])
    rec = Recording("a", said.astype(np.float32), "12", 2, group="fabc")
    scored = score_codecs(clf, {"an4": [rec], "esc10": [rec]}, ["opus_0.9", "mp3_0.5"])
    assert set(scored["digits_right"]) == {"opus_0.9", "mp3_0.5"}
    assert set(scored["digits_right"]["opus_0.9"]) == {"an4", "an4/f"}
    coded = [Recording("a", codec_round_trip(rec.audio, "opus_0.9")[0], "12", 2, group="fabc")]
    assert scored["digits_right"]["opus_0.9"]["an4"] == summarize(log_digits(clf, coded))["digits_right"]
    assert 4 < scored["kbps"]["opus_0.9"] < 128 and 4 < scored["kbps"]["mp3_0.5"] < 128


def test_non_speech_recordings_are_sounds_no_model_trains_on_and_never_speech(tmp_path, monkeypatch):
    from listener.training.evaluate_strings import non_speech_recordings

    monkeypatch.setenv("LISTENER_CACHE", str(tmp_path / "cache"))
    said: list[str] = []
    recs = non_speech_recordings(tmp_path / "data", tmp_path / "system", said.append)
    assert recs and {r.group for r in recs} == {"synthetic_heldout"}  # the one held-out source a bare tree has
    assert all(r.reference == "" and r.words == 0 and r.audio.dtype == np.float32 for r in recs)
    assert any("skipping game_music" in m for m in said)  # what the machine lacks is said
    out = summarize([Logged(r.reference, "", r.words, len(r.audio) / 16000, r.group) for r in recs[:3]])
    assert out["noise_false_digits"] == 0 and out["noise_minutes"] > 0


def test_non_speech_keeps_music_effects_and_synthetic_sounds_only():
    from listener.training.datasets.negatives import Pool, non_speech

    pool = Pool(
        [np.zeros(8000, np.float32)] * 6, ["fsdd", "freedoom_music", "sc_noise_train", "game_sfx", "tts", "mixture"]
    )
    assert non_speech(pool) == [1, 3]
