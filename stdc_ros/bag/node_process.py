"""The segmentation node as a child process (``stdc-ros run --ros-args ...``) with its own ROS_DOMAIN_ID and log."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ..errors import StdcRosError

LOG = logging.getLogger(__name__)


class NodeProcessError(StdcRosError, RuntimeError):
    """The node process did not start, exited early or never became ready."""


def unique_domain_id() -> int:
    """A ROS_DOMAIN_ID in 1..101 (the range safe on Linux) that differs between concurrent runs."""
    return 1 + (os.getpid() * 31 + time.monotonic_ns() // 1_000_000) % 101


@dataclass
class NodeLaunch:
    """How to start the node: the command, its name (topics are /NAME/in/..., /NAME/out/...) and parameters."""

    name: str = "stdc_eval"
    model_path: Path | None = None
    backend: str = "onnxruntime"
    params: dict[str, str] = field(default_factory=dict)  # extra `-p name:=value`
    params_file: Path | None = None
    domain_id: int = 0
    log_path: Path | None = None
    env: dict[str, str] = field(default_factory=dict)  # added to the inherited environment
    command: tuple[str, ...] = (sys.executable, "-m", "stdc_ros.cli", "run")

    def argv(self) -> list[str]:
        params: dict[str, str] = {"backend": self.backend, "autostart": "true"}
        if self.model_path is not None:
            params["model_path"] = str(Path(self.model_path).resolve())
        params.update(self.params)
        args = [*self.command, "--ros-args", "-r", f"__node:={self.name}"]
        if self.params_file is not None:
            args += ["--params-file", str(self.params_file)]
        for key, value in params.items():
            args += ["-p", f"{key}:={value}"]
        return args


class NodeProcess:
    """Start the node, watch it, stop it with SIGINT (then SIGTERM, then SIGKILL); output goes to ``log_path``."""

    def __init__(self, launch: NodeLaunch) -> None:
        self.launch = launch
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> NodeProcess:
        env = {**os.environ, **self.launch.env, "ROS_DOMAIN_ID": str(self.launch.domain_id), "PYTHONUNBUFFERED": "1"}
        argv = self.launch.argv()
        extra = " ".join(f"{k}={v}" for k, v in self.launch.env.items())
        LOG.info("starting node (ROS_DOMAIN_ID=%d %s): %s", self.launch.domain_id, extra, " ".join(argv))
        if self.launch.log_path is not None:
            self.launch.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.launch.log_path.open("wb")
        try:
            self._proc = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log or subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches us; we stop the node ourselves
            )
        except OSError as exc:
            raise NodeProcessError(f"cannot start the node ({argv[0]}): {exc}") from exc
        return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """Stop the node (if running) and return its exit code."""
        proc = self._proc
        if proc is None:
            return None
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                break
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout_s if sig != signal.SIGKILL else None)
            except subprocess.TimeoutExpired:
                LOG.warning("node pid %d ignored %s", proc.pid, signal.Signals(sig).name)
        if self._log is not None:
            self._log.close()
            self._log = None
        return proc.returncode

    def log_tail(self, lines: int = 25) -> str:
        path = self.launch.log_path
        if path is None or not path.is_file():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> NodeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
