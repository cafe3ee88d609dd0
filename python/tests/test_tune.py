"""escapade.tune: the command line's search from Python, with the same table, and its errors
as ValueError."""

import pytest

import escapade
from conftest import run_cli

BASE = dict(objective="toy-saddle", method="pgd", init="zero", chains=400, steps=300, seed=5, backend="cpu")


def test_tune_from_a_dict_chooses_a_feasible_radius_and_matches_the_cli(cli, tmp_path):
    result = escapade.tune(BASE, {"radius": [0.05, 0.3, 1.0, 30.0]}, out=tmp_path / "py", plots="none")
    radius = result.values["radius"]
    assert radius in (0.05, 0.3, 1.0)
    rows = [r for r in result.table if r["candidate"].startswith("c")]
    # 30 diverges: the default constraint drops it at the first rung.
    big = [r for r in rows if float(r["radius"]) == 30.0]
    assert big and big[0]["verdict"] == "dropped" and "--max-diverged" in big[0]["why"]
    assert result.best.options["radius"] == radius
    assert result.summary["compute"]["chain_steps"] < result.summary["compute"]["grid_chain_steps"]
    # The same search from the command line, on the base Python wrote: the same table.
    run_cli(cli, "tune", str(tmp_path / "py" / "base.toml"), "--tune", "radius=0.05,0.3,1.0,30.0", "--plots", "none", "--quiet", "--out", str(tmp_path / "cli"))
    assert (tmp_path / "cli" / "tune.csv").read_text() == (tmp_path / "py" / "tune.csv").read_text()


def test_tune_refuses_bad_input_with_the_command_lines_words(tmp_path):
    with pytest.raises(ValueError, match="invalid tune radius"):
        escapade.tune(BASE, {"radius": "log:0:1:5"}, out=tmp_path / "a")
    with pytest.raises(ValueError, match="invalid tune: got steps"):
        escapade.tune(BASE, {"steps": [1, 2]}, out=tmp_path / "b")
    with pytest.raises(ValueError, match="accuracy needs a network"):
        escapade.tune(BASE, {"radius": [0.1, 1]}, out=tmp_path / "c", statistic="accuracy")
    with pytest.raises(TypeError, match="space"):
        escapade.tune(BASE, {"radius": 0.1}, out=tmp_path / "d")
