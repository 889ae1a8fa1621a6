"""Model cards are rendered from their results, nothing typed in: the committed cards are what the code renders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("name", ["sounds"])  # digits 2.0's card: below
def test_the_published_card_is_its_results_rendered(name: str, tmp_path: Path) -> None:
    results = json.loads((ROOT / "docs" / "models" / name / "results.json").read_text())
    card = render(results, tmp_path / f"{name}.md")
    assert card == (ROOT / "docs" / "models" / f"{name}.md").read_text(), (
        f"docs/models/{name}.md differs from its results.json rendered by export/card.py: "
        f"python -m listener.export.build_defaults --evaluate-only --only {name} rewrites it"
    )


def test_a_card_says_how_its_figures_were_scored(tmp_path: Path) -> None:
    results = json.loads((ROOT / "docs" / "models" / "sounds" / "results.json").read_text())
    cv = results["cross_validation"]
    assert "predate scoring through the runtime's pipeline" in render(results, tmp_path / "a.md")
    cv["protocol"] = "runtime pipeline"
    results.pop("reevaluated", None)
    card = render(results, tmp_path / "b.md")
    assert "predate" not in card and "through the runtime's pipeline (its energy gate" in card
    assert "Scored again" not in card


def test_the_digits_card_holds_its_measured_tables() -> None:
    """digits 2.0 comes from the research build, not build_defaults: its card's tables are
    bench.bench_digits' JSON files rendered (``python -m bench.bench_digits --card``), and the
    shipped files' metadata carries the same test figures."""
    from bench.bench_digits import published_tables
    from listener.classifier import Classifier

    card = (ROOT / "docs" / "models" / "digits.md").read_text()
    assert published_tables() in card
    test = json.loads((ROOT / "docs" / "models" / "digits" / "bench_digits.json").read_text())
    for variant, path in (("int8", "digits.onnx"), ("fp32", "digits.fp32.onnx")):
        info = Classifier(ROOT / "assets" / path).info
        sets = test["models"][variant]["sets"]
        assert (info.variant, info.version) == (variant, "2.0")
        assert info.accuracy["an4_test_digits_right_pct"] == sets["an4"]["digits_right"]
        assert info.accuracy["fsdd_nicolas_theo_pct"] == sets["fsdd"]["digits_right"]
        assert (info.threshold, info.frame_tail_samples) == (
            test["models"][variant]["threshold"],
            test["models"][variant]["frame_tail_samples"],
        )
