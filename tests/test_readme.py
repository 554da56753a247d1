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
             "method": m, "preset": p, "f1": f, "n_classes": 3, "n_images": 36}
            for m, p, f in (("THR", "shared", 0.2), ("TTT4AS", "paper", 0.4),
                            ("TopoTTA", "paper", topotta_f1))]
    rows.append({**rows[-1], "preset": "release", "f1": 0.45})
    pd.DataFrame(rows).to_csv(folder / "table1_2d.csv", index=False)
    pd.DataFrame([{"dataset": "embedded-3d", "scorer": "PatchCore", "backbone": "voxel",
                   "method": m, "f1": f, "n_classes": 2, "n_images": 8}
                  for m, f in (("THR", 0.1), ("TTT4AS", 0.12), ("TopoTTA", 0.4))]).to_csv(
        folder / "table1_3d.csv", index=False)
    claims = pd.DataFrame({
        "claim": ["a", "b", "c", "pces_helps", "eai_beats_intersection", "a"],
        "preset": ["paper"] * 5 + ["release"], "origin": "paper",
        "verdict": ["holds", "inconclusive", "inconclusive", "inconclusive",
                    "vacuous (mechanism inactive)", "does not hold"],
        "effect": ["", "", "", "negligible", "", ""], "estimate": [None, None, None, 0.002,
                                                                    None, None],
        "low": [None, None, None, -0.004, None, None], "high": [None, None, None, 0.008, None,
                                                                 None],
        "setting": ["", "", "", "embedded-2d/efficientnet_lite0/PatchCore/K=1", "", ""]})
    claims.to_csv(folder / "claims.csv", index=False)
    pd.DataFrame({"claim": ["beats_ttt4as_f1"] * 3, "side": ["ours"] * 3,
                  "preset": ["paper", "release", "paper"],
                  "setting": ["embedded-2d/filterbank/PatchCore",
                              "embedded-2d/filterbank/PatchCore", "embedded-3d/voxel/PatchCore"],
                  "estimate": [0.1, 0.05, 0.28], "low": [0.02, -0.01, 0.1],
                  "high": [0.2, 0.1, 0.4]}).to_csv(folder / "claims_settings.csv", index=False)


def test_block_reads_the_tables_with_both_presets(tmp_path):
    write_tables(tmp_path)
    block = results_block(tmp_path)
    assert block.startswith(README_MARKERS[0]) and block.rstrip().endswith(README_MARKERS[1])
    lines = [ln for ln in block.splitlines() if ln.startswith("| embedded-")]
    assert len(lines) == 3  # the paper preset and the release preset side by side, and 3D
    paper, release, voxel = lines
    assert "| paper |" in paper and "| 0.200 | 0.400 | 0.500 | +0.100 [+0.020, +0.200] |" in paper
    # THR is shared by both presets; the release row has its own interval
    assert "| release |" in release and "| 0.200 | 0.400 | 0.450 | +0.050 [-0.010, +0.100] |" \
        in release
    assert "MVTec AD PatchCore: 0.136* / 0.382 / 0.553" in paper  # flagged paper row
    # 3D settings are named and show their interval (no nan, no "-")
    assert voxel.startswith("| embedded-3d | PatchCore | voxel | paper |")
    assert "+0.280 [+0.100, +0.400]" in voxel and "nan" not in block
    assert "verdict for 5 quantitative claims, per preset" in block
    assert "- **paper preset**: 1 holds here, 3 are inconclusive, 1 is vacuous" in block
    assert "- **release preset**: 1 does not hold." in block
    assert "Smallest effect of interest for every F1 / IoU claim: 0.01." in block
    assert "- PCES: does not help: no effect of interest" in block
    assert "- EAI (where it acts): inactive" in block


def test_an_older_claims_table_still_renders(tmp_path):
    write_tables(tmp_path)
    pd.DataFrame({"claim": ["a", "b"], "verdict": ["holds", "inconclusive"]}).to_csv(
        tmp_path / "claims.csv", index=False)
    pd.DataFrame({"claim": ["beats_ttt4as_f1"] * 2, "side": ["ours"] * 2,
                  "setting": ["embedded-2d/filterbank/PatchCore/paper",
                              "embedded-3d/voxel/PatchCore/nan"],
                  "estimate": [0.1, 0.3], "low": [0.02, 0.1], "high": [0.2, 0.4]}).to_csv(
        tmp_path / "claims_settings.csv", index=False)
    block = results_block(tmp_path)
    assert "+0.100 [+0.020, +0.200]" in block and "+0.300 [+0.100, +0.400]" in block
    assert "2 quantitative claims" in block and "Which components" not in block


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
    from topotta_lite.cli import publishing
    from topotta_lite.cli.parameters import notebook_defaults

    monkeypatch.setattr(publishing, "repo_root", lambda: tmp_path)
    figures = tmp_path / "figures"
    (figures / "tables").mkdir(parents=True)
    write_tables(figures / "tables")
    readme = tmp_path / "README.md"
    original = f"intro\n{README_MARKERS[0]}\nold\n{README_MARKERS[1]}\n"
    readme.write_text(original)
    lines = []
    ask = {"update_readme_block": True, "profile": "quick"}
    refresh = publishing.refresh_readme
    assert not refresh(tmp_path / "elsewhere", ask, lines.append, profile_run=True)
    assert not refresh(figures, {**ask, "update_readme_block": False}, lines.append, profile_run=True)
    assert not refresh(figures, {"profile": "quick"}, lines.append, profile_run=True)
    assert not refresh(figures, {**ask, "profile": "smoke"}, lines.append, profile_run=True)
    assert not refresh(figures, ask, lines.append, profile_run=False)  # overridden parameters
    assert readme.read_text() == original and lines == []
    assert refresh(figures, ask, lines.append, profile_run=True)
    assert readme_block(readme) == results_block(figures / "tables")
    assert lines == ["README results block rewritten from the published tables"]
    nb14 = next((repo_root() / "notebooks").glob("14_*.py"))
    assert notebook_defaults(nb14)["update_readme_block"] is True
