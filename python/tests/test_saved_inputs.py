"""Saved runs rerun exactly: in-memory inputs (data arrays, init arrays, WGSL source) are written
into the run directory and named by its experiment.toml; the file states the objective's default
parameters; numeric statistics are numbers or None; the command line ships with the package."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import escapade
from conftest import run_cli

RUN = dict(chains=48, steps=400, seed=5, backend="cpu", save_points=True)


def phase_retrieval():
    """User-made A, y and x_star (not the generated data), and a start per chain."""
    rng = np.random.default_rng(7)
    m, d = 30, 4
    a = rng.normal(size=(m, d)).astype(np.float32)
    x_star = rng.normal(size=d)
    y = (a.astype(np.float64) @ x_star) ** 2
    starts = rng.normal(scale=0.5, size=(RUN["chains"], d))
    return {"A": a, "y": y, "x_star": x_star}, starts


def assert_same_run(a, b):
    """Per chain the same results, field by field (NaN equal to NaN), and the same points."""
    assert a.chains.dtype.names == b.chains.dtype.names
    for name in a.chains.dtype.names:
        np.testing.assert_array_equal(a.chains[name], b.chains[name], err_msg=name)
    assert a.events.tobytes() == b.events.tobytes()
    np.testing.assert_array_equal(a.points, b.points)


def escapade_cmd(*args, check=True):
    p = subprocess.run([sys.executable, "-m", "escapade", *args], capture_output=True, text=True, timeout=300)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_saved_arrays_and_starts_rerun_identically(tmp_path):
    data, starts = phase_retrieval()
    run = escapade.run(objective="phase-retrieval", data=data, init=starts, **RUN)
    # The run really used the user's data: its labels need x_star (without, every label is 0).
    assert set(np.unique(run.chains["label"])) - {0}, "x_star was not used"
    run.save(tmp_path / "saved", plots="none")
    toml = (tmp_path / "saved" / "experiment.toml").read_text()
    inputs = (tmp_path / "saved" / "inputs").resolve()
    assert f'init = "file:{inputs}/init.npy"' in toml, toml
    paths = ",".join(f"{inputs}/{name}.npy" for name in ("A", "y", "x_star"))
    assert f'data = "{paths}"' in toml, toml
    assert 'init = "array"' not in toml
    assert "\neta = " in toml and "\ng-thres = " in toml, toml
    np.testing.assert_array_equal(np.load(inputs / "A.npy"), data["A"].astype(np.float64))
    np.testing.assert_array_equal(np.load(inputs / "init.npy"), starts)
    # Python, from the file.
    again = escapade.Experiment.from_toml(tmp_path / "saved" / "experiment.toml").run()
    assert_same_run(run, again)
    # The command line, from the file, in another working directory.
    out = tmp_path / "cli"
    p = subprocess.run([sys.executable, "-m", "escapade", "run", str(tmp_path / "saved" / "experiment.toml"), "--quiet", "--out", str(out)], capture_output=True, text=True, cwd="/", timeout=300)
    assert p.returncode == 0, p.stderr
    assert_same_run(run, escapade.load(out))
    # run(out=...) records the same way.
    direct = escapade.run(objective="phase-retrieval", data=data, init=starts, out=tmp_path / "direct", **RUN)
    assert_same_run(direct, escapade.Experiment.from_toml(tmp_path / "direct" / "experiment.toml").run())


def test_a_loaded_run_saved_elsewhere_carries_its_inputs(tmp_path):
    data, starts = phase_retrieval()
    run = escapade.run(objective="phase-retrieval", data=data, init=starts, out=tmp_path / "first", **RUN)
    escapade.load(tmp_path / "first").save(tmp_path / "second", plots="none")
    toml = (tmp_path / "second" / "experiment.toml").read_text()
    assert str((tmp_path / "first").resolve()) not in toml, toml
    # The first directory gone, the second still reruns the run.
    import shutil

    shutil.rmtree(tmp_path / "first")
    assert_same_run(run, escapade.Experiment.from_toml(tmp_path / "second" / "experiment.toml").run())


def test_wgsl_source_is_saved_as_a_file(tmp_path, gpu):
    source = "fn objective(x: ptr<private, array<f32, D>>, g: ptr<private, array<f32, D>>) -> Eval {\n    (*g)[0] = (*x)[0];\n    (*g)[1] = -(*x)[1];\n    return Eval(0.5 * ((*x)[0] * (*x)[0] - (*x)[1] * (*x)[1]), 0u, 1u);\n}\n"
    run = escapade.run(wgsl=source, dim=2, chains=16, steps=20, backend="gpu", save_points=True)
    run.save(tmp_path / "w", plots="none")
    assert (tmp_path / "w" / "inputs" / "objective.wgsl").read_text() == source
    assert_same_run(run, escapade.Experiment.from_toml(tmp_path / "w" / "experiment.toml").run())


def test_to_toml_states_the_defaults_and_refuses_what_it_cannot_name():
    exp = escapade.Experiment(objective="octopus", dim=5, method="gd")
    text = exp.to_toml()
    for key in ("eta", "radius", "g-thres", "f-thres", "t-thres", "certify"):
        assert f"\n{key} = " in text, (key, text)
    assert "\neta = 0.25\n" in text  # octopus' own default step (1/(4L))
    data, starts = phase_retrieval()
    with pytest.raises(ValueError, match="to_toml.*data arrays.*Run.save"):
        escapade.Experiment(objective="phase-retrieval", data=data).to_toml()
    with pytest.raises(ValueError, match="an init array"):
        escapade.Experiment(objective="octopus", dim=4, chains=48, init=starts).to_toml()


def test_unreached_quantiles_are_none_with_a_flag():
    run = escapade.run(objective="octopus", dim=5, method="gd", chains=64, steps=120, backend="cpu")
    groups = [run.summary["survival"]["overall"], *run.summary["survival"]["by_label"].values()]
    seen = set()
    for g in groups:
        for q in ("median", "p10", "p90"):
            assert g["reached"][q] == (g[q] is not None), g
            assert g[q] is None or isinstance(g[q], int), g
            seen.add(g[q] is None)
    assert seen == {True, False}


def test_list_is_what_the_command_prints(cli):
    text = escapade.list()
    assert text == run_cli(cli, "list").stdout
    assert text == escapade_cmd("list").stdout
    assert all(o["name"] in text for o in escapade.objectives())


def test_python_m_escapade_runs_the_command_line(tmp_path):
    out = tmp_path / "run"
    p = escapade_cmd("run", "--objective", "toy-saddle", "--chains", "16", "--steps", "50", "--backend", "cpu", "--plots", "none", "--out", str(out))
    assert "backend cpu" in p.stdout
    assert json.loads((out / "summary.json").read_text())["chains"] == 16
    assert escapade.load(out).chains.shape == (16,)
    # Bad input: one line naming the flag, status 2, pointing at the installed command's help.
    p = escapade_cmd("run", "--chains", "many", check=False)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "chains" in p.stderr, p.stderr
    p = escapade_cmd("run", "--bogus", check=False)
    assert p.returncode == 2 and "escapade run --help" in p.stderr, p.stderr


def test_the_escapade_script_is_installed():
    script = os.path.join(os.path.dirname(sys.executable), "escapade")
    if not os.path.exists(script):
        pytest.skip("not installed by pip into this environment")
    p = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.startswith("escapade "), p


def test_auto_leaves_a_software_adapter_to_backend_gpu(gpu):
    """On a machine with only software adapters (lavapipe, as in CI) auto runs on the CPU backend,
    with a warning naming the adapter; backend="gpu" takes the software adapter."""
    code = (
        "import escapade, warnings\n"
        "with warnings.catch_warnings(record=True) as w:\n    warnings.simplefilter('always')\n"
        "    r = escapade.run(objective='toy-saddle', chains=4, steps=5)\n"
        "print(r.summary['backend'], [str(x.message) for x in w])\n"
        "g = escapade.run(objective='toy-saddle', chains=4, steps=5, backend='gpu')\n"
        "print(g.summary['backend'], g.summary['adapter']['device_type'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    auto, gpu_line = out.stdout.splitlines()
    if gpu_line.split()[1] != "Cpu":
        pytest.skip(f"a hardware adapter is here: {gpu_line}")
    assert auto.startswith("cpu ") and "software adapter" in auto and "ran on the CPU backend" in auto, auto
    assert gpu_line == "gpu Cpu"


def test_sweep_directories_are_the_command_lines(tmp_path):
    """A value with a path character is one directory, percent-encoded as `escapade sweep` does."""
    runs = escapade.sweep({"objective": "toy-saddle", "chains": 8, "steps": 5, "backend": "cpu", "plots": "none"}, {"shard": ["0/2", "1/2"]}, out=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard=0%2F2", "shard=1%2F2"]
    assert [len(r.chains) for r in runs] == [4, 4]


def test_inputs_that_cannot_be_named_are_refused_before_the_run(tmp_path):
    """`data` lists its files at commas: a run directory with a comma could not name the arrays
    saved in it, so the run is refused before it starts, and nothing is written."""
    data, _ = phase_retrieval()
    with pytest.raises(ValueError, match="invalid dir.*without commas"):
        escapade.run(objective="phase-retrieval", data=data, out=tmp_path / "a,b", **RUN)
    assert not (tmp_path / "a,b").exists()
    run = escapade.run(objective="phase-retrieval", data=data, **RUN)
    with pytest.raises(ValueError, match="invalid dir.*without commas"):
        run.save(tmp_path / "c,d")
    assert not (tmp_path / "c,d").exists()
