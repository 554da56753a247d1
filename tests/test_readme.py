"""The README's results block is generated from the committed tables, never typed by hand."""

import pandas as pd
import pytest

from topotta_lite.config import repo_root
from topotta_lite.experiments.readme import (
    README_MARKERS,
    readme_block,
    results_block,
    update_readme,
)


def test_committed_readme_block_matches_the_committed_tables():
    root = repo_root()
    block = readme_block(root / "README.md")
    assert block is not None, f"README.md has no {README_MARKERS[0]} ... {README_MARKERS[1]} block"
    assert block == results_block(root / "figures" / "tables"), (
        "the README's results block differs from what figures/tables give: regenerate it with "
        "topotta-lite reproduce --profile quick (the runner rewrites it after notebook 14) or "
        "topotta_lite.experiments.update_readme()")


def write_tables(folder, topotta_f1=0.5):
    rows = [{"dataset": "embedded-2d", "scorer": "PatchCore", "backbone": "filterbank",
             "method": m, "f1": f, "n_classes": 3, "n_images": 36}
            for m, f in (("THR", 0.2), ("TTT4AS", 0.4), ("TopoTTA", topotta_f1))]
    rows.append({**rows[-1], "preset": "release", "f1": 0.45})
    pd.DataFrame(rows).to_csv(folder / "table1_2d.csv", index=False)
    pd.DataFrame({"claim": ["a", "b", "c"], "verdict": ["holds", "inconclusive",
                                                         "inconclusive"]}).to_csv(
        folder / "claims.csv", index=False)
    pd.DataFrame({"claim": ["beats_ttt4as_f1"] * 2, "side": ["ours"] * 2,
                  "setting": ["embedded-2d/filterbank/PatchCore/paper",
                              "embedded-2d/filterbank/PatchCore/release"],
                  "estimate": [0.1, 0.05], "low": [0.02, -0.01], "high": [0.2, 0.1]}).to_csv(
        folder / "claims_settings.csv", index=False)


def test_block_reads_the_tables_with_both_presets(tmp_path):
    write_tables(tmp_path)
    block = results_block(tmp_path)
    assert block.startswith(README_MARKERS[0]) and block.rstrip().endswith(README_MARKERS[1])
    lines = [ln for ln in block.splitlines() if ln.startswith("| embedded-2d")]
    assert len(lines) == 2  # the paper preset and the release preset, side by side
    paper, release = lines
    assert "| paper |" in paper and "| 0.200 | 0.400 | 0.500 | +0.100 [+0.020, +0.200] |" in paper
    assert "| release |" in release and "| 0.200 | 0.400 | 0.450 |" in release
    assert "MVTec AD PatchCore: 0.136* / 0.382 / 0.553" in paper  # flagged paper row
    assert "3 quantitative claims: 1 hold here, 2 are inconclusive" in block


def test_update_readme_replaces_only_the_block(tmp_path):
    write_tables(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n\n{README_MARKERS[0]}\nold numbers\n{README_MARKERS[1]}\n\nrest\n")
    assert update_readme(readme, tmp_path) is True
    text = readme.read_text()
    assert text.startswith("intro\n\n") and text.endswith("\nrest\n")
    assert "old numbers" not in text and readme_block(readme) == results_block(tmp_path)
    assert update_readme(readme, tmp_path) is False  # idempotent
    write_tables(tmp_path, topotta_f1=0.6)
    assert update_readme(readme, tmp_path) is True and "0.600" in readme.read_text()
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="results:start"):
        update_readme(readme, tmp_path)


def test_runner_rewrites_the_block_after_publishing_into_the_committed_figures_only(tmp_path,
                                                                                   monkeypatch):
    # the claims notebook writes into a staging folder: only after publishing do figures/tables
    # hold its claims, so the block is rewritten by the runner, never from the previous claims
    from topotta_lite.cli import reproduce as runner

    monkeypatch.setattr(runner, "repo_root", lambda: tmp_path)
    figures = tmp_path / "figures"
    (figures / "tables").mkdir(parents=True)
    write_tables(figures / "tables")
    readme = tmp_path / "README.md"
    original = f"intro\n{README_MARKERS[0]}\nold\n{README_MARKERS[1]}\n"
    readme.write_text(original)
    lines = []
    runner._refresh_readme(tmp_path / "elsewhere", {"update_readme_block": True}, lines.append)
    runner._refresh_readme(figures, {"update_readme_block": False}, lines.append)
    runner._refresh_readme(figures, {}, lines.append)
    assert readme.read_text() == original and lines == []
    runner._refresh_readme(figures, {"update_readme_block": True}, lines.append)
    assert readme_block(readme) == results_block(figures / "tables")
    assert lines == ["README results block rewritten from the published tables"]
    nb13 = next((repo_root() / "notebooks").glob("13_*.py"))
    assert runner.notebook_defaults(nb13)["update_readme_block"] is True
