"""Model cards are rendered from their results, nothing typed in: the committed cards are what the code renders."""

from __future__ import annotations

import json
from pathlib import Path

from listener.export.card import write_card
from listener.training.models.registry import ModelSpec

ROOT = Path(__file__).resolve().parents[2]


def render(results: dict, path: Path) -> str:
    evals = results["evaluation"]
    fp32 = {k[: -len("_fp32")]: v for k, v in evals.items() if k.endswith("_fp32")}
    int8 = {k[: -len("_int8")]: v for k, v in evals.items() if k.endswith("_int8")}
    extra = {k: v for k, v in results.items() if k not in ("spec", "training", "evaluation", "summary")}
    spec = ModelSpec.from_dict(results["spec"])
    return write_card(path, spec, results["summary"], fp32, int8, results["training"], extra).read_text()


def test_a_card_says_how_its_figures_were_scored(tmp_path: Path) -> None:
    results = json.loads((ROOT / "docs" / "models" / "sounds" / "1.1" / "results.json").read_text())  # kept: history
    cv = results["cross_validation"]
    assert "predate scoring through the runtime's pipeline" in render(results, tmp_path / "a.md")
    cv["protocol"] = "runtime pipeline"
    results.pop("reevaluated", None)
    card = render(results, tmp_path / "b.md")
    assert "predate" not in card and "through the runtime's pipeline (its energy gate" in card
    assert "Scored again" not in card


def test_the_digits_card_holds_its_measured_tables() -> None:
    """The digits card's tables are bench.bench_digits' JSON files rendered (``python -m
    bench.bench_digits --card``), and the shipped files' metadata carries the same test figures
    (``bench_digits --stamp``) and the recipe's version."""
    from bench.bench_digits import published_tables
    from listener.classifier import Classifier
    from listener.export.build_digits import VERSION, DigitsRecipe

    card = (ROOT / "docs" / "models" / "digits.md").read_text()
    assert published_tables() in card
    test = json.loads((ROOT / "docs" / "models" / "digits" / "bench_digits.json").read_text())
    for variant, path in (("int8", "digits.onnx"), ("fp32", "digits.fp32.onnx")):
        info = Classifier(ROOT / "assets" / path).info
        sets = test["models"][variant]["sets"]
        assert (info.variant, info.version) == (variant, VERSION)
        assert info.accuracy["an4_test_digits_right_pct"] == sets["an4"]["digits_right"]
        assert info.accuracy["fsdd_nicolas_theo_pct"] == sets["fsdd"]["digits_right"]
        assert (ROOT / "assets" / path).stat().st_size == test["models"][variant]["bytes"]
        assert (info.threshold, info.frame_tail_samples) == (
            test["models"][variant]["threshold"],
            test["models"][variant]["frame_tail_samples"],
        )
        assert info.zero_fill_db == DigitsRecipe.zero_fill_db is not None  # the recipe's, chosen by rule 14


def test_bench_digits_stamps_test_figures_into_a_copy_and_keeps_the_rest(tmp_path: Path) -> None:
    """``bench_digits --stamp``: the file's ``accuracy`` becomes the test figures; the other metadata stays."""
    import shutil

    from bench.bench_digits import stamp, test_accuracy
    from listener.classifier import Classifier

    copy = tmp_path / "digits.onnx"
    shutil.copyfile(ROOT / "assets" / "digits.onnx", copy)
    before = Classifier(copy).info
    sets = json.loads((ROOT / "docs" / "models" / "digits" / "bench_digits.json").read_text())["models"]["int8"]["sets"]
    sets["an4"] = {**sets["an4"], "digits_right": 12.5, "exact": 3, "with_digits": 7}
    stamp(copy, sets)
    after = Classifier(copy).info
    assert after.accuracy == test_accuracy(sets)
    assert after.accuracy["an4_test_digits_right_pct"] == 12.5 and after.accuracy["an4_test_exact_strings"] == "3/7"
    assert {k: v for k, v in after.to_metadata().items() if k != "accuracy"} == {
        k: v for k, v in before.to_metadata().items() if k != "accuracy"
    }


def test_the_digits_card_gains_a_non_speech_row_when_the_bench_scored_one() -> None:
    from bench.bench_digits import card_tables

    results = ROOT / "docs" / "models" / "digits"
    test = json.loads((results / "bench_digits.json").read_text())
    validation = json.loads((results / "bench_digits_validation.json").read_text())
    for part in (test, validation):  # a bench run without --non-speech
        for variant in ("fp32", "int8"):
            part["models"][variant]["sets"].pop("non_speech", None)
    assert "no model trains on" not in card_tables(test, validation)
    for part, rate in ((test, 1.25), (validation, 2.5)):
        for variant in ("fp32", "int8"):
            part["models"][variant]["sets"]["non_speech"] = {"noise_minutes": 11.85, "false_per_minute": rate}
    rows = [r for r in card_tables(test, validation).splitlines() if "no model trains on (11.85 min" in r]
    assert len(rows) == 2 and rows[0].endswith("| 1.25 | 1.25 |") and rows[1].endswith("| 2.50 | 2.50 |")
