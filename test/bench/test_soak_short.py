"""The soak's code path (`stdc-ros soak`, `make soak`) on 300 frames: the real node process, every output
subscribed, the same checks as the 20,000-frame run with looser tolerance (short runs still see allocator
warm-up)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stdc_ros.bench.soak import SoakLimits, SoakSettings, run_soak
from stdc_ros.harness.client import ALL_OUTPUTS

pytestmark = [pytest.mark.ros, pytest.mark.slow]

SHORT_LIMITS = SoakLimits(rss_growth=0.10, thread_growth=1, fd_growth=2, min_complete=0.95)


def test_short_soak_holds_memory_threads_and_fds_and_shuts_down_cleanly(
    tiny_onnx: Path, ros_domain_id: int, tmp_path: Path
) -> None:
    settings = SoakSettings(
        frames=300,
        warmup=100,
        samples=15,
        height=120,
        width=160,
        network_size=(96, 128),  # tiny_onnx
        model=tiny_onnx,
        outputs=ALL_OUTPUTS,
        domain_id=ros_domain_id,
        workdir=tmp_path,
        limits=SHORT_LIMITS,
    )
    result = run_soak(settings)
    print(result.report())
    assert not result.failures(), result.failures()
    assert result.crashes == 0 and result.exit_code == 0
    assert len(result.samples) >= 10
    assert all(count >= result.stream.received for count in result.stream.per_topic.values()), "an output went silent"
    # The node's counter must account for every measured frame that came back, and for the warm-up frames
    # allowing the same share lost as the measured stream (a frame overwritten in the depth-1 input queue under
    # load never reaches the node, so the counter may fall short of the 400 frames sent).
    warmup_floor = int(settings.warmup_frames * SHORT_LIMITS.min_complete)
    assert int(result.diagnostics["frames_processed"]) >= result.stream.received + warmup_floor


def test_cli_flags_make_the_settings(tmp_path: Path) -> None:
    """`stdc-ros soak`'s parser returns SoakSettings: defaults as the API's, each flag to its field, --size to
    height and width, --rss-growth to the limits."""
    import argparse

    from stdc_ros.bench import soak
    from stdc_ros.harness.client import LABEL_OUTPUTS

    parser = argparse.ArgumentParser()
    soak.add_arguments(parser)

    def settings(*argv: str) -> SoakSettings:
        return soak.settings_from(parser.parse_args(list(argv)))

    assert settings() == SoakSettings()
    argv = ["--frames", "50", "--size", "240x320", "--network-size", "96x128", "--variant", "stdc2", "--warmup", "5"]
    argv += ["--model", "m.onnx", "--window", "3", "--outputs", "labels", "--threads", "2", "--rss-growth", "0.2"]
    argv += ["--domain-id", "7", "--workdir", str(tmp_path)]
    assert settings(*argv) == SoakSettings(
        frames=50,
        height=240,
        width=320,
        network_size=(96, 128),
        variant="stdc2",
        model=Path("m.onnx"),
        warmup=5,
        window=3,
        outputs=LABEL_OUTPUTS,
        threads=2,
        domain_id=7,
        workdir=tmp_path,
        limits=SoakLimits(rss_growth=0.2),
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["--size", "big"])
