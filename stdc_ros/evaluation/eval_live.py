"""The live modes' node lifecycle: start the node as its own process, wait until it is ready, run the bag's frames
through it (``eval_run.LiveRun``: lossless or real time), settle, mark frames without a result, stop it."""

from __future__ import annotations

import logging
from pathlib import Path

from ..harness.client import NodeClient
from ..harness.domains import pick_domain_id
from ..harness.node_process import NodeLaunch, NodeProcess, NodeProcessError
from ..rosbag.ros import dds_environment, wait_until
from .eval_run import LiveRun, RunState
from .options import EvalOptions

LOG = logging.getLogger(__name__)


def run_live(
    state: RunState,
    reader: object,
    mode: str,
    model_path: Path | None,
    backend: str,
    options: EvalOptions,
    node_log: Path | None,
    tqdm: type,
) -> int | None:
    """Start the node, wait until it is ready, run the frames through it, stop it; returns its exit code."""
    domain = options.domain_id if options.domain_id is not None else pick_domain_id()
    lossless = mode == "lossless"
    reliability, depth = ("reliable", options.qos_depth) if lossless else ("best_effort", 1)
    params = {"qos.reliability": reliability, "qos.depth": str(depth), **options.node_params}
    env = dds_environment(options.dds_transport, options.discovery_range, options.dds_profile)
    launch = NodeLaunch(
        name=options.node_name,
        params=params,
        model_path=model_path,
        backend=backend,
        params_file=options.params_file,
        domain_id=domain,
        log_path=node_log,
        env=env,
    )
    if options.node_command:
        launch.command = tuple(options.node_command)
    process = NodeProcess(launch)
    with (
        process,
        NodeClient(
            options.node_name, domain, None, input_reliability=reliability, input_depth=depth, env=env, record=True
        ) as client,
    ):
        if not wait_until(lambda: client.ready() or not process.alive(), options.ready_timeout_s, 0.1):
            raise NodeProcessError(
                f"the node was not ready after {options.ready_timeout_s:.0f} s on ROS_DOMAIN_ID {domain}: "
                f"{client.discovery_state()}; log {node_log}:\n{process.log_tail()}"
            )
        if not process.alive():
            raise NodeProcessError(
                f"the node exited with code {process.returncode()} before it was ready; "
                f"log {node_log}:\n{process.log_tail()}"
            )
        LOG.info("node ready (domain %d); recording %s", domain, ", ".join(client.recorded_topics))
        run = LiveRun(state, client, process, reader)
        with tqdm(
            total=len(state.inputs.frames), desc=f"eval {mode}", unit="frame", disable=not options.progress
        ) as bar:
            if lossless:
                run.lossless(options.frame_timeout_s, options.first_frame_timeout_s, options.resend_after_s, bar)
            else:
                run.realtime(options.rate, bar)
        run.settle(options.settle_s, max(options.settle_s, options.frame_timeout_s))
        if not lossless:
            run.wait_counters(2.5)
        for frame in state.inputs.frames:
            if frame.record.status == "pending":
                frame.record.status = "dropped" if frame.t_pub is not None else "failed"
                frame.record.reason = "no result" if frame.t_pub is not None else "not published"
        code = process.stop()
    if code not in (0, None, -2, 130):
        state.notes.append(f"the node exited with code {code}; see {node_log}")
    return code
