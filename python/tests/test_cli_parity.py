"""The same options give the same results as `escapade run`, byte for byte."""

import pathlib

import pytest

import escapade
from conftest import run_cli

FLAGS = ["--objective", "octopus", "--dim", "5", "--method", "pgd", "--chains", "512", "--steps", "800", "--seed", "7", "--init", "uniform:1"]
KWARGS = dict(objective="octopus", dim=5, method="pgd", chains=512, steps=800, seed=7, init="uniform:1")
FILES = ["summary.json", "events.csv", "chains.csv", "experiment.toml"]


def compare(cli, tmp_path: pathlib.Path, backend: str, **extra):
    cli_dir = tmp_path / "cli"
    flags = [a for k, v in extra.items() for a in (f"--{k.replace('_', '-')}", str(v))]
    run_cli(cli, "run", *FLAGS, *flags, "--backend", backend, "--out", str(cli_dir), "--plots", "none", "--quiet")
    run = escapade.run(**KWARGS, backend=backend, **extra)
    py_dir = tmp_path / "py"
    run.save(py_dir, plots="none")
    for name in ["events.csv", "chains.csv"]:
        assert (py_dir / name).read_bytes() == (cli_dir / name).read_bytes(), name
    assert sorted(p.name for p in py_dir.iterdir()) == sorted(p.name for p in cli_dir.iterdir())
    return run, cli_dir, py_dir


def test_cpu_events_and_chains_match_the_cli_byte_for_byte(cli, tmp_path):
    run, cli_dir, py_dir = compare(cli, tmp_path, "cpu", eta=0.05)
    assert len(run.events) == len((cli_dir / "events.csv").read_text().splitlines()) - 1
    assert run.summary["counts"] == escapade.load(cli_dir).summary["counts"]


def test_traced_run_writes_the_same_trace(cli, tmp_path):
    compare(cli, tmp_path, "cpu", trace_chains=3, trace_every=5)
    assert (tmp_path / "py" / "trace.csv").read_bytes() == (tmp_path / "cli" / "trace.csv").read_bytes()


def test_saved_experiment_toml_reruns_on_the_cli_to_the_same_events(cli, tmp_path):
    run = escapade.run(**KWARGS, backend="cpu", radius=0.05)
    run.save(tmp_path / "py", plots="none")
    run_cli(cli, "run", str(tmp_path / "py" / "experiment.toml"), "--out", str(tmp_path / "again"), "--plots", "none", "--quiet")
    assert (tmp_path / "again" / "events.csv").read_bytes() == (tmp_path / "py" / "events.csv").read_bytes()


def test_out_writes_what_the_cli_writes(cli, tmp_path):
    run_cli(cli, "run", *FLAGS, "--backend", "cpu", "--out", str(tmp_path / "cli"), "--quiet")
    escapade.run(**KWARGS, backend="cpu", out=tmp_path / "py")
    names = lambda d: sorted(str(p.relative_to(d)) for p in d.rglob("*"))
    assert names(tmp_path / "py") == names(tmp_path / "cli")
    for name in ["events.csv", "chains.csv"]:
        assert (tmp_path / "py" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()
    # experiment.toml differs only where the options did (quiet).
    py = (tmp_path / "py" / "experiment.toml").read_text().replace(str(tmp_path / "py"), "OUT")
    cl = (tmp_path / "cli" / "experiment.toml").read_text().replace(str(tmp_path / "cli"), "OUT")
    assert py.replace("quiet = false", "quiet = true") == cl


@pytest.mark.usefixtures("gpu")
def test_gpu_events_match_the_cli_byte_for_byte(cli, tmp_path):
    compare(cli, tmp_path, "gpu")


@pytest.mark.usefixtures("gpu")
def test_gpu_and_auto_run(tmp_path):
    on_gpu = escapade.run(**KWARGS, backend="gpu")
    if on_gpu.summary["adapter"]["device_type"] == "Cpu":
        # A software adapter (lavapipe, as in CI): auto leaves it to backend="gpu" and says so.
        with pytest.warns(RuntimeWarning, match="software adapter"):
            run = escapade.run(**KWARGS, backend="auto")
        assert run.summary["backend"] == "cpu" and any("software adapter" in n for n in run.summary["check_notes"])
    else:
        run = escapade.run(**KWARGS, backend="auto")
        assert run.summary["backend"] == "gpu"
    assert len(run.chains) == len(on_gpu.chains) == 512


def test_objectives_are_the_ones_escapade_list_prints(cli):
    listed = run_cli(cli, "list").stdout
    objectives = escapade.objectives()
    assert [o["name"] for o in objectives][:2] == ["toy-saddle", "quartic"]
    for o in objectives:
        assert f"  {o['name']:<22} {o['doc']}\n" in listed, o["name"]
        assert o["usage"] in listed, o["name"]
        assert all(opt in escapade.option_names() for opt in o["options"]), o["name"]
    mlp = next(o for o in objectives if o["name"] == "mlp")
    assert mlp["data"] == ["X", "y"] and "layers" in mlp["options"]
