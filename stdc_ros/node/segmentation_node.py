"""The managed segmentation node: wires parameters, input slot, runtime, outputs, drivable area and diagnostics.

configure loads the model, activate subscribes and starts the worker, deactivate stops both, cleanup frees the
model and publishers. With ``autostart`` the node configures and activates itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import ReliabilityPolicy
from rclpy.subscription import Subscription
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from ..errors import ImageFormatError, ModelFileError
from ..labels import LabelSet
from ..resources import find_share_file
from ..runtime import SegmentationRuntime, create_runtime
from .diagnostics import NodeHealth, PipelineStats, to_status
from .drivable_outputs import DrivableOutputs
from .frame_slot import LatestFrameWorker
from .inputs import (
    CAMERA_INFO_TOPIC,
    camera_info_qos,
    decode_message,
    input_qos,
    input_topic,
    output_qos,
)
from .outputs import SegmentationOutputs, camera_info_for
from .parameters import NodeConfig, build_config, current_values, declare_parameters, to_float_if_needed

DEFAULT_MODEL = "models/stdc1_camvid.onnx"
RuntimeFactory = Callable[..., SegmentationRuntime]
SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (backend errors can span many)."""
    text = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def resolve_model_path(model_path: str) -> Path:
    """The model file to load: ``model_path``, or the packaged default when it is empty."""
    if not model_path:
        try:
            return find_share_file(DEFAULT_MODEL)
        except FileNotFoundError as exc:
            raise ModelFileError(f"model_path is empty and the packaged default is missing ({exc})") from None
    path = Path(model_path).expanduser()
    if not path.exists():
        raise ModelFileError(f"model_path {path} does not exist")
    return path


def runtime_options(config: NodeConfig) -> dict[str, Any]:
    """Backend-specific keyword options from the parameters."""
    options: dict[str, Any] = {}
    if config.backend in ("onnxruntime", "torch") and config.threads:
        options["threads"] = config.threads
    if config.backend == "onnxruntime" and not config.test_time_flip:
        options["test_time_flip"] = False
    if config.backend == "onnxruntime" and config.engine_cache_dir:
        options["trt_cache_dir"] = Path(config.engine_cache_dir).expanduser()
    if config.backend == "tensorrt":
        options["precision"] = config.precision
        if config.engine_cache_dir:
            options["cache_dir"] = Path(config.engine_cache_dir).expanduser()
    return options


@dataclass(frozen=True)
class Frame:
    msg: Image | CompressedImage
    received: float  # time.monotonic() at the subscription callback


class SegmentationNode(LifecycleNode):
    """``stdc_ros`` lifecycle node (one per camera). See docs/node.md for topics, parameters and diagnostics."""

    def __init__(
        self, node_name: str = "stdc_ros", *, runtime_factory: RuntimeFactory = create_runtime, **kwargs: Any
    ) -> None:
        super().__init__(node_name, **kwargs)
        self._runtime_factory = runtime_factory
        declared = declare_parameters(self)
        self._label_set: LabelSet | None = declared.label_set
        self._label_error = declared.label_error
        self._config = build_config(declared.values)  # overrides were range-checked by their descriptors
        # Humble's rclpy has only the on-set callback (no pre/post-set): it validates every path that sets a
        # parameter; set_parameters / set_parameters_atomically (both services call the latter) apply afterwards.
        self.add_on_set_parameters_callback(self._validate_parameters)

        self._state = "unconfigured"
        self._configure_error = ""
        self._runtime: SegmentationRuntime | None = None
        self._palette = np.zeros((256, 3), np.uint8)
        self._outputs: SegmentationOutputs | None = None
        self._drivable: DrivableOutputs | None = None
        self._subscriptions_active: list[Subscription] = []
        self._camera_info: CameraInfo | None = None
        self._idle = False
        self._hardware_id = ""
        self._stats = PipelineStats()
        self._worker: LatestFrameWorker[Frame] = LatestFrameWorker(self._process, self._on_worker_error)
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        # Steady clock: diagnostics keep coming with use_sim_time even while no /clock is published.
        self._diagnostics_timer = self.create_timer(
            1.0, self._publish_diagnostics, clock=Clock(clock_type=ClockType.STEADY_TIME)
        )
        self._last_no_input_log = 0.0
        if self._config.autostart and self.trigger_configure() == SUCCESS:
            self.trigger_activate()

    # ------------------------------------------------------------------ accessors
    @property
    def config(self) -> NodeConfig:
        return self._config

    @property
    def state(self) -> str:
        """Lifecycle state label: unconfigured, inactive, active or finalized."""
        return self._state

    @property
    def stats(self) -> PipelineStats:
        return self._stats

    # ------------------------------------------------------------------ parameters
    def _validate_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        values = current_values(self)
        values.update({p.name: p.value for p in parameters if p.name in values})
        try:
            build_config(values)
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def set_parameters(self, parameter_list: list[Parameter]) -> list[SetParametersResult]:
        results = super().set_parameters(to_float_if_needed(self, parameter_list))
        if any(result.successful for result in results):
            self._apply_parameters()
        return results

    def set_parameters_atomically(self, parameter_list: list[Parameter]) -> SetParametersResult:
        result = super().set_parameters_atomically(to_float_if_needed(self, parameter_list))
        if result.successful:
            self._apply_parameters()
        return result

    def _apply_parameters(self) -> None:
        """After values were stored (never from the on-set callback: a later callback could still refuse them)."""
        self._config = build_config(current_values(self))  # one reference swap; the worker reads it per frame

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        config = self._config
        try:
            if self._label_set is None:
                raise ValueError(self._label_error)
            model = resolve_model_path(config.model_path)
            uses_tensorrt = "tensorrt" in (config.backend, config.device.partition(":")[0])
            hint = " (the first TensorRT start builds an engine: this can take minutes)" if uses_tensorrt else ""
            self.get_logger().info(f"loading {config.backend} model {model} on {config.device}{hint}")
            started = time.perf_counter()
            runtime = self._runtime_factory(
                config.backend, model, config.network_input_size, config.device, **runtime_options(config)
            )
            if runtime.num_classes > self._label_set.num_classes:
                runtime.close()
                raise ModelFileError(
                    f"{model.name} predicts {runtime.num_classes} classes but label_set {config.label_set!r} "
                    f"names {self._label_set.num_classes}: set label_set to the model's"
                )
        except Exception as exc:  # one line, no traceback: the transition fails and the node stays unconfigured
            self._configure_error = one_line(exc)
            self.get_logger().error(f"configure failed: {self._configure_error}")
            return FAILURE
        self._configure_error = ""
        self._runtime = runtime
        self._palette = self._label_set.palette()
        qos = output_qos(config)
        self._outputs = SegmentationOutputs(self, qos)
        self._drivable = DrivableOutputs(self, qos, config.drivable)
        self.get_logger().info(f"configured: {runtime.describe()} in {time.perf_counter() - started:.1f} s")
        self._warn_label_mismatch(runtime, config)
        self._state = "inactive"
        return super().on_configure(state)

    def _warn_label_mismatch(self, runtime: SegmentationRuntime, config: NodeConfig) -> None:
        """Say so when the model was trained on another label set, or drivable classes don't match the labels."""
        label_set = self._label_set
        model_labels = getattr(getattr(runtime, "meta", None), "label_set", None)
        if label_set is None:
            return
        if model_labels and model_labels != label_set.name:
            self.get_logger().warning(
                f"the model was exported for label set {model_labels!r} but label_set is {config.label_set!r}"
            )
        if label_set.drivable and set(config.drivable.drivable_classes) != set(label_set.drivable):
            names = [
                label_set.names[i] if i < label_set.num_classes else str(i) for i in config.drivable.drivable_classes
            ]
            self.get_logger().warning(
                f"drivable.drivable_classes {list(config.drivable.drivable_classes)} ({', '.join(names)}) differ "
                f"from the {label_set.name} label file's drivable classes {list(label_set.drivable)}"
            )

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        config = self._config
        topic = input_topic(config)
        msg_type = CompressedImage if config.image_transport == "compressed" else Image
        self._camera_info = None
        self._stats.reset()
        self._worker.start()
        self._subscriptions_active = [
            self.create_subscription(msg_type, topic, self._on_image, input_qos(config)),
            self.create_subscription(CameraInfo, CAMERA_INFO_TOPIC, self._on_camera_info, camera_info_qos()),
        ]
        self._state = "active"
        self.get_logger().info(
            f"active: {self.resolve_topic_name(topic)} ({config.qos_reliability}, depth {config.qos_depth})"
        )
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_input()
        self._state = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self._state = "unconfigured"
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release_all()
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f"error in lifecycle state {state.label}: releasing everything")
        self.release_all()
        self._state = "unconfigured"
        return SUCCESS

    def release_all(self) -> None:
        """Stop input and the worker, free model and publishers (shutdown, errors, process exit)."""
        self._stop_input()
        self._release()
        self._state = "finalized"

    def _stop_input(self) -> None:
        for subscription in self._subscriptions_active:
            self.destroy_subscription(subscription)
        self._subscriptions_active = []
        if not self._worker.stop(timeout=30.0):
            self.get_logger().warning("worker did not finish its frame within 30 s")

    def _release(self) -> None:
        if self._outputs is not None:
            self._outputs.destroy()
            self._outputs = None
        if self._drivable is not None:
            self._drivable.destroy()
            self._drivable = None
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None

    # ------------------------------------------------------------------ executor thread: callbacks only queue
    def _on_image(self, msg: Image | CompressedImage) -> None:
        replaced = self._worker.offer(Frame(msg, time.monotonic()))
        self._stats.on_received(dropped_older=replaced)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    # ------------------------------------------------------------------ worker thread
    def _process(self, frame: Frame) -> None:
        config, runtime, outputs, drivable = self._config, self._runtime, self._outputs, self._drivable
        if runtime is None or outputs is None or drivable is None:
            return
        msg, header = frame.msg, frame.msg.header
        try:
            image, order = decode_message(msg, config.max_image_pixels)
        except ImageFormatError as exc:
            self._stats.on_rejected(str(exc))
            self.get_logger().warning(f"skipped bad frame: {exc}", throttle_duration_sec=5.0)
            return
        height, width = image.shape[:2]
        info = self._camera_info
        info_out = camera_info_for(info, header, height, width) if info is not None else None
        wanted = outputs.wanted(config, info_out is not None)
        drivable_wanted = drivable.wanted()
        self._idle = not (wanted.any() or drivable_wanted.any())
        if self._idle:
            return  # nobody listens: no inference
        self._hardware_id = header.frame_id
        started = time.perf_counter()
        try:
            result = runtime.infer(image, order, confidence=config.min_confidence > 0)
        except Exception as exc:
            reason = one_line(exc)
            self._stats.on_failed(reason)
            self.get_logger().error(f"inference failed: {reason}", throttle_duration_sec=5.0)
            return
        inference_s = time.perf_counter() - started
        labels = result.labels
        if config.min_confidence > 0 and result.confidence is not None:
            labels = np.where(result.confidence < config.min_confidence, np.uint8(255), labels).astype(np.uint8)
        outputs.publish(wanted, header, image, order, labels, self._palette, config.overlay_alpha, info_out)
        if drivable_wanted.any():
            drivable.publish(drivable_wanted, header, labels, info, config.drivable)
        self._stats.on_processed(inference_s, self._latency(header.stamp))

    def _latency(self, stamp: Any) -> float | None:
        if stamp.sec == 0 and stamp.nanosec == 0:
            return None
        return (self.get_clock().now() - Time.from_msg(stamp, clock_type=self.get_clock().clock_type)).nanoseconds / 1e9

    def _on_worker_error(self, exc: BaseException) -> None:
        reason = one_line(exc)
        self._stats.on_failed(reason)
        self.get_logger().error(f"frame failed: {reason}", throttle_duration_sec=5.0)

    # ------------------------------------------------------------------ diagnostics
    def _health(self) -> NodeHealth:
        config, runtime = self._config, self._runtime
        return NodeHealth(
            state=self._state,
            input_topic=self.resolve_topic_name(input_topic(config)),
            backend=config.backend,
            model=runtime.describe() if runtime is not None else config.model_path or DEFAULT_MODEL,
            configure_error=self._configure_error,
            no_input_timeout=config.no_input_timeout,
            latency_warn_ms=config.latency_warn_ms,
            idle=self._idle,
        )

    def _publish_diagnostics(self) -> None:
        stats, health = self._stats.snapshot(), self._health()
        status = to_status(
            f"{self.get_fully_qualified_name()}: segmentation", self._hardware_id or self.get_name(), stats, health
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(array)
        if health.state == "active" and stats.seconds_since_input > health.no_input_timeout:
            self._log_no_input(stats.seconds_since_input)

    def _log_no_input(self, seconds: float) -> None:
        now = time.monotonic()
        if now - self._last_no_input_log < max(10.0, self._config.no_input_timeout):
            return
        self._last_no_input_log = now
        private = input_topic(self._config)
        topic = self.resolve_topic_name(private)
        publishers = self.get_publishers_info_by_topic(topic)
        if not publishers:
            hint = f"nothing publishes {topic}: remap it to the camera topic (-r {private}:=/camera/image_raw)"
        else:
            best_effort = [p for p in publishers if p.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT]
            if best_effort and self._config.qos_reliability == "reliable":
                hint = (
                    f"{len(best_effort)} publisher(s) of {topic} are best effort but qos.reliability is reliable: "
                    "set qos.reliability:=best_effort"
                )
            else:
                hint = f"{len(publishers)} publisher(s) on {topic} but no frame arrived (check the camera)"
        self.get_logger().warning(f"no input for {seconds:.0f} s: {hint}")
