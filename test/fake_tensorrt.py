"""A fake ``tensorrt`` module with the API faces of TensorRT 8.6, 10.x and 11.x, for driving the backend here.

What differs between the faces follows NVIDIA's Python API and the 10.x-to-11.x migration guide: 11.x has no
precision builder flags (FP16, INT8, BF16, FP8, ...), no ``IInt8EntropyCalibrator2`` / ``int8_calibrator`` /
``set_calibration_profile``, no ``NetworkDefinitionCreationFlag.EXPLICIT_BATCH`` and is always strongly typed
(its STRONGLY_TYPED flag is kept but ignored); 8.6 has no strongly typed networks and no progress monitor.

The builder records what it was asked to build (``BuildRecord``) and refuses what real TensorRT refuses
(precision flags on a strongly typed network, a DLA core that does not exist, dynamic inputs without a profile,
uint8 Q/DQ, opsets the parser cannot read). Its "plan" holds the parsed ONNX; the runtime refuses plans of
another version, garbage, and DLA plans on another core; the engine runs the ONNX with ONNX Runtime on the
buffers the backend gave ``set_tensor_address`` (host memory of the fake CUDA module). So the backend's whole
flow runs here: build, cache, deserialise, I/O setup, copies, execute, post-processing.
"""

from __future__ import annotations

import enum
import json
import struct
import types
from dataclasses import dataclass, field
from importlib.machinery import ModuleSpec
from typing import Any

import numpy as np

from .fake_cuda import FakeCuda

MAGIC = b"FAKETRT\0"

BUILDER_FLAGS_10 = (
    "FP16", "BF16", "INT8", "DEBUG", "GPU_FALLBACK", "REFIT", "DISABLE_TIMING_CACHE", "TF32", "SPARSE_WEIGHTS",
    "SAFETY_SCOPE", "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS", "DIRECT_IO",
    "REJECT_EMPTY_ALGORITHMS", "VERSION_COMPATIBLE", "EXCLUDE_LEAN_RUNTIME", "FP8", "ERROR_ON_TIMING_CACHE_MISS",
    "DISABLE_COMPILATION_CACHE", "WEIGHTLESS", "STRIP_PLAN", "REFIT_IDENTICAL", "WEIGHT_STREAMING", "INT4",
    "REFIT_INDIVIDUAL", "STRICT_NANS", "MONITOR_MEMORY", "FP4", "EDITABLE_TIMING_CACHE",
)  # fmt: skip
PRECISION_FLAGS = frozenset({"FP16", "BF16", "INT8", "FP8", "INT4", "FP4"})
REMOVED_IN_11 = PRECISION_FLAGS | {
    "OBEY_PRECISION_CONSTRAINTS",
    "PREFER_PRECISION_CONSTRAINTS",
    "DIRECT_IO",
    "REJECT_EMPTY_ALGORITHMS",
}
BUILDER_FLAGS_8 = (
    "FP16",
    "INT8",
    "DEBUG",
    "GPU_FALLBACK",
    "STRICT_TYPES",
    "REFIT",
    "TF32",
    "OBEY_PRECISION_CONSTRAINTS",
)


@dataclass(frozen=True)
class Face:
    """What one TensorRT major offers."""

    builder_flags: tuple[str, ...]
    network_flags: tuple[str, ...]  # in value order
    calibrator: bool  # IInt8EntropyCalibrator2, IBuilderConfig.int8_calibrator, set_calibration_profile
    progress_monitor: bool
    always_strongly_typed: bool
    max_opset: int


FACES = {
    8: Face(BUILDER_FLAGS_8, ("EXPLICIT_BATCH", "EXPLICIT_PRECISION"), True, False, False, 17),
    10: Face(
        BUILDER_FLAGS_10,
        ("EXPLICIT_BATCH", "STRONGLY_TYPED", "PREFER_AOT_PYTHON_PLUGINS", "PREFER_JIT_PYTHON_PLUGINS"),
        True,
        True,
        False,
        22,
    ),
    11: Face(
        tuple(f for f in BUILDER_FLAGS_10 if f not in REMOVED_IN_11),
        ("STRONGLY_TYPED", "PREFER_AOT_PYTHON_PLUGINS", "PREFER_JIT_PYTHON_PLUGINS"),
        False,
        True,
        True,
        24,
    ),
}


@dataclass
class BuildRecord:
    """One ``build_serialized_network`` call, as asked."""

    version: str
    input_name: str
    input_shape: tuple[int, ...]
    input_dtype: str
    output_name: str
    strongly_typed: bool
    network_flags: int
    builder_flags: frozenset[str]
    network_precision: str  # what the parsed ONNX computes in: fp32, fp16, int8
    workspace: int | None
    default_device_type: str
    dla_core: int
    profiles: list[dict[str, tuple[tuple[int, ...], ...]]]
    progress_monitor: bool
    succeeded: bool = True
    error: str = ""


@dataclass
class FakeTensorRT:
    """The fake module plus what happened to it."""

    version: str
    module: types.ModuleType
    builds: list[BuildRecord] = field(default_factory=list)
    deserialized: int = 0
    refused_plans: int = 0
    executions: int = 0


class DataType(enum.IntEnum):
    FLOAT = 0
    HALF = 1
    INT8 = 2
    INT32 = 3
    BOOL = 4
    UINT8 = 5
    FP8 = 6
    BF16 = 7
    INT64 = 8


NUMPY = {DataType.FLOAT: np.float32, DataType.HALF: np.float16, DataType.INT8: np.int8, DataType.INT32: np.int32,
         DataType.BOOL: np.bool_, DataType.UINT8: np.uint8, DataType.INT64: np.int64}  # fmt: skip
ONNX_TYPES = {1: DataType.FLOAT, 10: DataType.HALF, 3: DataType.INT8, 2: DataType.UINT8, 6: DataType.INT32}


def make_tensorrt(version: str = "10.8.0", cuda: FakeCuda | None = None, dla_cores: int = 0) -> FakeTensorRT:
    """A fake ``tensorrt`` module of ``version``'s face; ``cuda`` (optional) checks device pointers and streams."""
    major = int(version.split(".")[0])
    face = FACES[8 if major < 10 else min(major, 11)]
    trt = types.ModuleType("tensorrt")
    trt.__spec__ = ModuleSpec("tensorrt", None)
    trt.__version__ = version
    state = FakeTensorRT(version, trt)

    builder_flag = enum.IntEnum("BuilderFlag", [(n, i) for i, n in enumerate(face.builder_flags)])
    network_flag = enum.IntEnum("NetworkDefinitionCreationFlag", [(n, i) for i, n in enumerate(face.network_flags)])
    device_type = enum.IntEnum("DeviceType", [("GPU", 0), ("DLA", 1)])
    pool = enum.IntEnum("MemoryPoolType", [("WORKSPACE", 0), ("DLA_MANAGED_SRAM", 1), ("DLA_LOCAL_DRAM", 2)])
    io_mode = enum.IntEnum("TensorIOMode", [("NONE", 0), ("INPUT", 1), ("OUTPUT", 2)])

    class ILogger:
        class Severity(enum.IntEnum):
            INTERNAL_ERROR = 0
            ERROR = 1
            WARNING = 2
            INFO = 3
            VERBOSE = 4

        def __init__(self) -> None:
            pass

        def log(self, severity: Any, msg: str) -> None:
            pass

    class Logger(ILogger):
        def __init__(self, min_severity: Any = ILogger.Severity.WARNING) -> None:
            super().__init__()

    class IProgressMonitor:
        def __init__(self) -> None:
            pass

    class Tensor:
        def __init__(self, name: str, shape: tuple[int, ...], dtype: DataType) -> None:
            self.name, self.shape, self.dtype = name, shape, dtype

    class Network:
        def __init__(self, flags: int) -> None:
            self.flags = flags
            strongly = 1 << int(network_flag.STRONGLY_TYPED) if "STRONGLY_TYPED" in network_flag.__members__ else 0
            self.strongly_typed = face.always_strongly_typed or bool(flags & strongly)
            self.inputs: list[Tensor] = []
            self.outputs: list[Tensor] = []
            self.onnx: bytes = b""
            self.precision = "?"

        num_inputs = property(lambda self: len(self.inputs))
        num_outputs = property(lambda self: len(self.outputs))

        def get_input(self, index: int) -> Tensor:
            return self.inputs[index]

        def get_output(self, index: int) -> Tensor:
            return self.outputs[index]

    class ParserError:
        def __init__(self, text: str) -> None:
            self.text = text

        def desc(self) -> str:
            return self.text

        def __str__(self) -> str:
            return self.text

    class OnnxParser:
        def __init__(self, network: Network, logger: ILogger) -> None:
            self.network, self.logger = network, logger
            self.errors: list[ParserError] = []

        num_errors = property(lambda self: len(self.errors))

        def get_error(self, index: int) -> ParserError:
            return self.errors[index]

        def parse_from_file(self, path: str) -> bool:
            with open(path, "rb") as f:
                return self.parse(f.read())

        def parse(self, model: bytes) -> bool:
            import onnx

            try:
                proto = onnx.load_from_string(bytes(model))
            except Exception as exc:
                self.errors.append(ParserError(f"cannot read the ONNX model: {exc}"))
                return False
            opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
            if opset > face.max_opset:
                self.errors.append(ParserError(f"opset {opset} is newer than this parser reads ({face.max_opset})"))
                return False
            if _qdq_types(proto) - {"int8"}:  # uint8 activations, int32 biases
                self.errors.append(ParserError("DequantizeLinear: only activation types allowed as input"))
                return False
            for value, target in ((proto.graph.input, self.network.inputs), (proto.graph.output, self.network.outputs)):
                for v in value:
                    dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim)
                    target.append(Tensor(v.name, dims, ONNX_TYPES[v.type.tensor_type.elem_type]))
            self.network.onnx = bytes(model)
            self.network.precision = _precision(proto)
            return True

    class OptimizationProfile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple[tuple[int, ...], ...]] = {}

        def set_shape(self, name: str, low: Any, opt: Any, high: Any) -> None:
            self.shapes[name] = (tuple(low), tuple(opt), tuple(high))

    class BuilderConfig:
        def __init__(self) -> None:
            self.flags: set[str] = set()
            self.pools: dict[int, int] = {}
            self.default_device_type = device_type.GPU
            self.DLA_core = -1
            self.progress_monitor: Any = None
            self.profiles: list[OptimizationProfile] = []

        def set_memory_pool_limit(self, pool_type: Any, size: int) -> None:
            assert isinstance(pool_type, pool), pool_type
            self.pools[int(pool_type)] = int(size)

        def set_flag(self, flag: Any) -> None:
            assert isinstance(flag, builder_flag), f"not a BuilderFlag of TensorRT {version}: {flag!r}"
            self.flags.add(flag.name)

        def get_flag(self, flag: Any) -> bool:
            return flag.name in self.flags

        def add_optimization_profile(self, profile: OptimizationProfile) -> int:
            self.profiles.append(profile)
            return len(self.profiles) - 1

    if face.calibrator:

        class IInt8Calibrator:
            pass

        class IInt8EntropyCalibrator2(IInt8Calibrator):
            def __init__(self) -> None:
                pass

        BuilderConfig.int8_calibrator = None  # type: ignore[attr-defined]
        BuilderConfig.set_calibration_profile = lambda self, profile: None  # type: ignore[attr-defined]
        trt.IInt8Calibrator = IInt8Calibrator
        trt.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2

    class Builder:
        def __init__(self, logger: ILogger) -> None:
            self.logger = logger
            self.num_DLA_cores = dla_cores

        def create_network(self, flags: int = 0) -> Network:
            known = sum(1 << int(f) for f in network_flag)
            assert not flags & ~known, f"unknown network flags {flags:#x} for TensorRT {version}"
            return Network(flags)

        def create_builder_config(self) -> BuilderConfig:
            return BuilderConfig()

        def create_optimization_profile(self) -> OptimizationProfile:
            return OptimizationProfile()

        def build_serialized_network(self, network: Network, config: BuilderConfig) -> bytes | None:
            tensor, output = network.inputs[0], network.outputs[0]
            dla = config.default_device_type == device_type.DLA
            record = BuildRecord(
                version=version,
                input_name=tensor.name,
                input_shape=tensor.shape,
                input_dtype=tensor.dtype.name,
                output_name=output.name,
                strongly_typed=network.strongly_typed,
                network_flags=network.flags,
                builder_flags=frozenset(config.flags),
                network_precision=network.precision,
                workspace=config.pools.get(int(pool.WORKSPACE)),
                default_device_type=device_type(config.default_device_type).name,
                dla_core=config.DLA_core if dla else -1,
                profiles=[p.shapes for p in config.profiles],
                progress_monitor=config.progress_monitor is not None,
            )
            state.builds.append(record)
            problem = None
            if network.strongly_typed and config.flags & PRECISION_FLAGS:
                problem = f"precision flags {sorted(config.flags & PRECISION_FLAGS)} on a strongly typed network"
            elif dla and not 0 <= config.DLA_core < self.num_DLA_cores:
                problem = f"DLA core {config.DLA_core} requested, {self.num_DLA_cores} available"
            elif -1 in tensor.shape and not any(tensor.name in p.shapes for p in config.profiles):
                problem = f"input {tensor.name} is dynamic and no optimization profile sets it"
            if problem:
                record.succeeded, record.error = False, problem
                self.logger.log(ILogger.Severity.ERROR, problem)
                return None
            monitor = config.progress_monitor
            if monitor is not None:
                monitor.phase_start("Building engine", None, 3)
                for step in range(3):
                    monitor.step_complete("Building engine", step)
                monitor.phase_finish("Building engine")
            shape = tuple(
                d if d >= 0 else config.profiles[0].shapes[tensor.name][1][i] for i, d in enumerate(tensor.shape)
            )
            out_shape = _run_onnx(network.onnx, tensor.name, np.zeros(shape, NUMPY[tensor.dtype]))[output.name].shape
            header = {
                "version": version,
                "dla_core": record.dla_core,
                "input": [tensor.name, list(shape), int(tensor.dtype)],
                "output": [output.name, list(out_shape), int(output.dtype)],
            }
            meta = json.dumps(header).encode()
            return MAGIC + struct.pack("<I", len(meta)) + meta + network.onnx

    class Context:
        def __init__(self, engine: Engine) -> None:
            self.engine = engine
            self.addresses: dict[str, int] = {}

        def set_input_shape(self, name: str, shape: Any) -> bool:
            return name == self.engine.input[0] and tuple(shape) == self.engine.input[1]

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return self.engine.get_tensor_shape(name)

        def set_tensor_address(self, name: str, pointer: int) -> bool:
            if name not in (self.engine.input[0], self.engine.output[0]) or pointer % 256:
                return False
            if cuda is not None and not cuda.is_device_pointer(pointer):
                return False  # a host pointer, or freed memory
            self.addresses[name] = pointer
            return True

        def execute_async_v3(self, stream_handle: int) -> bool:
            assert isinstance(stream_handle, int), f"stream handle must be an int, got {type(stream_handle)}"
            if cuda is not None and not cuda.live_stream(stream_handle):
                return False
            if set(self.addresses) != {self.engine.input[0], self.engine.output[0]}:
                return False
            name, shape, dtype = self.engine.input
            data = _read(self.addresses[name], shape, dtype)
            outputs = self.engine.session.run(None, {name: data})
            out_name, out_shape, out_dtype = self.engine.output
            _write(self.addresses[out_name], outputs[0].astype(NUMPY[out_dtype]).reshape(out_shape))
            state.executions += 1
            return True

    class Engine:
        def __init__(self, header: dict[str, Any], model: bytes) -> None:
            import onnxruntime as ort

            name, shape, dtype = header["input"]
            self.input = (name, tuple(shape), DataType(dtype))
            name, shape, dtype = header["output"]
            self.output = (name, tuple(shape), DataType(dtype))
            options = ort.SessionOptions()
            options.log_severity_level = 3
            self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

        num_io_tensors = 2

        def get_tensor_name(self, index: int) -> str:
            return (self.input, self.output)[index][0]

        def _tensor(self, name: str) -> tuple[str, tuple[int, ...], DataType]:
            return {self.input[0]: self.input, self.output[0]: self.output}[name]

        def get_tensor_mode(self, name: str) -> Any:
            return io_mode.INPUT if name == self.input[0] else io_mode.OUTPUT

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return self._tensor(name)[1]

        def get_tensor_dtype(self, name: str) -> DataType:
            return self._tensor(name)[2]

        def create_execution_context(self) -> Context:
            return Context(self)

    class Runtime:
        def __init__(self, logger: ILogger) -> None:
            self.logger = logger
            self.DLA_core = -1

        def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
            data = bytes(data)
            problem = None
            header: dict[str, Any] = {}
            if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
                problem = "not a serialized engine (magic tag mismatch)"
            else:
                (size,) = struct.unpack("<I", data[len(MAGIC) : len(MAGIC) + 4])
                try:
                    header = json.loads(data[len(MAGIC) + 4 : len(MAGIC) + 4 + size])
                except ValueError:
                    problem = "corrupt engine header"
                else:
                    if header.get("version") != version:
                        problem = f"engine built by TensorRT {header.get('version')}, this is {version}"
                    elif header["dla_core"] >= 0 and header["dla_core"] != self.DLA_core:
                        problem = f"engine built for DLA core {header['dla_core']}, runtime on {self.DLA_core}"
            if problem is None:
                try:
                    engine = Engine(header, data[len(MAGIC) + 4 + size :])
                except Exception as exc:  # a damaged network payload
                    problem = f"corrupt engine payload: {exc}"
            if problem is not None:
                state.refused_plans += 1
                self.logger.log(ILogger.Severity.ERROR, problem)
                return None
            state.deserialized += 1
            return engine

    def nptype(dtype: Any) -> type:
        if dtype not in NUMPY:
            raise TypeError(f"no numpy type for {dtype!r}")
        return NUMPY[dtype]

    for name, value in {
        "BuilderFlag": builder_flag,
        "NetworkDefinitionCreationFlag": network_flag,
        "DeviceType": device_type,
        "MemoryPoolType": pool,
        "TensorIOMode": io_mode,
        "DataType": DataType,
        "float32": DataType.FLOAT,
        "float16": DataType.HALF,
        "int8": DataType.INT8,
        "int32": DataType.INT32,
        "ILogger": ILogger,
        "Logger": Logger,
        "Builder": Builder,
        "Runtime": Runtime,
        "OnnxParser": OnnxParser,
        "nptype": nptype,
    }.items():
        setattr(trt, name, value)
    if face.progress_monitor:
        trt.IProgressMonitor = IProgressMonitor
    return state


def install(monkeypatch: Any, fake: FakeTensorRT) -> FakeTensorRT:
    monkeypatch.setitem(__import__("sys").modules, "tensorrt", fake.module)
    return fake


def _read(pointer: int, shape: tuple[int, ...], dtype: DataType) -> np.ndarray:
    import ctypes

    count = int(np.prod(shape)) * np.dtype(NUMPY[dtype]).itemsize
    raw = (ctypes.c_byte * count).from_address(pointer)
    return np.frombuffer(raw, dtype=NUMPY[dtype]).reshape(shape).copy()


def _write(pointer: int, values: np.ndarray) -> None:
    import ctypes

    values = np.ascontiguousarray(values)
    ctypes.memmove(pointer, values.ctypes.data, values.nbytes)


def _run_onnx(model: bytes, name: str, data: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {name: data})))


def _qdq_types(proto: Any) -> set[str]:
    import onnx

    initializers = {t.name: t for t in proto.graph.initializer}
    types_: set[str] = set()
    for node in proto.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            zero = initializers.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            if zero is not None:
                types_.add(onnx.helper.tensor_dtype_to_np_dtype(zero.data_type).name)
            elif node.op_type == "QuantizeLinear":
                types_.add("uint8")
    return types_


def _precision(proto: Any) -> str:
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in proto.graph.node):
        return "int8"
    if any(t.data_type == 10 for t in proto.graph.initializer):
        return "fp16"
    return "fp32"
