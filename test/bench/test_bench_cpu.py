"""The CPU benchmark's logic: ISA detection, peaks and utilisation arithmetic, the OpenVINO peer section when
OpenVINO is absent, the bench JSON's shape, and the GPU script's CPU dry run. No timing is asserted anywhere:
speed belongs to benchmarks, not tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from stdc_ros.bench.camera import CameraSettings, camera_row
from stdc_ros.bench.peaks import FP32, INT8, Peak, best_peak, merge_best
from stdc_ros.bench.physical import Utilisation, utilisation_pct
from stdc_ros.machine import parse_cpuinfo


@pytest.fixture
def tiny_model(request: pytest.FixtureRequest) -> Path:
    """The tiny full ONNX file (made with torch: skipped in an environment without it)."""
    pytest.importorskip("torch")
    return request.getfixturevalue("tiny_onnx")


@pytest.fixture
def bench_model(request: pytest.FixtureRequest, repo_root: Path) -> Path:
    """The tiny full ONNX file where torch can make it, else the packaged FP32 file (environments without torch)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return repo_root / "models" / "stdc1_camvid.onnx"
    return request.getfixturevalue("tiny_onnx")


ZEN5 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512dq avx512bw avx512vl avx_vnni avx512_bf16 avx512_vnni
processor\t: 1
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512dq avx512bw avx512vl avx_vnni avx512_bf16 avx512_vnni
"""
SAPPHIRE_RAPIDS = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: avx fma avx2 avx512f avx512bw avx512_vnni avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8
"""
HASWELL = """processor\t: 0
model name\t: Intel(R) Xeon(R) CPU E5-2680 v3 @ 2.50GHz
flags\t\t: sse4_2 avx fma avx2
"""
ALDER_LAKE = """processor\t: 0
model name\t: 12th Gen Intel(R) Core(TM) i7-12700
flags\t\t: avx fma avx2 avx_vnni
"""
GRAVITON = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
"""


@pytest.mark.parametrize(
    ("text", "model", "fp32", "int8", "bf16"),
    [
        (ZEN5, "AMD EPYC (family 26 model 2)", "AVX-512F", "AVX-512 VNNI", "AVX-512 BF16"),
        (SAPPHIRE_RAPIDS, "Intel(R) Xeon(R) Platinum 8480+", "AVX-512F", "AMX-INT8", "AMX-BF16"),
        (HASWELL, "Intel(R) Xeon(R) CPU E5-2680 v3 @ 2.50GHz", "AVX2 + FMA", "AVX2 (no VNNI", "none"),
        (ALDER_LAKE, "12th Gen Intel(R) Core(TM) i7-12700", "AVX2 + FMA", "AVX-VNNI", "none"),
    ],
)
def test_isa_detection_on_sample_cpuinfo(text: str, model: str, fp32: str, int8: str, bf16: str) -> None:
    cpu = parse_cpuinfo(text)
    assert cpu.name == model and cpu.fp32_isa == fp32 and cpu.int8_isa.startswith(int8) and cpu.bf16_isa == bf16
    assert model in cpu.summary() and int8 in cpu.summary()


def test_isa_detection_counts_processors_and_reads_arm_features() -> None:
    zen = parse_cpuinfo(ZEN5)
    assert zen.logical_cpus == 2
    assert zen.isa == ["AVX2", "FMA", "AVX-512F", "AVX-512BW", "AVX-512 VNNI", "AVX-VNNI", "AVX-512 BF16"]
    arm = parse_cpuinfo(GRAVITON, lscpu_model="Neoverse-N1")
    assert arm.model == "Neoverse-N1" and arm.fp32_isa == "NEON" and arm.int8_isa == "NEON dot product"
    assert parse_cpuinfo("").flags == frozenset()


def _peak(precision: str, threads: int, gops: float, library: str = "lib") -> Peak:
    return Peak(precision, library, "", threads, 1024, gops, gops * 0.9)


def test_utilisation_arithmetic() -> None:
    # 5 GMACs in 50 ms = 10 GOP / 0.05 s = 200 GOP/s; against a 400 GOP/s peak: 50 %, floor 25 ms
    u = Utilisation("FP32", (360, 480), "onnxruntime", FP32, 1, 5.0, 50.0, 100.0, _peak(FP32, 1, 400.0))
    row = u.row()
    assert row["achieved_gops"] == pytest.approx(200.0)
    assert row["utilisation_pct"] == pytest.approx(50.0) and row["utilisation_p50_pct"] == pytest.approx(25.0)
    assert row["floor_ms"] == pytest.approx(25.0) and row["size"] == "360x480"
    assert utilisation_pct(5.0, 50.0, None) is None
    no_peak = Utilisation("INT8", (8, 8), "onnxruntime", INT8, 2, 1.0, 1.0, 1.0, None).row()
    assert no_peak["utilisation_pct"] is None and no_peak["floor_ms"] is None


def test_best_peak_matches_precision_and_threads_and_merge_keeps_the_better_probe() -> None:
    first = [_peak(FP32, 1, 200, "a"), _peak(FP32, 1, 240, "b"), _peak(INT8, 1, 900, "c"), _peak(FP32, 2, 400, "a")]
    second = [_peak(FP32, 1, 260, "a"), _peak(INT8, 1, 800, "c")]
    merged = merge_best(first, second)
    assert len(merged) == 4
    best = best_peak(merged, FP32, 1)
    assert best is not None and best.library == "a" and best.best_gops == 260
    assert best_peak(merged, INT8, 1).best_gops == 900  # type: ignore[union-attr]
    assert best_peak(merged, INT8, 2) is None


def test_camera_row_goal() -> None:
    settings = CameraSettings(Path("m_int8.onnx"), "INT8", threads=2, hz=30.0, seconds=10.0)
    met = camera_row(settings, 300, 290, 9, 40.0, 90.0, 30.0, 10.1)
    assert met["dropped"] == 10 and met["drop_pct"] == pytest.approx(10 / 3) and met["goal_met"]
    assert met["processed_hz"] == pytest.approx(29.0)
    assert not camera_row(settings, 300, 250, 50, 40.0, 90.0, None, 10.0)["goal_met"]  # 16.7 % dropped
    assert not camera_row(settings, 300, 300, 0, 40.0, 120.0, None, 10.0)["goal_met"]  # p99 over 100 ms


def test_onnx_network_macs_counts_the_network_of_a_full_file(tiny_model: Path) -> None:
    from stdc_ros.bench.physical import network_macs, onnx_network_macs

    assert onnx_network_macs(tiny_model) == network_macs("stdc1", (96, 128))


def test_peers_skip_openvino_when_it_is_absent(bench_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stdc_ros.bench.models import ModelFile
    from stdc_ros.bench.peers import bench_peers, openvino_version
    from stdc_ros.runtime.conventions import read_model_metadata

    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino now raises ImportError
    assert openvino_version() is None
    model = ModelFile("FP32", bench_model, "fp32", read_model_metadata(bench_model).input_size, "stdc1")
    rows, notes = bench_peers([model], threads=[1], iters=1, warmup=0)
    assert {r["runtime"] for r in rows} == {"onnxruntime"} and {r["call"] for r in rows} == {"network", "frame"}
    assert any("OpenVINO is not installed: its rows are skipped" in n for n in notes)


def test_bench_json_shape(bench_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stdc_ros.cli import main as cli_main

    out = tmp_path / "bench.json"
    argv = ["bench", "--sections", "physical,peers", "-o", str(out)]
    argv += ["--fp32-model", str(bench_model), "--int8-model", str(tmp_path / "absent_int8.onnx")]
    argv += ["--physical-threads", "1", "--physical-iters", "1", "--peak-n", "64", "--peak-repeats", "1"]
    argv += ["--no-profile", "--peer-threads", "1", "--peer-iters", "1", "--peer-warmup", "0"]
    assert cli_main(argv) == 0
    printed = capsys.readouterr().out
    assert "== physical ==" in printed and "== peers ==" in printed and "== summary ==" in printed
    assert "INT8 model" in printed and "not found: its rows are skipped" in printed
    report = json.loads(out.read_text())
    cpu = report["machine"]["cpu"]
    assert cpu["model"] and isinstance(cpu["isa"], list) and cpu["fp32_isa"] and cpu["int8_isa"]
    physical = report["sections"]["physical"]["rows"]
    utilisation = [r for r in physical if "utilisation_pct" in r]
    assert [(r["model"], r["threads"], r["precision"]) for r in utilisation] == [("FP32", 1, "fp32")]
    assert utilisation[0]["gmacs"] > 0 and utilisation[0]["peak_gops"] > 0 and utilisation[0]["peak_kernel"]
    peaks = next(r["peaks"] for r in physical if "peaks" in r)
    assert {p["precision"] for p in peaks} == {"fp32", "int8"} and all(p["threads"] == 1 for p in peaks)
    peers = report["sections"]["peers"]["rows"]
    assert peers and all(r["model"] == "FP32" and r["samples"] == 1 for r in peers)
    assert {"onnxruntime"} <= {r["runtime"] for r in peers}
    summary = report["summary"]
    assert summary[0]["model"] == "FP32" and summary[0]["threads"] == 1 and "utilisation_pct" in summary[0]
    from stdc_ros.bench.markdown import render

    page = render(report)  # the tables of docs/performance.md
    assert "### summary" in page and "### physical limit" in page and "### peers (p50)" in page
    assert "| FP32 | 1 |" in page and "### camera30" not in page  # a section that did not run has no table


def test_gpu_script_fails_fast_without_cuda(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from stdc_ros.bench.gpu import main

    out = tmp_path / "gpu.json"
    assert main(["-o", str(out)]) == 2
    assert "CUDA is not available" in capsys.readouterr().err and not out.exists()


def test_gpu_script_dry_run_on_cpu_writes_its_json(tiny_model: Path, tmp_path: Path) -> None:
    from stdc_ros.bench.gpu import main

    out = tmp_path / "gpu.json"
    argv = ["--device", "cpu", "--dry-run", "--sizes", "64x96", "--iters", "1", "--warmup", "0", "-o", str(out)]
    assert main([*argv, "--model", str(tiny_model)]) == 0
    report = json.loads(out.read_text())
    assert report["settings"]["dry_run"] and report["settings"]["sizes"] == ["64x96"]
    assert report["machine"]["device"] == "cpu" and report["weights"]
    rows = {(r["backend"], r["precision"], r["size"]) for r in report["rows"]}
    assert ("torch-cpu", "fp32", "64x96") in rows and ("onnxruntime-cpu (shipped file)", "fp32", "96x128") in rows
    exported = {("onnxruntime-cpu", p, "64x96") for p in ("fp32", "fp16")}
    # the ONNX Runtime rows of the exported network run, or the JSON says why they could not
    assert exported <= rows or report["skipped"]
    assert all(r["samples"] == 1 and r["fps"] > 0 for r in report["rows"])


def test_summary_puts_fp32_int8_peers_utilisation_and_camera_side_by_side() -> None:
    from stdc_ros.bench.summary import build_summary

    def peer(model: str, runtime: str, call: str, threads: int, p50: float) -> dict:
        return {"model": model, "runtime": runtime, "call": call, "threads": threads, "p50_ms": p50}

    sections = {
        "peers": {
            "rows": [
                peer("FP32", "onnxruntime", "network", 1, 60.0),
                peer("INT8", "onnxruntime", "network", 1, 30.0),
                peer("INT8", "openvino", "network", 1, 40.0),
                peer("INT8", "onnxruntime", "frame", 1, 32.0),
            ]
        },
        "physical": {
            "rows": [
                {"model": "INT8", "threads": 1, "backend": "onnxruntime", "utilisation_pct": 25.0, "peak_gops": 900.0},
                {"peaks": []},
            ]
        },
        "camera30": {
            "rows": [
                camera_row(CameraSettings(Path("x_int8.onnx"), "INT8"), 300, 295, 5, 40.0, 80.0, 20.0, 10.0),
            ]
        },
    }
    rows, text = build_summary(sections, "Test CPU, 2 logical CPUs")
    fp32, int8 = rows
    assert (fp32["model"], int8["model"]) == ("FP32", "INT8")
    assert int8["speedup_vs_fp32"] == pytest.approx(2.0) and int8["ov_network_ms"] == 40.0
    assert int8["utilisation_pct"] == 25.0 and int8["ort_fps"] == pytest.approx(1000 / 32)
    assert text.startswith("CPU: Test CPU") and "camera30: 30 Hz 360x480 camera, INT8" in text and ": met)" in text
