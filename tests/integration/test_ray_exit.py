"""Ctrl-C while a command stops the Ray it started: no "Exception ignored in atexit" traceback, the
shutdown completes, and the exit code is 130 (it was 0). The Ctrl-C is sent from inside Ray's own
shutdown (its processes being stopped), the moment a person's Ctrl-C lands at the end of a sweep."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.integration.sweeps import _default_sigint, spec

pytestmark = pytest.mark.integration

SCRIPT = """
import os, signal, sys, time
import ray
from ray._private import node

stop = node.Node.kill_all_processes
def interrupted(self, *args, **kwargs):  # Ctrl-C while Ray stops its processes
    if not getattr(interrupted, "sent", False):
        interrupted.sent = True
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)
    return stop(self, *args, **kwargs)
node.Node.kill_all_processes = interrupted

ray.init(address="local", include_dashboard=False, num_cpus=1, log_to_driver=False)
from search_scaling.cli import main
rc = main(["validate", sys.argv[1]])
print("ray initialized after main:", ray.is_initialized(), flush=True)
sys.exit(rc)
"""


def test_ctrl_c_during_ray_shutdown_exits_130_without_a_traceback(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec("tiny", [0], steps=5)))
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], capture_output=True, text=True,
                          timeout=120, preexec_fn=_default_sigint)  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 130, out
    assert "Exception ignored" not in out and "Traceback" not in out and "KeyboardInterrupt" not in out, out
    assert "stopping Ray" in done.stderr and "ray initialized after main: False" in done.stdout
