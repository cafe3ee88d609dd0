"""Every exception path: bad values raise ValueError with the command line's own message, unknown
options TypeError, custom WGSL errors name line and column, runtime failures EscapadeError."""

import os

import pytest

import escapade
from conftest import run_cli

# (keyword arguments, the same as flags)
BAD = [
    (dict(chains=0), ["--chains", "0"]),
    (dict(chains="many"), ["--chains", "many"]),
    (dict(eta=-1.0), ["--eta", "-1"]),
    (dict(eta="-inf"), ["--eta", "-inf"]),
    (dict(step_rule="adaptive"), ["--step-rule", "adaptive"]),
    (dict(method="newton"), ["--method", "newton"]),
    (dict(init="cube:1"), ["--init", "cube:1"]),
    (dict(objective="toy-saddle", dim=3), ["--objective", "toy-saddle", "--dim", "3"]),
    (dict(clip="hard:x"), ["--clip", "hard:x"]),
    (dict(noise=0.1, batch=4), ["--noise", "0.1", "--batch", "4"]),
    (dict(tau=1.0, objective="quartic"), ["--tau", "1", "--objective", "quartic"]),
    (dict(checkpoint_every="soon"), ["--checkpoint-every", "soon"]),
    (dict(shard="3/2"), ["--shard", "3/2"]),
    (dict(state="f8"), ["--state", "f8"]),
    (dict(backend="tpu"), ["--backend", "tpu"]),
]


@pytest.mark.parametrize("kwargs,flags", BAD, ids=[" ".join(f) for _, f in BAD])
def test_bad_values_raise_value_error_with_the_cli_message(cli, tmp_path, kwargs, flags):
    p = run_cli(cli, "run", *flags, "--steps", "1", "--chains" if "--chains" not in flags else "--seed", "1", "--out", str(tmp_path), "--quiet", check=False)
    assert p.returncode == 2, p.stderr
    options = dict(steps=1, **({"seed": 1} if "chains" in kwargs else {"chains": 1}))
    with pytest.raises(ValueError) as e:
        escapade.Experiment(**{**options, **kwargs})
    assert p.stderr.strip() == f"error: {e.value}"


def test_unknown_option_is_a_type_error():
    with pytest.raises(TypeError, match=r'unexpected keyword argument "etaa" \(tip: a similar option exists: "eta"\); the options are .*\beta\b'):
        escapade.run(etaa=0.1)
    with pytest.raises(TypeError, match=r'"g_thresh" \(tip: a similar option exists: "g_thres"\)'):
        escapade.run(g_thresh=0.1)
    with pytest.raises(TypeError, match=r'unexpected keyword argument "zzzz"; the options are'):
        escapade.run(zzzz=1)
    with pytest.raises(TypeError, match="expected a number, string, boolean, path or list"):
        escapade.run(eta=object())


def test_switches_take_booleans():
    with pytest.raises(ValueError, match=r'^invalid options key "force": got "yes", allowed: true or false$'):
        escapade.Experiment(force="yes")


def test_custom_wgsl_errors_name_line_and_column():
    source = "fn objective(x: ptr<private, array<f32, D>>, g: ptr<private, array<f32, D>>) -> Eval {\n    let v = (*x)[0];\n    return Eval(v * w, 0u, 1u);\n}\n"
    with pytest.raises(ValueError, match=r"^invalid WGSL: <wgsl>:3:21: .*`w`"):
        escapade.run(wgsl=source, dim=2, backend="cpu")
    with pytest.raises(ValueError, match=r"^invalid dim: .*a custom objective needs --dim"):
        escapade.run(wgsl=source)
    with pytest.raises(TypeError, match=r"^wgsl: a str is WGSL source; for the file 'f.wgsl' pass pathlib.Path\('f.wgsl'\)$"):
        escapade.run(wgsl="f.wgsl", dim=2)


def test_custom_wgsl_runs_on_the_gpu_from_a_string_or_a_file(gpu, tmp_path):
    source = ("fn objective(x: ptr<private, array<f32, D>>, g: ptr<private, array<f32, D>>) -> Eval {\n"
              "    let a = (*x)[0]; let b = (*x)[1];\n    (*g)[0] = a; (*g)[1] = b * b * b - b;\n"
              "    return Eval(0.5 * a * a + 0.25 * b * b * b * b - 0.5 * b * b, 0u, 1u);\n}\n")
    run = escapade.run(wgsl=source, dim=2, chains=64, steps=200, backend="gpu")
    (tmp_path / "f.wgsl").write_text(source)
    again = escapade.run(wgsl=tmp_path / "f.wgsl", dim=2, chains=64, steps=200, backend="gpu")
    assert run.events.tobytes() == again.events.tobytes()
    with pytest.raises(ValueError, match="no CPU twin"):
        escapade.run(wgsl=source, dim=2, backend="cpu")


def test_bad_toml_names_file_line_and_column(tmp_path):
    (tmp_path / "e.toml").write_text('chains = 4\nsteps = = 3\n')
    with pytest.raises(ValueError, match=r"e.toml line 2 column 9"):
        escapade.Experiment.from_toml(tmp_path / "e.toml")
    (tmp_path / "u.toml").write_text('chainz = 4\n')
    with pytest.raises(ValueError, match=r'u.toml key "chainz": got an unknown key'):
        escapade.Experiment.from_toml(tmp_path / "u.toml")


def test_existing_output_needs_force(tmp_path):
    escapade.run(chains=4, steps=10, backend="cpu", out=tmp_path, plots="none")
    with pytest.raises(ValueError, match=r"^invalid out: got .*--force to replace the run"):
        escapade.run(chains=4, steps=10, backend="cpu", out=tmp_path)
    escapade.run(chains=4, steps=10, backend="cpu", out=tmp_path, force=True, plots="none")
    with pytest.raises(ValueError, match=r"^invalid resume: .*holding a checkpoint"):
        escapade.run(chains=4, steps=10, backend="cpu", resume=True)


def test_gpu_only_input_is_a_value_error():
    # A WGSL-only objective without a cooperative form (fn objective_lanes) beyond d = 256: no
    # GPU kernel family runs it, and there is no CPU twin.
    source = "fn objective(x: ptr<private, array<f32, D>>, g: ptr<private, array<f32, D>>) -> Eval {\n    return Eval(0.0, 0u, 1u);\n}\n"
    with pytest.raises(ValueError, match=r"d = 300 on the GPU.*objective_lanes"):
        escapade.run(wgsl=source, dim=300, chains=1, steps=1, backend="gpu")


def test_no_adapter_is_an_escapade_error(monkeypatch):
    """With no Vulkan/GL driver visible, backend="gpu" fails at run time (EscapadeError), and
    auto falls back to the CPU with a warning. Checked in a child process: engines are cached."""
    import subprocess
    import sys

    code = (
        "import escapade, warnings\n"
        "try:\n    escapade.run(chains=4, steps=5, backend='gpu')\n"
        "except escapade.EscapadeError as e:\n    print('EscapadeError', e)\n"
        "with warnings.catch_warnings(record=True) as w:\n    warnings.simplefilter('always')\n"
        "    r = escapade.run(chains=4, steps=5, backend='auto')\n    print('auto', r.summary['backend'], [str(x.message) for x in w])\n"
    )
    env = dict(os.environ, VK_ICD_FILENAMES="/nonexistent.json", VK_DRIVER_FILES="/nonexistent.json", WGPU_BACKEND="vulkan")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    if "EscapadeError" not in out.stdout:
        pytest.skip(f"an adapter is still visible without Vulkan drivers: {out.stdout}")
    assert "EscapadeError no GPU adapter found" in out.stdout
    assert "auto cpu" in out.stdout and "ran on the CPU backend" in out.stdout


def test_numpy_scalars_and_arrays_are_their_python_values():
    """np.int64 / np.uint64 seeds keep every bit (not rounded through a float), np.bool_ is a
    boolean for a switch, and a 1-D array is a list."""
    import numpy as np

    run = escapade.run(chains=2, steps=2, backend="cpu", seed=np.int64(2**53 + 1))
    assert run.summary["seed"] == 2**53 + 1
    assert "seed = 18446744073709551615" in escapade.Experiment(seed=np.uint64(2**64 - 1)).to_toml().replace('"', "")
    assert "quiet = true" in escapade.Experiment(quiet=np.bool_(True)).to_toml()
    exp = escapade.Experiment(objective="quartic", dim=3, eigenvalues=np.array([1.0, -1.0, 2.0]), chains=np.int32(2))
    assert exp.to_toml() == escapade.Experiment(objective="quartic", dim=3, eigenvalues=[1.0, -1.0, 2.0], chains=2).to_toml()
