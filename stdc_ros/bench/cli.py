"""`stdc-ros bench`: run benchmark sections, print a table per section, write one JSON file and the figures.

Sections are independent entries of ``SECTIONS``; a new one (node overhead, post-processing, ...) declares its
options (a ``cli_options`` dataclass, see ``sections.Section``) and returns a ``SectionResult``. ``--sections`` picks
which ones run.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..cli_options import option, options_from
from ..runtime.conventions import parse_size
from .hd_camera import hd_camera_sections
from .models import add_model_arguments
from .sections import Section, SectionResult, format_table
from .suite import suite_sections

log = logging.getLogger(__name__)

DEFAULT_OUTPUT = Path("runs/bench/bench.json")
DEFAULT_SIZES = "360x480,720x960,512x1024"
DEFAULT_VARIANTS = "stdc1,stdc2"


# --- section: inference runtimes ---------------------------------------------------------------------------

RUNTIME_COLUMNS = (
    ("model", "model", ""),
    ("size", "size", ""),
    ("backend", "backend", ""),
    ("call", "call", ""),
    ("p50_ms", "p50 ms", ".2f"),
    ("p90_ms", "p90 ms", ".2f"),
    ("p99_ms", "p99 ms", ".2f"),
    ("fps", "FPS", ".1f"),
    ("overhead_pct", "overhead %", ".1f"),
)


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _backends(text: str | None) -> list[str] | None:
    return [b.strip() for b in text.split(",")] if text else None


def _sizes(text: str) -> list[tuple[int, int]]:
    return [parse_size(s) for s in _comma_list(text)]


@dataclass(frozen=True)
class RuntimesOptions:
    """The runtimes section's options; its flags are made from these fields (cli_options)."""

    backends: list[str] | None = option(
        "--backends",
        default=None,
        convert=_backends,
        help="comma-separated: onnxruntime, onnxruntime-graph, torch, tensorrt (default: every available one)",
    )
    sizes: list[tuple[int, int]] = option(
        "--sizes",
        default_factory=lambda: _sizes(DEFAULT_SIZES),
        cli_default=DEFAULT_SIZES,
        convert=_sizes,
        help="comma-separated network input sizes HxW (images are fed at the same size)",
    )
    variants: list[str] = option(
        "--variants",
        default_factory=lambda: _comma_list(DEFAULT_VARIANTS),
        cli_default=DEFAULT_VARIANTS,
        convert=_comma_list,
        help="random-weight models to build when --model is not given",
    )
    model: Path | None = option(
        "--model", default=None, parse=Path, help="a .pt checkpoint to benchmark instead of random-weight models"
    )
    warmup: int = option("--warmup", default=5, parse=int)
    iters: int = option("--iters", default=50, parse=int, help="timed calls per backend, size and call kind")
    device: str = option("--device", default="cpu", help="cpu or cuda[:N] for onnxruntime and torch")
    threads: int | None = option(
        "--threads", default=None, parse=int, help="intra-op threads for onnxruntime and torch (default: theirs)"
    )
    workdir: Path | None = option(
        "--workdir", default=None, parse=Path, help="keep exported models here (default: a temporary folder)"
    )


def _run_runtimes(args: argparse.Namespace, out_dir: Path) -> SectionResult:
    from .runtimes import ModelSpec, bench_runtimes, random_weight_models

    opts = options_from(args, RuntimesOptions)
    options: dict[str, dict] = {}
    if opts.threads:
        options = {"onnxruntime": {"threads": opts.threads}, "torch": {"threads": opts.threads}}
    with tempfile.TemporaryDirectory(prefix="stdc_bench_") as tmp:
        workdir = opts.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if opts.model:
            specs = [ModelSpec(name=opts.model.stem, checkpoint=opts.model, workdir=workdir)]
        else:
            specs = random_weight_models(workdir, opts.variants)
        rows = bench_runtimes(
            opts.backends, specs, opts.sizes, opts.warmup, opts.iters, device=opts.device, options=options
        )
    figures = [out_dir / f"{args.output.stem}_runtimes_latency.png"] if rows else []
    if rows:
        plot_histograms(rows, figures[0])
    notes = [ratio_note(rows, size) for size in dict.fromkeys(r["size"] for r in rows)]
    return SectionResult(rows, format_table(rows, RUNTIME_COLUMNS), figures, [n for n in notes if n])


def ratio_note(rows: Sequence[dict], size: str) -> str:
    """'stdc1 360x480: onnxruntime 1.9x faster than torch ...' from p50 runtime latencies measured together."""
    parts = []
    for model in dict.fromkeys(r["model"] for r in rows):
        p50 = {
            r["backend"]: r["p50_ms"]
            for r in rows
            if r["size"] == size and r["model"] == model and r["call"] == "runtime"
        }
        if "torch" in p50:
            ratios = [f"{b} {p50['torch'] / v:.2f}x" for b, v in p50.items() if b != "torch"]
            if ratios:
                parts.append(f"{model} {size}: speed-up over torch eager (p50 runtime call): {', '.join(ratios)}")
    return "; ".join(parts)


def plot_histograms(rows: Sequence[dict], path: Path) -> None:
    """One panel per (model, size): latency histograms of the runtime calls of each backend."""
    import matplotlib

    matplotlib.use("Agg")  # headless; chosen per call since other code may have picked a backend already
    import matplotlib.pyplot as plt
    import numpy as np

    panels = list(dict.fromkeys((r["model"], r["size"]) for r in rows))
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.6 * len(panels)), squeeze=False)
    for ax, (model, size) in zip(axes[:, 0], panels):
        panel = [r for r in rows if (r["model"], r["size"]) == (model, size) and r["call"] == "runtime"]
        everything = np.concatenate([np.asarray(r["samples_ms"]) for r in panel])
        bins = np.geomspace(max(everything.min() * 0.9, 1e-3), everything.max() * 1.1, 50)  # shared: comparable bars
        for r in panel:
            ax.hist(r["samples_ms"], bins=bins, alpha=0.55, label=f"{r['backend']} (p50 {r['p50_ms']:.1f} ms)")
        ax.set_xscale("log")
        ax.set_title(f"{model} {size}: runtime call latency")
        ax.set_xlabel("ms")
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


SECTIONS: list[Section] = [
    Section(
        "runtimes",
        "latency of each inference backend",
        _run_runtimes,
        options=(RuntimesOptions,),
        title="runtimes section",
    ),
]
SECTIONS += suite_sections()  # node, postproc, physical, peers, camera30 (stdc_ros/bench/suite.py)
SECTIONS += hd_camera_sections()  # camera process -> node at 480x360 and 1080p (stdc_ros/bench/hd_camera.py)


# --- command ---------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sections",
        default=",".join(s.name for s in SECTIONS),
        help=f"comma-separated sections to run: {', '.join(f'{s.name} ({s.help})' for s in SECTIONS)}",
    )
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    add_model_arguments(parser)  # --fp32-model / --int8-model, shared by physical, peers and camera30
    for section in SECTIONS:
        section.add_to(parser)


def run(args: argparse.Namespace) -> int:
    from ..machine import machine_info, read_cpu_info
    from .summary import build_summary

    wanted = [s.strip() for s in args.sections.split(",") if s.strip()]
    by_name = {s.name: s for s in SECTIONS}
    unknown = [w for w in wanted if w not in by_name]
    if unknown:
        log.error("unknown section(s) %s; choose from %s", ", ".join(unknown), ", ".join(by_name))
        return 2
    out_dir = args.output.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "arguments": {k: v if isinstance(v, int | float | bool | None) else str(v) for k, v in vars(args).items()},
        "machine": machine_info(),
    }
    sections: dict[str, object] = {}
    for name in wanted:
        result = by_name[name].run(args, out_dir)
        print(f"\n== {name} ==\n{result.table}")
        for note in result.notes:
            print(note)
        for fig in result.figures:
            print(f"figure: {fig}")
        sections[name] = {"rows": result.rows, "notes": result.notes, "figures": [str(f) for f in result.figures]}
    report["machine_after"] = {"load_average_1_5_15": machine_info()["load_average_1_5_15"]}
    report["sections"] = sections
    summary_rows, summary = build_summary(sections, read_cpu_info().summary())
    report["summary"] = summary_rows
    print(f"\n== summary ==\n{summary}")
    args.output.write_text(json.dumps(report, indent=1))
    print(f"results: {args.output}")
    return 0
