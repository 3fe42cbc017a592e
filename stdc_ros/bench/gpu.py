"""`make bench-gpu`: the network on an NVIDIA GPU, one command, FPS and latency into one JSON file.

Rows, at 360x480, 720x960 and 1024x2048 (network input = frame size):

- ``onnxruntime-cuda fp32`` / ``fp16``: ONNX Runtime's CUDA provider on the network exported from torch (raw
  convention: normalised tensor in, logits out; height and width dynamic, one file per precision; the fp16 file is
  the network in half precision), input and output bound on the GPU (IOBinding: no host copies timed);
- ``onnxruntime-cuda fp32 (shipped file)``: the shipped ``full`` file as it is (uint8 image in, labels out, pre/post
  in the graph) at its own size, host image in and labels out: needs no export at all;
- ``torch-cuda fp16``: the torch network in half precision, channels_last, eager, input on the GPU.

Needs only torch (CUDA), onnxruntime-gpu, numpy and this repository (run from its root; no TensorRT, no install).
Weights are imported from the shipped ONNX file through ``stdc_ros.model_tools.onnx_weights`` where that works (it
needs the ``onnx`` package); otherwise the network keeps random weights, said so in the JSON and the table (speed
does not depend on the weights). Exporting to ONNX needs the ``onnx`` package too: without it only the shipped
file's row runs on ONNX Runtime, and the JSON says why the others were skipped.

``--device cpu --dry-run`` runs the same code on the CPU at tiny sizes and a few iterations (checks the script,
measures nothing worth keeping). Without CUDA and without ``--device cpu`` it stops at once with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .runtimes import percentile_summary

log = logging.getLogger("stdc_ros.bench.gpu")

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = REPO / "models" / "stdc1_camvid.onnx"
DEFAULT_OUTPUT = Path("runs/bench/bench_gpu.json")
DEFAULT_SIZES = "360x480,720x960,1024x2048"
DRY_RUN_SIZES = "64x96,96x128"


@dataclass
class Report:
    settings: dict[str, Any]
    machine: dict[str, Any] = field(default_factory=dict)
    weights: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def skip(self, why: str) -> None:
        log.warning("skipped: %s", why)
        self.skipped.append(why)

    def as_json(self) -> dict[str, Any]:
        return {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "elapsed_s": round(time.monotonic() - self.started, 1),
            "settings": self.settings,
            "machine": self.machine,
            "weights": self.weights,
            "rows": self.rows,
            "skipped": self.skipped,
        }


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in text.split(","):
        if part.strip():
            h, _, w = part.strip().lower().partition("x")
            sizes.append((int(h), int(w)))
    return sizes


def time_calls(call: Callable[[], object], sync: Callable[[], None], warmup: int, iters: int) -> list[float]:
    """ms per call, each call followed by ``sync`` (the GPU finished) inside the timed span."""
    for _ in range(warmup):
        call()
    sync()
    samples = []
    for _ in range(iters):
        start = time.perf_counter()
        call()
        sync()
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


# ---------------------------------------------------------------------------------------------- environment
def machine(device: str) -> dict[str, Any]:
    import onnxruntime as ort
    import torch

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "onnxruntime": ort.__version__,
        "onnxruntime_providers": ort.get_available_providers(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(torch.device(device))
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1))
        info["compute_capability"] = f"{props.major}.{props.minor}"
    return info


def cuda_problem(device: str) -> str | None:
    """Why this machine cannot run the GPU benchmark on ``device`` (None when it can)."""
    if not device.startswith("cuda"):
        return None
    try:
        import torch
    except ImportError:
        return "torch is not installed (pip install torch with CUDA)"
    if not torch.cuda.is_available():
        return (
            f"CUDA is not available to torch {torch.__version__} (torch.version.cuda = {torch.version.cuda}): run on "
            "a machine with an NVIDIA GPU and a CUDA build of torch, or check the script with --device cpu --dry-run"
        )
    return None


# ---------------------------------------------------------------------------------------------- the network
def model_metadata(path: Path) -> dict[str, str]:
    """The shipped file's stdc_ros metadata, read with ONNX Runtime (no onnx package needed)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)


def build_network(path: Path) -> tuple[Any, str]:
    """The torch network of the shipped file with its weights where they can be imported, else random weights."""
    try:
        from stdc_ros.model_tools.onnx_weights import read_onnx_network

        network, _ = read_onnx_network(path)
        return network.eval(), f"imported from {path.name} (model_tools.onnx_weights)"
    except Exception as exc:  # ImportError (onnx, yaml), ModelFileError: random weights do for a speed benchmark
        import torch

        from stdc_ros.network import build_stdc

        meta = model_metadata(path)
        torch.manual_seed(0)
        network = build_stdc(meta.get("stdc_ros.variant", "stdc1"), int(meta.get("stdc_ros.num_classes", "11")))
        why = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        return (
            network.eval(),
            f"RANDOM (could not import the weights of {path.name}: {why}); speed does not depend on them",
        )


def export_raw(network: Any, path: Path, half: bool, device: str, size: tuple[int, int]) -> str:
    """Export ``network`` (float32 or half) to ONNX with dynamic batch, height and width; returns the exporter used.

    The TorchScript exporter first (needs only the ``onnx`` package), then the torch.export-based one (also needs
    ``onnxscript``). Raises the last error when neither works.
    """
    import copy

    import torch

    model = copy.deepcopy(network).to(device)
    model = model.half() if half else model.float()
    x = torch.zeros(1, 3, *size, device=device, dtype=torch.float16 if half else torch.float32)
    errors = []
    for dynamo in (False, True):
        try:
            kwargs: dict[str, Any] = {"input_names": ["input"], "output_names": ["logits"], "dynamo": dynamo}
            if dynamo:
                dim = torch.export.Dim
                kwargs["dynamic_shapes"] = ({0: dim("batch", max=64), 2: dim("height"), 3: dim("width")},)
            else:
                kwargs["dynamic_axes"] = {"input": {0: "batch", 2: "height", 3: "width"}, "logits": {0: "batch"}}
                kwargs["opset_version"] = 17
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter warns on every call
                torch.onnx.export(model, (x,), str(path), **kwargs)
            return "torch.onnx.export(dynamo=True)" if dynamo else "torch.onnx.export(dynamo=False)"
        except Exception as exc:  # ImportError (onnx, onnxscript), exporter errors
            errors.append(
                f"dynamo={dynamo}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            )
    raise RuntimeError("; ".join(errors))


# ---------------------------------------------------------------------------------------------- the rows
def ort_providers(device: str) -> list[Any]:
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        return [("CUDAExecutionProvider", {"device_id": index, "cudnn_conv_algo_search": "EXHAUSTIVE"})]
    return ["CPUExecutionProvider"]


def bench_ort_raw(path: Path, size: tuple[int, int], half: bool, device: str, warmup: int, iters: int) -> list[float]:
    """The raw network in ONNX Runtime, input and output bound on the device (IOBinding)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=ort_providers(device))
    kind = "cuda" if device.startswith("cuda") else "cpu"
    index = int(device.partition(":")[2] or 0)
    x = np.random.default_rng(0).standard_normal((1, 3, *size)).astype(np.float16 if half else np.float32)
    value = ort.OrtValue.ortvalue_from_numpy(x, kind, index)
    binding = session.io_binding()
    binding.bind_ortvalue_input(session.get_inputs()[0].name, value)
    binding.bind_output(session.get_outputs()[0].name, kind, index)
    return time_calls(lambda: session.run_with_iobinding(binding), lambda: None, warmup, iters)  # Run syncs


def bench_ort_full(path: Path, device: str, warmup: int, iters: int) -> tuple[list[float], tuple[int, int]]:
    """The shipped full file as it is: a uint8 frame at its size in, labels out (host memory both ways)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=ort_providers(device))
    meta = session.get_modelmeta().custom_metadata_map
    h, _, w = meta.get("stdc_ros.input_size", "360x480").partition("x")
    size = (int(h), int(w))
    image = np.random.default_rng(0).integers(0, 256, (1, *size, 3), dtype=np.uint8)
    name = session.get_inputs()[0].name
    return time_calls(lambda: session.run(["labels"], {name: image}), lambda: None, warmup, iters), size


def bench_torch(network: Any, size: tuple[int, int], half: bool, device: str, warmup: int, iters: int) -> list[float]:
    """The eager torch network, channels_last, input on the device."""
    import copy

    import torch

    dtype = torch.float16 if half else torch.float32
    model = copy.deepcopy(network).to(device=device, dtype=dtype).to(memory_format=torch.channels_last).eval()
    x = torch.randn(1, 3, *size, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    torch.backends.cudnn.benchmark = True
    with torch.inference_mode():
        return time_calls(lambda: model(x), sync, warmup, iters)


def run_benchmark(args: argparse.Namespace) -> Report:
    import torch

    sizes = parse_sizes(args.sizes or (DRY_RUN_SIZES if args.dry_run else DEFAULT_SIZES))
    iters = args.iters or (2 if args.dry_run else 200)
    warmup = args.warmup if args.warmup is not None else (1 if args.dry_run else 20)
    report = Report(
        {
            "sizes": [f"{h}x{w}" for h, w in sizes],
            "iters": iters,
            "warmup": warmup,
            "dry_run": args.dry_run,
            "budget_s": args.budget_s,
            "model": str(args.model),
        }
    )
    report.machine = machine(args.device)
    gpu = args.device.startswith("cuda")
    network, report.weights = build_network(args.model)
    log.info("network weights: %s", report.weights)
    ort_gpu = not gpu or "CUDAExecutionProvider" in report.machine["onnxruntime_providers"]
    if not ort_gpu:
        report.skip(
            "onnxruntime has no CUDAExecutionProvider (providers: "
            f"{', '.join(report.machine['onnxruntime_providers'])}): install onnxruntime-gpu for the ONNX Runtime rows"
        )
    torch_half = gpu or args.cpu_half  # half precision convolutions on the CPU are slow or missing
    backend = "onnxruntime-cuda" if gpu else "onnxruntime-cpu"

    def add(name: str, precision: str, size: tuple[int, int], samples: list[float], describe: str) -> None:
        row = {"backend": name, "precision": precision, "size": f"{size[0]}x{size[1]}", "describe": describe}
        row.update(percentile_summary(samples))
        report.rows.append(row)
        log.info("%s %s %s: p50 %.2f ms, %.1f FPS", name, precision, row["size"], row["p50_ms"], row["fps"])

    def over_budget(what: str) -> bool:
        spent = time.monotonic() - report.started
        if spent > args.budget_s:
            report.skip(f"{what}: time budget of {args.budget_s:.0f} s spent ({spent:.0f} s)")
            return True
        return False

    with tempfile.TemporaryDirectory(prefix="stdc_gpu_bench_") as tmp:
        exported: dict[bool, Path] = {}
        if ort_gpu:
            try:
                samples, size = bench_ort_full(args.model, args.device, warmup, iters)
                add(f"{backend} (shipped file)", "fp32", size, samples, f"{args.model.name}, whole graph, host I/O")
            except Exception as exc:  # a provider that fails on this graph is reported, the rest still runs
                report.skip(f"{backend} shipped file: {type(exc).__name__}: {exc}")
            for half in (False, True):
                path = Path(tmp) / f"network_{'fp16' if half else 'fp32'}.onnx"
                try:
                    exporter = export_raw(network, path, half, args.device, sizes[0])
                    exported[half] = path
                    log.info("exported %s with %s", path.name, exporter)
                except Exception as exc:
                    report.skip(f"{backend} {'fp16' if half else 'fp32'}: cannot export the network to ONNX ({exc})")
        for size in sizes:
            for half, path in exported.items():
                precision = "fp16" if half else "fp32"
                if over_budget(f"{backend} {precision} {size[0]}x{size[1]}"):
                    continue
                try:
                    samples = bench_ort_raw(path, size, half, args.device, warmup, iters)
                    add(backend, precision, size, samples, "raw network, IOBinding on the device")
                except Exception as exc:
                    report.skip(f"{backend} {precision} {size[0]}x{size[1]}: {type(exc).__name__}: {exc}")
            precision = "fp16" if torch_half else "fp32"
            name = "torch-cuda" if gpu else "torch-cpu"
            if over_budget(f"{name} {precision} {size[0]}x{size[1]}"):
                continue
            try:
                samples = bench_torch(network, size, torch_half, args.device, warmup, iters)
                add(name, precision, size, samples, "eager, channels_last, cudnn.benchmark")
            except Exception as exc:
                report.skip(f"{name} {precision} {size[0]}x{size[1]}: {type(exc).__name__}: {exc}")
            if gpu:
                torch.cuda.empty_cache()
    return report


def format_rows(rows: Sequence[dict[str, Any]]) -> str:
    header = f"{'backend':<32s} {'prec':<5s} {'size':>10s} {'p50 ms':>8s} {'p90 ms':>8s} {'p99 ms':>8s} {'FPS':>8s}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['backend']:<32s} {r['precision']:<5s} {r['size']:>10s} {r['p50_ms']:8.2f} {r['p90_ms']:8.2f} "
            f"{r['p99_ms']:8.2f} {r['fps']:8.1f}"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stdc_ros.bench.gpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON file ({DEFAULT_OUTPUT})")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="the shipped FP32 ONNX file")
    parser.add_argument("--sizes", help=f"HxW list (default {DEFAULT_SIZES}; dry run {DRY_RUN_SIZES})")
    parser.add_argument("--iters", type=int, help="timed calls per row (default 200; dry run 2)")
    parser.add_argument("--warmup", type=int, help="untimed calls first (default 20; dry run 1)")
    parser.add_argument("--device", default="cuda", help="cuda[:N] (default) or cpu (only to check the script)")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes and 2 iterations: checks the script")
    parser.add_argument("--budget-s", type=float, default=420.0, help="stop starting new rows after this (420 s)")
    parser.add_argument("--cpu-half", action="store_true", help="torch rows in fp16 on the CPU too (slow)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    problem = cuda_problem(args.device)
    if problem:
        print(f"bench-gpu: {problem}", file=sys.stderr)
        return 2
    if not args.model.is_file():
        print(f"bench-gpu: model file not found: {args.model}", file=sys.stderr)
        return 2
    report = run_benchmark(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report.as_json(), indent=1))
    gpu = report.machine.get("gpu", report.machine["device"])
    print(f"\nGPU benchmark on {gpu} (torch {report.machine['torch']}, onnxruntime {report.machine['onnxruntime']})")
    print(f"weights: {report.weights}")
    print(format_rows(report.rows))
    for why in report.skipped:
        print(f"skipped: {why}")
    print(f"results: {args.output} ({report.as_json()['elapsed_s']} s)")
    return 0 if report.rows else 1


if __name__ == "__main__":
    sys.exit(main())
