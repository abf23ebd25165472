"""launch/vllm_server.sh and launch/vllm_cpu_serve.py: loopback by default, exposure and vLLM dev mode only
when asked, with a warning. The scripts' command lines are checked with stub executables in place of
trl/python (starting a real server is the slow test tests/training/test_vllm_server.py)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shim():
    spec = importlib.util.spec_from_file_location("vllm_cpu_serve", REPO / "launch" / "vllm_cpu_serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_shim_defaults_to_loopback_without_dev_mode():
    argv, env, warnings = _shim().plan(["m"], {})
    assert argv[:3] == ["vllm", "serve", "m"] and argv[argv.index("--host") + 1] == "127.0.0.1"
    assert "VLLM_SERVER_DEV_MODE" not in env and warnings == []


@pytest.mark.parametrize("args,environ", [(["m", "--dev-mode"], {}), (["m"], {"RL_RERANK_VLLM_DEV_MODE": "1"})])
def test_cpu_shim_dev_mode_only_when_asked(args, environ):
    argv, env, warnings = _shim().plan(args, environ)
    assert env["VLLM_SERVER_DEV_MODE"] == "1" and "--dev-mode" not in argv
    assert any("dev mode" in w for w in warnings)


@pytest.mark.parametrize("host,exposed", [("0.0.0.0", True), ("10.1.2.3", True), ("127.0.0.1", False),
                                          ("localhost", False)])
def test_cpu_shim_warns_when_exposed(host, exposed):
    argv, _, warnings = _shim().plan(["m", "--port", "9", "--host", host], {})
    assert argv[len(argv) - 1 - argv[::-1].index("--host") + 1] == host  # the last --host wins in vLLM's parser
    assert bool(warnings) is exposed


def _stubs(tmp_path: Path, gpu: bool) -> dict:
    """PATH with an nvidia-smi that succeeds (gpu) or fails, and a stub trl/python that prints its argv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    smi = bin_dir / "nvidia-smi"
    smi.write_text(f"#!/bin/sh\nexit {0 if gpu else 1}\n")
    stub = bin_dir / "stub"
    stub.write_text('#!/bin/sh\necho "ARGS $*"\necho "DEV=${VLLM_SERVER_DEV_MODE:-}"\n')
    for f in (smi, stub):
        f.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RL_RERANK_", "VLLM_SERVER_DEV"))}
    env.update(PATH=f"{bin_dir}:{os.environ['PATH']}", TRL=str(stub), PYTHON=str(stub))
    return env


def _serve(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "launch" / "vllm_server.sh"), "model", "8011", *args], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("gpu", [False, True])
def test_server_script_binds_loopback_by_default(tmp_path, gpu):
    res = _serve(_stubs(tmp_path, gpu))
    assert res.returncode == 0, res.stderr
    args = res.stdout.split("\n")[0].split()
    assert args[args.index("--host") + 1] == "127.0.0.1" and "WARNING" not in res.stderr
    if gpu:
        assert args[1] == "vllm-serve"
    else:
        assert args[1].endswith("vllm_cpu_serve.py") and "DEV=\n" in res.stdout + "\n"


@pytest.mark.parametrize("gpu", [False, True])
def test_server_script_exposure_is_explicit_and_warned(tmp_path, gpu):
    env = _stubs(tmp_path, gpu)
    env["RL_RERANK_SERVE_HOST"] = "0.0.0.0"
    res = _serve(env)
    args = res.stdout.split("\n")[0].split()
    assert res.returncode == 0 and args[args.index("--host") + 1] == "0.0.0.0"
    assert "WARNING" in res.stderr and "no authentication" in res.stderr
    # a --host slipped into the extra options is refused: the variable is the one switch
    for extra in (["--host", "0.0.0.0"], ["0", "--host=0.0.0.0"]):
        res = _serve(_stubs(tmp_path, gpu), *extra)
        assert res.returncode == 2 and "RL_RERANK_SERVE_HOST" in res.stderr and res.stdout == ""
