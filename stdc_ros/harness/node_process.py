"""The segmentation node as a child process (``stdc-ros run --ros-args ...``) with its own ROS_DOMAIN_ID and log."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import StdcRosError
from .params import parameter_args

LOG = logging.getLogger(__name__)


class NodeProcessError(StdcRosError, RuntimeError):
    """The node process did not start, exited early or never became ready."""


def stdc_ros_command() -> tuple[str, ...]:
    """``stdc-ros`` next to this interpreter (the installed console script), else ``python -m stdc_ros.cli``."""
    script = Path(sys.executable).with_name("stdc-ros")
    return (str(script),) if script.is_file() else (sys.executable, "-m", "stdc_ros.cli")


@dataclass
class NodeLaunch:
    """How to start the node: its name (topics are /NAME/in/..., /NAME/out/...), parameters and environment.

    The node always starts with ``autostart`` (configured and active without a lifecycle manager).
    """

    name: str = "stdc_eval"
    params: Mapping[str, Any] = field(default_factory=dict)  # `-p name:=value`, after model_path and backend
    model_path: Path | None = None
    backend: str | None = None  # None: the node's default
    params_file: Path | None = None
    domain_id: int = 0
    log_path: Path | None = None  # stdout and stderr of the node; None: discarded
    env: dict[str, str] = field(default_factory=dict)  # added to the inherited environment
    command: tuple[str, ...] = field(default_factory=lambda: (*stdc_ros_command(), "run"))

    def argv(self) -> list[str]:
        params: dict[str, Any] = {"autostart": True}
        if self.backend is not None:
            params["backend"] = self.backend
        if self.model_path is not None:
            params["model_path"] = str(Path(self.model_path).resolve())
        params.update(self.params)
        args = [*self.command, "--ros-args", "-r", f"__node:={self.name}"]
        if self.params_file is not None:
            args += ["--params-file", str(self.params_file)]
        return args + parameter_args(params)


@dataclass(frozen=True)
class ResourceSample:
    frame: int  # outputs received when sampled
    seconds: float  # since the measured phase began
    rss_bytes: int
    threads: int
    fds: int


class NodeProcess:
    """Start the node, watch it, stop it with a signal (then SIGTERM, then SIGKILL); output goes to ``log_path``."""

    def __init__(self, launch: NodeLaunch) -> None:
        self.launch = launch
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._ps: Any = None
        self.stop_seconds = 0.0  # from the first signal of stop() to the exit

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

    def sample(self, frame: int, seconds: float) -> ResourceSample:
        """Resident memory, thread count and open file descriptors of the node process now."""
        if self._ps is None:
            import psutil

            self._ps = psutil.Process(self.pid)
        ps = self._ps
        with ps.oneshot():
            return ResourceSample(frame, seconds, ps.memory_info().rss, ps.num_threads(), ps.num_fds())

    def stop(self, sig: int = signal.SIGINT, timeout_s: float = 10.0) -> int | None:
        """Stop the node (if running) with ``sig``, then SIGTERM, then SIGKILL, ``timeout_s`` apart; its exit code.

        ``stop_seconds`` says how long it took from the first signal."""
        proc = self._proc
        if proc is None:
            return None
        started, signalled = time.monotonic(), False
        for escalation in dict.fromkeys((sig, signal.SIGTERM, signal.SIGKILL)):
            if proc.poll() is not None:
                break
            try:
                proc.send_signal(escalation)
            except ProcessLookupError:
                break
            signalled = True
            try:
                proc.wait(timeout_s if escalation != signal.SIGKILL else None)
            except subprocess.TimeoutExpired:
                LOG.warning("node pid %d ignored %s", proc.pid, signal.Signals(escalation).name)
        if signalled:
            self.stop_seconds = time.monotonic() - started
        if self._log is not None:
            self._log.close()
            self._log = None
        return proc.returncode

    def log_text(self) -> str:
        path = self.launch.log_path
        return path.read_text(errors="replace") if path is not None and path.is_file() else ""

    def log_tail(self, lines: int = 25) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def __enter__(self) -> NodeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
