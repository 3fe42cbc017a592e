"""Fixtures of the evaluation tests: the bag fixtures of test/bagtools.py."""

from __future__ import annotations

from ..bagtools import fake_node_command, sample_dirs, small_bag

__all__ = ["fake_node_command", "sample_dirs", "small_bag"]
