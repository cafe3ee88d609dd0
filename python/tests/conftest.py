"""Shared fixtures: the command-line binary (to compare against) and the GPU convention of the
Rust tests (tests/common): without an adapter GPU tests are skipped, but with CI=true they fail."""

import os
import pathlib
import subprocess

import pytest

import escapade

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cli() -> str:
    """The `escapade` binary: $ESCAPADE_BIN, else the release build of this checkout (built when
    missing)."""
    if os.environ.get("ESCAPADE_BIN"):
        return os.environ["ESCAPADE_BIN"]
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "release" / "escapade"
    if not binary.exists():
        subprocess.run(["cargo", "build", "--release", "--bin", "escapade"], cwd=ROOT, check=True)
    return str(binary)


def run_cli(cli: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs the binary; returns the completed process (stdout, stderr as text)."""
    p = subprocess.run([cli, *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"escapade {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


@pytest.fixture(scope="session")
def gpu() -> None:
    """Skips a GPU test where no adapter exists, except with CI=true, where that fails it."""
    try:
        escapade.run(objective="toy-saddle", chains=1, steps=1, backend="gpu")
    except escapade.EscapadeError as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but no GPU adapter: {e} (install mesa-vulkan-drivers for lavapipe)")
        pytest.skip(f"no GPU adapter: {e}")
