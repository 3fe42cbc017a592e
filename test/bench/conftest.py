"""Benchmark and soak tests. The node-driving ones (bench sections, HD camera, short soak) need rclpy: missing, it
fails the run; only STDC_ROS_SKIP_ROS_TESTS=1 leaves them out (see ros_required.py). The rest needs no ROS."""

from __future__ import annotations

from ..ros_required import ros_tests_enabled

ROS_TESTS = ["test_bench_sections.py", "test_bench_hd_camera.py", "test_soak_short.py"]

if not ros_tests_enabled("test/bench (node-driving tests)"):
    collect_ignore = ROS_TESTS
