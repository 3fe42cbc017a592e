"""The bridge from the package's Python loggers to a node's ROS logger (fake ROS loggers here; the node test
checks a real one end to end)."""

from __future__ import annotations

import logging
import threading

import pytest

from stdc_ros.node import ros_logging


class FakeRosLogger:
    """The part of rclpy's RcutilsLogger the bridge uses; records (severity, message)."""

    def __init__(self, level: int = 20) -> None:
        self.level = level
        self.lines: list[tuple[str, str]] = []

    def get_effective_level(self) -> int:
        return self.level

    def is_enabled_for(self, severity: int) -> bool:
        return severity >= self.level

    def debug(self, message: str) -> None:
        self.lines.append(("DEBUG", message))

    def info(self, message: str) -> None:
        self.lines.append(("INFO", message))

    def warning(self, message: str) -> None:
        self.lines.append(("WARN", message))

    def error(self, message: str) -> None:
        self.lines.append(("ERROR", message))

    def fatal(self, message: str) -> None:
        self.lines.append(("FATAL", message))


@pytest.fixture
def ros_logger() -> FakeRosLogger:
    logger = FakeRosLogger()
    ros_logging.attach(logger)
    yield logger
    ros_logging.detach(logger)


def test_records_reach_the_ros_logger_at_their_severity(ros_logger: FakeRosLogger) -> None:
    log = logging.getLogger("stdc_ros.runtime.some_backend")
    log.debug("not at info level")
    log.info("model loaded")
    log.warning("slow disk")
    log.error("provider missing")
    log.critical("gone")
    logging.getLogger("tensorrt").warning("engine built with fallbacks")
    logging.getLogger("unrelated.library").warning("not ours")
    assert ros_logger.lines == [
        ("INFO", "stdc_ros.runtime.some_backend: model loaded"),
        ("WARN", "stdc_ros.runtime.some_backend: slow disk"),
        ("ERROR", "stdc_ros.runtime.some_backend: provider missing"),
        ("FATAL", "stdc_ros.runtime.some_backend: gone"),
        ("WARN", "tensorrt: engine built with fallbacks"),
    ]


def test_no_second_copy_through_the_root_logger_while_attached(caplog: pytest.LogCaptureFixture) -> None:
    logger = FakeRosLogger()
    with caplog.at_level(logging.INFO):  # a handler on the root logger, as `stdc-ros run`'s basicConfig adds
        ros_logging.attach(logger)
        try:
            logging.getLogger("stdc_ros.x").warning("once")
        finally:
            ros_logging.detach(logger)
        assert logger.lines == [("WARN", "stdc_ros.x: once")]
        assert not [r for r in caplog.records if r.name == "stdc_ros.x"]
        logging.getLogger("stdc_ros.x").warning("after the node is gone")  # back to plain Python logging
        assert [r.getMessage() for r in caplog.records if r.name == "stdc_ros.x"] == ["after the node is gone"]
    assert logger.lines == [("WARN", "stdc_ros.x: once")]


def test_detach_restores_the_loggers_and_levels_follow_the_node() -> None:
    package = logging.getLogger("stdc_ros")
    before = (package.level, package.propagate, list(package.handlers))
    verbose = FakeRosLogger(level=10)
    ros_logging.attach(verbose)
    try:
        assert package.level == logging.DEBUG and not package.propagate
        logging.getLogger("stdc_ros.deep.module").debug("details")
        assert verbose.lines == [("DEBUG", "stdc_ros.deep.module: details")]
    finally:
        ros_logging.detach(verbose)
    assert (package.level, package.propagate, list(package.handlers)) == before
    assert ros_logging.attached() == []


def test_each_record_goes_to_one_node_the_one_whose_work_emitted_it() -> None:
    first, second = FakeRosLogger(), FakeRosLogger()
    ros_logging.attach(first)
    ros_logging.attach(second)
    try:
        logging.getLogger("stdc_ros.a").info("unattributed: the newest node")

        def work() -> None:
            with ros_logging.logging_to(first):
                logging.getLogger("stdc_ros.a").info("first's model load")

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        ros_logging.detach(second)
        logging.getLogger("stdc_ros.a").info("after second left")
    finally:
        ros_logging.detach(first)
        ros_logging.detach(second)
    assert second.lines == [("INFO", "stdc_ros.a: unattributed: the newest node")]
    assert first.lines == [("INFO", "stdc_ros.a: first's model load"), ("INFO", "stdc_ros.a: after second left")]
