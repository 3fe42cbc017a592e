"""The managed segmentation node: wires parameters, input slot, runtime, outputs, drivable area and diagnostics.

configure loads the model, activate subscribes and starts the worker, deactivate stops both, cleanup frees the
model and publishers. With ``autostart`` the node configures and activates itself once the executor spins.

A slow configure (a model load, a first TensorRT engine build) runs on its own thread (model_load.py): the
diagnostics timer has its own callback group, so with a multi-threaded executor /diagnostics keeps reporting
"configuring" and the load's progress; with ``autostart`` the load runs before the transition, so the lifecycle
services answer throughout. The package's Python log records go to this node's ROS logger (ros_logging.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
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
from ..runtime import SegmentationRuntime, create_runtime, runtime_device
from . import ros_logging
from .camera_pose import CameraPoseSource, PoseChoice, TfBuffer, tf2_available
from .diagnostics import NodeHealth, PipelineStats, to_status
from .drivable_outputs import DrivableOutputs, IntrinsicsChoice
from .frame_slot import LatestFrameWorker
from .inputs import (
    CAMERA_INFO_TOPIC,
    camera_info_qos,
    decode_message,
    input_qos,
    input_topic,
    output_qos,
)
from .model_choice import auto_precision_reason, packaged_model, resolve_precision
from .model_load import LoadCancelled, ModelLoad
from .outputs import SegmentationOutputs, camera_info_for
from .parameters import NodeConfig, build_config, current_values, declare_parameters, to_float_if_needed

RuntimeFactory = Callable[..., SegmentationRuntime]
SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (backend errors can span many)."""
    text = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def resolve_model_path(model_path: str, precision: str = "fp32") -> Path:
    """The model file to load: ``model_path``, or when it is empty the packaged model of the resolved
    ``precision`` (int8: the INT8 file, else the FP32 one; model_choice.packaged_model)."""
    if not model_path:
        try:
            return find_share_file(packaged_model(precision))
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
    if config.backend in ("onnxruntime", "tensorrt"):
        precision = config.precision
        if precision == "auto":
            from .model_choice import effective_precision

            precision = effective_precision(config.backend, config.device)
        options["precision"] = precision  # onnxruntime: its TensorRT provider's flags only
    trt_provider = config.backend == "onnxruntime" and config.device.lower().startswith("tensorrt")
    if config.dla_core >= 0 and (config.backend == "tensorrt" or trt_provider):
        options["dla_core"] = config.dla_core
    if config.backend == "onnxruntime" and config.allow_provider_fallback:
        options["allow_fallback"] = True
    if config.backend == "tensorrt" and config.engine_cache_dir:
        options["cache_dir"] = Path(config.engine_cache_dir).expanduser()
    return options


@dataclass(frozen=True)
class Frame:
    msg: Image | CompressedImage
    received: float  # time.monotonic() at the subscription callback


class SegmentationNode(LifecycleNode):
    """``stdc_ros`` lifecycle node (one per camera). See docs/node.md for topics, parameters and diagnostics."""

    def __init__(
        self,
        node_name: str = "stdc_ros",
        *,
        runtime_factory: RuntimeFactory = create_runtime,
        tf_buffer: Any | None = None,
        **kwargs: Any,
    ) -> None:
        """``tf_buffer``: where to look the camera pose up (tf2_ros.Buffer's ``lookup_transform``); default a
        tf2_ros Buffer and TransformListener made on first use, where tf2_ros is importable."""
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
        self._load: ModelLoad | None = None  # the model load in progress (configure, or autostart's)
        self._provider_fallback = ""
        self._tf: TfBuffer | None = None
        buffer_factory = (lambda: tf_buffer) if tf_buffer is not None else None
        if buffer_factory is None and tf2_available():
            buffer_factory = self._make_tf_buffer
        self._pose = CameraPoseSource(buffer_factory)
        self._geometry: tuple[PoseChoice | None, IntrinsicsChoice] | None = None  # of the last grid/scan
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        # Steady clock: diagnostics keep coming with use_sim_time even while no /clock is published. Own callback
        # group: a multi-threaded executor runs it while a configure transition holds the default group.
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._diagnostics_timer = self.create_timer(
            1.0, self._publish_diagnostics, callback_group=MutuallyExclusiveCallbackGroup(), clock=steady
        )
        self._last_no_input_log = 0.0
        # autostart once spinning (not here, which would hold the constructor for the whole load): polled from the
        # default callback group, so it never runs beside a lifecycle service call.
        self._autostart_pending = self._config.autostart
        self._autostart_began = False
        self._autostart_timer = (
            self.create_timer(0.05, self._autostart_step, clock=steady) if self._autostart_pending else None
        )
        ros_logging.attach(self.get_logger())

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

    @property
    def starting(self) -> bool:
        """True until ``autostart`` has run its configure (and activate); False without autostart."""
        return self._autostart_pending

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
            load = self._load  # autostart may have started it already
            if load is None:
                load = self._load = self._start_load(config)
            runtime = load.wait()  # on the load's thread: the diagnostics timer keeps running meanwhile
            assert self._label_set is not None  # _start_load refused to load without one
            if runtime.num_classes > self._label_set.num_classes:
                runtime.close()
                raise ModelFileError(
                    f"{load.model.name} predicts {runtime.num_classes} classes but label_set {config.label_set!r} "
                    f"names {self._label_set.num_classes}: set label_set to the model's"
                )
        except LoadCancelled as exc:
            self._load = None
            self.get_logger().info(str(exc))
            return FAILURE
        except Exception as exc:  # one line, no traceback: the transition fails and the node stays unconfigured
            self._load = None
            self._configure_error = one_line(exc)
            self.get_logger().error(f"configure failed: {self._configure_error}")
            return FAILURE
        self._load = None
        self._configure_error = ""
        self._runtime = runtime
        self._palette = self._label_set.palette()
        qos = output_qos(config)
        self._outputs = SegmentationOutputs(self, qos)
        self._drivable = DrivableOutputs(self, qos, config.drivable)
        self.get_logger().info(f"configured: {runtime.describe()} in {load.elapsed:.1f} s")
        self._provider_fallback = str(getattr(runtime, "fallback", "") or "")
        if self._provider_fallback:
            self.get_logger().error(f"provider fallback: {self._provider_fallback}")
        self._warn_label_mismatch(runtime, config)
        self._state = "inactive"
        return super().on_configure(state)

    def _start_load(self, config: NodeConfig) -> ModelLoad:
        """Check the label set and model path, then start loading on the load's own thread."""
        if self._label_set is None:
            raise ValueError(self._label_error)
        model = resolve_model_path(
            config.model_path, resolve_precision(config.precision, config.backend, config.device)
        )
        uses_tensorrt = "tensorrt" in (config.backend, config.device.partition(":")[0])
        hint = " (the first TensorRT start builds an engine: this can take minutes)" if uses_tensorrt else ""
        device = runtime_device(config.backend, config.device)
        if config.precision == "auto" and not config.model_path:
            self.get_logger().info(auto_precision_reason(config.backend, config.device))
        self.get_logger().info(f"loading {config.backend} model {model} on {device}{hint}")
        self._configure_error = ""
        return ModelLoad(partial(self._load_runtime, config, model), model, self.get_logger()).start()

    def _load_runtime(self, config: NodeConfig, model: Path, progress: Callable[[str], None]) -> SegmentationRuntime:
        """The runtime factory call (on the load's thread)."""
        options = runtime_options(config)
        if config.backend == "tensorrt":
            options["progress"] = progress  # engine build progress; only the tensorrt backend takes it
        return self._runtime_factory(config.backend, model, config.network_input_size, config.device, **options)

    def _autostart_step(self) -> None:
        """``autostart``, polled by a timer in the default callback group (never beside a lifecycle service call):
        the first call starts the model load, the first call after it ended runs configure and activate."""
        if not self._autostart_began:
            self._autostart_began = True
            if self._state == "unconfigured" and self._load is None:
                try:
                    self._load = self._start_load(self._config)
                    return
                except Exception:  # configure below fails with this same reason and logs it once
                    pass
        if self._load is not None and not self._load.done:
            return
        if self._autostart_timer is not None:
            self._autostart_timer.cancel()
        try:
            if self._state == "unconfigured" and self.trigger_configure() == SUCCESS:  # else a manager did it
                self.trigger_activate()
        finally:
            self._autostart_pending = False

    def _end_autostart(self) -> None:
        if self._autostart_timer is not None:
            self._autostart_timer.cancel()
        self._autostart_pending = False

    def _make_tf_buffer(self) -> Any:
        """A tf2_ros Buffer with its TransformListener on this node (first frame that needs the camera pose)."""
        self._tf = TfBuffer.on_node(self)
        return self._tf.buffer

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
        self._geometry = None
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
        """Stop input and the worker, free model and publishers (shutdown, errors, process exit); a model load in
        progress is abandoned (its runtime is closed when it ends)."""
        self._end_autostart()
        load, self._load = self._load, None
        if load is not None:
            load.cancel()
        self._stop_input()
        self._release()
        self._state = "finalized"

    def destroy_node(self) -> Any:
        ros_logging.detach(self.get_logger())
        return super().destroy_node()

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
        self._provider_fallback = ""

    # ------------------------------------------------------------------ executor thread: callbacks only queue
    def _on_image(self, msg: Image | CompressedImage) -> None:
        replaced = self._worker.offer(Frame(msg, time.monotonic()))
        stamp, source = msg.header.stamp, (msg.header.frame_id, getattr(msg, "height", 0), getattr(msg, "width", 0))
        self._stats.on_received(replaced, stamp.sec * 1_000_000_000 + stamp.nanosec, source)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    # ------------------------------------------------------------------ worker thread
    def _process(self, frame: Frame) -> None:
        with ros_logging.logging_to(self.get_logger()):  # the package's log records of this frame go to this node
            self._process_frame(frame)

    def _process_frame(self, frame: Frame) -> None:
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
            geometry = drivable_wanted.grid or drivable_wanted.scan  # the mask alone needs no camera model
            pose = self._pose.choose(header.stamp, header.frame_id, config) if geometry else None
            if pose is not None and pose.error:
                self.get_logger().warning(
                    f"camera pose from the parameters: TF {pose.error}", throttle_duration_sec=10.0
                )
            drivable_config = pose.config if pose is not None else config.drivable
            used = drivable.publish(drivable_wanted, header, labels, info, drivable_config, config.rectified)
            self._geometry = (pose, used) if geometry else None
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
        config, runtime, load = self._config, self._runtime, self._load
        pose, intrinsics = self._geometry or (None, None)
        topic = self.resolve_topic_name(input_topic(config))
        default = packaged_model(resolve_precision(config.precision, config.backend, config.device))
        return NodeHealth(
            state="configuring" if load is not None else self._state,
            input_topic=topic,
            backend=config.backend,
            model=runtime.describe() if runtime is not None else config.model_path or default,
            configure_error=self._configure_error,
            no_input_timeout=config.no_input_timeout,
            latency_warn_ms=config.latency_warn_ms,
            idle=self._idle,
            configure_progress=f"{load.progress} ({load.elapsed:.0f} s)" if load is not None else "",
            provider_fallback=self._provider_fallback,
            camera_pose=pose.describe() if pose is not None else "",
            camera_pose_error=pose.error if pose is not None else "",
            intrinsics=intrinsics.description if intrinsics is not None else "",
            intrinsics_fallback=intrinsics.fallback if intrinsics is not None else False,
            input_publishers=self.count_publishers(topic) if self._state == "active" else -1,
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
                hint = (
                    f"{len(publishers)} publisher(s) on {topic} but no frame arrived (check the camera; frames over "
                    "512 KB need the DDS profile in the camera's process too: docs/node.md, HD cameras and DDS)"
                )
        self.get_logger().warning(f"no input for {seconds:.0f} s: {hint}")
