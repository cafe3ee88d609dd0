"""Run objects, save and load, experiments and sweeps, progress, the GIL, Ctrl-C."""

import json
import os
import signal
import threading
import time

import numpy as np
import pytest

import escapade

SMALL = dict(objective="octopus", dim=4, chains=128, steps=400, seed=2, backend="cpu")


def test_save_then_load_gives_the_same_run(tmp_path):
    run = escapade.run(**SMALL, trace_chains=2)
    plots = run.save(tmp_path / "r")
    assert plots and all(os.path.exists(p) for p in plots)
    back = escapade.load(tmp_path / "r")
    assert back.summary == json.loads((tmp_path / "r" / "summary.json").read_text())
    assert back.summary["counts"] == run.summary["counts"]
    for table in ["events", "chains", "trace"]:
        a, b = getattr(run, table), getattr(back, table)
        assert a.dtype.names == b.dtype.names
        for name in a.dtype.names:
            np.testing.assert_array_equal(a[name], b[name], err_msg=f"{table}.{name}")
    assert back.labels == run.labels
    s1, s2 = run.survival(), back.survival()
    for k, v in s1["kaplan_meier"].items():
        np.testing.assert_array_equal(v, s2["kaplan_meier"][k])
    # A loaded run saves the same files again.
    back.save(tmp_path / "again", plots="none")
    for name in ["summary.json", "events.csv", "chains.csv", "trace.csv", "experiment.toml"]:
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "r" / name).read_bytes(), name


def test_save_refuses_to_replace_a_run_unless_asked(tmp_path):
    run = escapade.run(**SMALL)
    run.save(tmp_path, plots="none")
    with pytest.raises(ValueError, match="overwrite=True"):
        run.save(tmp_path, plots="none")
    run.save(tmp_path, plots="none", overwrite=True)
    with pytest.raises(ValueError, match=r"^invalid plots: got jpg, allowed: one of svg, png, none$"):
        run.save(tmp_path / "x", plots="jpg")


def _csv_cell(value):
    """A table cell as the CSV files write it (-1 and NaN are the arrays' empty cells)."""
    if isinstance(value, str):
        return value
    if isinstance(value, np.floating):
        return "" if np.isnan(value) else repr(float(value)) if value.dtype == np.float64 else str(value)
    if value == -1:
        return ""
    return str(int(value))


def test_tables_have_the_csv_columns_and_values(tmp_path):
    run = escapade.run(**SMALL)
    run.save(tmp_path, plots="none")
    for table in ["events", "chains"]:
        lines = (tmp_path / f"{table}.csv").read_text().splitlines()
        header = lines[0].split(",")
        array = getattr(run, table)
        assert list(array.dtype.names) == header
        assert len(array) == len(lines) - 1 > 0
        for row, line in zip(array, lines[1:]):
            cells = line.split(",")
            for name, cell in zip(header, cells):
                value = row[name]
                if name == "sosp":
                    assert cell == {1: "true", 0: "false", -1: ""}[int(value)], (table, name, line)
                elif isinstance(value, np.floating) and cell not in ("", "NaN"):
                    assert value == value.dtype.type(cell), (table, name, line)
                else:
                    assert _csv_cell(value) == cell or (cell == "NaN" and np.isnan(value)), (table, name, line)
    assert len(run.chains) == 128
    assert set(run.chains["outcome"]) <= {"converged", "precision_limited", "censored", "diverged", "moving"}


def test_survival_tables():
    run = escapade.run(**SMALL)
    s = run.survival()
    km = s["kaplan_meier"]
    assert set(km) == {"t", "at_risk", "events", "survival", "se", "lower", "upper"}
    assert np.all(np.diff(km["survival"]) <= 0)
    assert set(s["cumulative_incidence"]) == {"escaped", "diverged", "precision_limited"}
    overall = run.summary["survival"]["overall"]
    assert s["cumulative_incidence"]["escaped"]["cif"][-1] == pytest.approx(overall["escape_cif"])
    assert km["at_risk"][0] == overall["saddle_stalls"]
    # The pooled curve carries the chain-clustered band, as summary.json and the CLI's plot do
    # (the octopus chains stall at several saddles each: Greenwood's band would differ).
    median = np.argmax(km["survival"] <= 0.5)
    assert km["se"][median] == pytest.approx(run.summary["survival"]["overall_median_se"], rel=1e-12)
    label = run.labels[0]
    assert run.survival(label)["kaplan_meier"]["t"].size > 0
    with pytest.raises(ValueError, match="invalid label"):
        run.survival(10_000)


def test_pandas_frames():
    pd = pytest.importorskip("pandas")
    run = escapade.run(**SMALL)
    df = run.chains.to_pandas()
    assert isinstance(df, pd.DataFrame) and list(df.columns) == list(run.chains.dtype.names)
    assert len(run.events.to_pandas()) == len(run.events)
    assert (df["steps"].to_numpy() == run.chains["steps"]).all()


def test_tables_are_read_only():
    run = escapade.run(**SMALL)
    assert isinstance(run.events, escapade.Table)
    with pytest.raises(ValueError, match="read-only"):
        run.chains["steps"][0] = 7
    mine = np.array(run.chains)
    mine["steps"][0] += 1
    assert mine["steps"][0] == run.chains["steps"][0] + 1


def test_experiment_from_toml_replace_and_to_toml(tmp_path):
    (tmp_path / "e.toml").write_text('objective = "octopus"\ndim = 4\nchains = 128\nsteps = 400\nseed = 2\nbackend = "cpu"\n')
    exp = escapade.Experiment.from_toml(tmp_path / "e.toml")
    assert exp.options["chains"] == 128
    a = exp.run()
    b = escapade.run(**SMALL)
    assert a.events.tobytes() == b.events.tobytes()
    c = exp.replace(seed=3)
    assert c.options["seed"] == 3 and exp.options["seed"] == 2
    assert "seed = 3" in c.to_toml()
    assert escapade.Experiment.from_toml(tmp_path / "e.toml", chains=64).options["chains"] == 64


def test_sweep_runs_every_point_and_checks_them_first(tmp_path):
    runs = escapade.sweep(escapade.Experiment(**SMALL), grid={"eta": [0.05, 0.1], "seed": [1, 2]}, out=tmp_path)
    assert [(r.options["eta"], r.options["seed"]) for r in runs] == [(0.05, 1), (0.05, 2), (0.1, 1), (0.1, 2)]
    assert (tmp_path / "eta=0.05_seed=1" / "events.csv").exists()
    with pytest.raises(ValueError, match=r"invalid chains: got 0.*\(grid point chains=0\)"):
        escapade.sweep(SMALL, grid={"chains": [4, 0]})
    with pytest.raises(TypeError):
        escapade.sweep(SMALL, grid={"chainz": [4]})


def test_progress_callable_sees_the_run_to_its_end():
    seen = []
    escapade.run(**SMALL, progress=seen.append)
    assert seen and seen[-1]["fraction"] == 1.0
    assert seen[-1]["work_done"] == seen[-1]["work_total"]


def test_progress_callback_errors_stop_the_run():
    def boom(p):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        escapade.run(**{**SMALL, "chains": 4096, "steps": 200000}, progress=boom)


LONG = dict(objective="octopus", dim=5, chains=8192, steps=1_000_000, seed=1, backend="cpu")


def interrupt_after(seconds):
    def fire():
        time.sleep(seconds)
        os.kill(os.getpid(), signal.SIGINT)

    t = threading.Thread(target=fire, daemon=True)
    t.start()
    return t


def test_ctrl_c_stops_the_run_with_the_gil_released():
    ticks = [0]
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks[0] += 1
            time.sleep(0.001)

    counter = threading.Thread(target=count, daemon=True)
    counter.start()
    interrupt_after(1.0)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        escapade.run(**LONG)
    done.set()
    assert time.monotonic() - start < 30
    # Python ran alongside the ensemble: the GIL was released.
    assert ticks[0] > 100


def test_ctrl_c_leaves_a_checkpoint_in_out(tmp_path):
    interrupt_after(1.0)
    with pytest.raises(KeyboardInterrupt, match="checkpoint"):
        escapade.run(**LONG, out=tmp_path)
    assert (tmp_path / "checkpoint").is_dir()
    assert not (tmp_path / "summary.json").exists()


@pytest.mark.usefixtures("gpu")
def test_ctrl_c_stops_a_gpu_run(tmp_path):
    interrupt_after(1.5)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt, match="checkpoint"):
        escapade.run(**{**LONG, "backend": "gpu"}, out=tmp_path)
    assert time.monotonic() - start < 60
    assert (tmp_path / "checkpoint").is_dir()


def test_progress_true_uses_tqdm_when_installed(capsys):
    pytest.importorskip("tqdm")
    escapade.run(**SMALL, progress=True)
    assert "chain-step" in capsys.readouterr().err


def test_arrow_tables():
    pa = pytest.importorskip("pyarrow")
    run = escapade.run(**SMALL)
    t = run.chains.to_arrow()
    assert isinstance(t, pa.Table) and t.column_names == list(run.chains.dtype.names)
    assert t.num_rows == len(run.chains)


def test_an_interrupted_run_resumes_to_the_uninterrupted_results(tmp_path):
    options = dict(objective="octopus", dim=5, chains=4096, steps=3000, seed=5, backend="cpu", plots="none")

    def stop_early(p):
        if p["fraction"] < 0.9:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt, match="checkpoint"):
        escapade.run(**options, out=tmp_path / "a", progress=stop_early)
    assert (tmp_path / "a" / "checkpoint").is_dir()
    resumed = escapade.run(**options, out=tmp_path / "a", resume=True)
    assert not (tmp_path / "a" / "checkpoint").exists()
    whole = escapade.run(**options)
    assert resumed.events.tobytes() == whole.events.tobytes()
    assert resumed.chains.tobytes() == whole.chains.tobytes()


def test_experiment_files_with_data_and_wgsl_paths(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(30, 3))
    np.save(tmp_path / "A.npy", a)
    np.save(tmp_path / "y.npy", (a @ np.ones(3)) ** 2)
    (tmp_path / "e.toml").write_text(
        f'objective = "phase-retrieval"\ndata = ["{tmp_path / "A.npy"}", "{tmp_path / "y.npy"}"]\nchains = 32\nsteps = 100\nbackend = "cpu"\n')
    from_file = escapade.Experiment.from_toml(tmp_path / "e.toml").run()
    direct = escapade.run(objective="phase-retrieval", data=[tmp_path / "A.npy", tmp_path / "y.npy"], chains=32, steps=100, backend="cpu")
    assert from_file.events.tobytes() == direct.events.tobytes()
    (tmp_path / "f.wgsl").write_text("fn objective(x: ptr<private, array<f32, D>>, g: ptr<private, array<f32, D>>) -> Eval {\n  return Eval(oops, 0u, 1u);\n}\n")
    (tmp_path / "w.toml").write_text(f'wgsl = "{tmp_path / "f.wgsl"}"\ndim = 2\n')
    with pytest.raises(ValueError, match=r"f\.wgsl:2:15: "):
        escapade.Experiment.from_toml(tmp_path / "w.toml")


def test_a_loaded_run_saved_over_its_own_directory_keeps_its_files(tmp_path):
    escapade.run(**SMALL).save(tmp_path, plots="none")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.suffix in (".csv", ".json")}
    loaded = escapade.load(tmp_path)
    loaded.save(tmp_path, plots="none", overwrite=True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.suffix in (".csv", ".json")} == before
    assert escapade.load(tmp_path).events.tobytes() == loaded.events.tobytes()


def test_sweep_ignores_the_base_out_and_refuses_a_string_axis(tmp_path):
    """A base with ``out`` does not send every point to that one directory; ``escapade sweep``
    ignores an experiment file's out too."""
    escapade.run(**SMALL, out=tmp_path / "base", plots="none")
    runs = escapade.sweep(tmp_path / "base" / "experiment.toml", {"seed": [1, 2]})
    assert [r.summary["seed"] for r in runs] == [1, 2]
    # escapade's own hidden files (.lock, .manifest) aside, the base run is as it was.
    assert sorted(p.name for p in (tmp_path / "base").iterdir() if not p.name.startswith(".")) == ["chains.csv", "events.csv", "experiment.toml", "summary.json", "violations.csv"]
    runs = escapade.sweep(tmp_path / "base" / "experiment.toml", {"seed": [1, 2]}, out=tmp_path / "sw")
    assert sorted(p.name for p in (tmp_path / "sw").iterdir()) == ["seed=1", "seed=2"]
    with pytest.raises(TypeError, match=r"^grid\['method'\]: expected a sequence of values \(e.g. \['gd'\]\), got str$"):
        escapade.sweep(SMALL, {"method": "gd"})


def test_progress_refuses_what_is_neither_a_flag_nor_a_callable(capsys):
    for bad in ("yes", 0, 1):
        with pytest.raises(TypeError, match=r"^progress: expected True, False, None or a callable, got (str|int)$"):
            escapade.run(**SMALL, progress=bad)
    import numpy as np

    escapade.run(**SMALL, progress=np.bool_(False))
    assert capsys.readouterr().err == ""


def test_distinct_gpu_kernels_do_not_pile_up(gpu):
    """Many runs of distinct kernels (custom WGSL here) in one session keep a bounded number of
    compiled kernels: memory levels off instead of growing by each kernel (MBs on lavapipe)."""
    source = ("fn objective(x: ptr<private, array<f32, D>>, g: ptr<private, array<f32, D>>) -> Eval {{\n"
              "    let a = (*x)[0]; let b = (*x)[1];\n    (*g)[0] = a; (*g)[1] = b * b * b - {c} * b;\n"
              "    return Eval(0.5 * a * a + 0.25 * b * b * b * b - 0.5 * {c} * b * b, 0u, 1u);\n}}\n")

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    if not os.path.exists("/proc/self/statm"):
        pytest.skip("needs /proc")
    runs = iter(range(1000))
    for _ in range(20):
        escapade.run(wgsl=source.format(c=1 + next(runs) / 1000), dim=2, chains=16, steps=5, backend="gpu")
    before = rss_mb()
    for _ in range(20):
        escapade.run(wgsl=source.format(c=1 + next(runs) / 1000), dim=2, chains=16, steps=5, backend="gpu")
    assert rss_mb() - before < 40, f"{rss_mb() - before:.0f} MB more after 20 more distinct kernels"


def test_a_progress_callback_that_raised_is_not_called_again(gpu):
    """The run reports on until it stops (on the GPU a dispatch is in flight); the callback that
    raised is not called with those reports (interval 0: at every report)."""
    calls = []

    def boom_once(p):
        calls.append(p)
        raise RuntimeError("stop at the first call")

    exp = escapade.Experiment(**{**SMALL, "chains": 4096, "steps": 200000, "backend": "gpu"})
    with pytest.raises(RuntimeError, match="stop at the first call"):
        exp._native.run(None, boom_once, 0.0)
    assert len(calls) == 1


def test_per_chain_starts_and_final_points(tmp_path):
    """init= takes an array of starts (a row per chain, or one point); chain c from a matrix runs
    exactly as chain c of a run started everywhere at row c; run.points are the resting points,
    saved to points.npy with save_points and read back by load; a list works as an array."""
    base = dict(objective="quartic", dim=3, chains=4, steps=150, seed=5, backend="cpu", method="gd")
    starts = np.array([[0.5, -0.2, 0.1], [-0.3, 0.4, 0.2], [0.05, 0.6, -0.5], [0.7, 0.1, 0.3]])
    run = escapade.run(**base, init=starts, save_points=True, out=tmp_path / "m")
    points = run.points
    assert points.shape == (4, 3) and points.dtype == np.float64
    for c in range(4):
        alone = escapade.run(**base, init=list(starts[c]))
        np.testing.assert_array_equal(alone.points[c], points[c])
        assert alone.chains["f"][c] == run.chains["f"][c]
    # The rows really started the chains apart.
    assert not np.array_equal(points[0], points[1])
    back = escapade.load(tmp_path / "m")
    np.testing.assert_array_equal(back.points, points)
    np.testing.assert_array_equal(np.load(tmp_path / "m" / "points.npy"), points)
    # Restarting from them: one more GD step from each resting point.
    again = escapade.run(**{**base, "steps": 1}, init=run.points)
    assert np.allclose(again.chains["f"], run.chains["f"], rtol=1e-6)
    # Without save_points a loaded run has no points; wrong shapes are refused, naming init.
    escapade.run(**base, out=tmp_path / "n")
    assert escapade.load(tmp_path / "n").points is None
    with pytest.raises(ValueError, match=r"init.*4 x 3"):
        escapade.Experiment(**base, init=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="init"):
        escapade.Experiment(**base, init=np.full(3, np.nan))


MONITORED = dict(objective="quartic", dim=3, chains=64, seed=11, method="pgd", step_rule="self-bounding", init="uniform:1", backend="cpu")


def test_the_monitor_reports_stops_and_switches_off():
    # The declared forms hold: every step checked, no violation.
    ok = escapade.run(**MONITORED, steps=300)
    m = ok.summary["monitor"]
    assert m["checks"]["curvature"] > 64 * 100 and sum(m["violations"].values()) == 0 and m["stopped"] is None
    # rho1 a quarter of the quartic's: stopped at the read-back after the first violation.
    small = dict(rho1="1,1.5,0.5,-0.25", rho2="6,8.485,0.25,-0.25")
    stopped = escapade.run(**MONITORED, **small, steps=200000, on_violation="stop")
    m = stopped.summary["monitor"]
    assert m["stopped"] and m["chains_with_violations"] > 0 and m["first"][0]["conditions"]
    assert stopped.summary["chain_steps"] < 64 * 200000
    off = escapade.run(**MONITORED, steps=300, monitor="off")
    assert off.summary["monitor"] is None
    np.testing.assert_array_equal(off.chains["f"], ok.chains["f"])
