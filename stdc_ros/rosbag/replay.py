"""``stdc-ros replay BAG``: play a rosbag2 (MCAP or sqlite3) into the ROS graph where `ros2 bag play` is missing.

Messages go out at their recorded log times divided by ``rate``, as serialized CDR (no decoding), with an
optional /clock (rosgraph_msgs/Clock) for nodes that use ``use_sim_time``.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cli_options import add_options, negated, none_word, option, options_from
from ..errors import BagError, StdcRosError
from .io import bag_summary, messages, open_bag
from .ros import RELIABILITIES, dds_environment, message_class, qos, ros_node, wait_until

LOG = logging.getLogger(__name__)
ACK_TIMEOUT_S = 2.0  # how long the end of a replay waits for reliable subscribers to acknowledge


def _remap(values: list[str]) -> dict[str, str]:
    remap = {}
    for item in values:
        old, sep, new = item.partition(":=")
        if not sep or not old or not new:
            raise BagError(f"--remap expects FROM:=TO, got {item!r}")
        remap[old] = new
    return remap


def _given(value: float | None) -> bool:
    return value is not None


@dataclass
class ReplayOptions:
    """How to play a bag; the flags of ``stdc-ros replay`` are made from these fields (cli_options)."""

    rate: float = option("-r", "--rate", default=1.0, parse=float, help="speed factor (2: twice as fast)")
    # topics to play; empty: every topic whose type is known
    topics: tuple[str, ...] = option(
        "--topics", default=(), cli_default=[], nargs="+", convert=tuple, help="play only these topics (default: all)"
    )
    remap: dict[str, str] = option(
        "--remap",
        default_factory=dict,
        cli_default=[],
        nargs="+",
        metavar="FROM:=TO",
        convert=_remap,
        help="rename topics",
    )  # bag topic -> published topic
    # --clock [HZ] sets both clock and clock_hz (the rate is passed explicitly by run)
    clock: bool = option(
        "--clock",
        default=False,
        cli_default=None,
        nargs="?",
        parse=float,
        const=100.0,
        metavar="HZ",
        convert=_given,
        help="publish /clock at HZ (default 100) for nodes with use_sim_time",
    )
    clock_hz: float = 100.0
    loop: bool = option(
        "-l", "--loop", default=False, action="store_true", help="play again and again until interrupted"
    )
    start_offset_s: float = option(
        "--start-offset", default=0.0, parse=float, help="skip the first seconds of the bag"
    )  # skip this much of the start of the bag
    delay_s: float = option(
        "--delay", default=0.0, parse=float, help="seconds to wait before playing"
    )  # wait this long after creating the publishers
    wait_for: tuple[str, ...] = option(
        "--wait-for",
        default=(),
        cli_default=[],
        nargs="+",
        metavar="TOPIC",
        convert=tuple,
        help="wait for a subscriber on these (published) topics first",
    )  # published topics that must have a subscriber before playing
    wait_timeout_s: float = option("--wait-timeout", default=15.0, parse=float, help="seconds --wait-for waits")
    # None: from the bag's offered QoS (reliable unless all were best effort)
    reliability: str | None = option(
        "--qos-reliability",
        default=None,
        choices=RELIABILITIES,
        help="publisher reliability (default: as recorded, else reliable)",
    )
    depth: int = option("--qos-depth", default=10, parse=int)
    domain_id: int | None = option(
        "--domain-id", default=None, parse=int, help="ROS_DOMAIN_ID (default: the environment's)"
    )  # None: ROS_DOMAIN_ID from the environment
    # Fast DDS profile of our participant ("packaged": config/dds/fastdds_hd.xml, so that frames over 512 KB fit
    # shared memory; None: as set); left alone where the user configured Fast DDS.
    dds_profile: str | None = option(
        "--dds-profile",
        default="packaged",
        convert=none_word,
        help="Fast DDS XML profile, applied unless Fast DDS is configured in the environment ('packaged': "
        "config/dds/fastdds_hd.xml; 'none': leave DDS alone)",
    )
    progress: bool = negated("--no-progress")


@dataclass
class ReplayStats:
    published: dict[str, int] = field(default_factory=dict)  # published topic -> messages
    skipped_topics: dict[str, str] = field(default_factory=dict)  # bag topic -> why it was not played
    loops: int = 0
    wall_s: float = 0.0
    max_lateness_ms: float = 0.0  # worst delay of a publish behind its schedule

    @property
    def total(self) -> int:
        return sum(self.published.values())


def _offered_qos(conn: Any, options: ReplayOptions) -> Any:
    """Publisher QoS for a bag connection: the recorded offer where the bag has one, else reliable/volatile."""
    offered = list(getattr(conn.ext, "offered_qos_profiles", []) or [])
    names = [(q.reliability.name, q.durability.name) for q in offered]
    reliability = options.reliability
    if reliability is None:
        reliability = "best_effort" if names and all(r == "BEST_EFFORT" for r, _ in names) else "reliable"
    transient = any(d == "TRANSIENT_LOCAL" for _, d in names)
    return qos(reliability, options.depth, transient_local=transient)


def plan_topics(reader: Any, options: ReplayOptions) -> tuple[dict[str, tuple[str, type, Any]], dict[str, str]]:
    """bag topic -> (published name, rclpy class, QoS) for the topics to play, and the skipped ones with a reason."""
    conns = {c.topic: c for c in reader.connections}
    missing = [t for t in options.topics if t not in conns]
    if missing:
        raise BagError(f"{reader.path} has no topic {', '.join(missing)}; it has: {', '.join(sorted(conns))}")
    chosen = options.topics or tuple(sorted(t for t, c in conns.items() if c.msgcount > 0))
    plan: dict[str, tuple[str, type, Any]] = {}
    skipped: dict[str, str] = {}
    for topic in chosen:
        conn = conns[topic]
        cls = message_class(conn.msgtype)
        if cls is None:
            why = f"message type {conn.msgtype} is not known here"
            if options.topics:  # asked for by name: a clear error, not a silent skip
                raise BagError(f"cannot replay {topic}: {why}")
            skipped[topic] = why
            LOG.warning("skipping %s: %s", topic, why)
            continue
        plan[topic] = (options.remap.get(topic, topic), cls, _offered_qos(conn, options))
    if not plan:
        raise BagError(f"{reader.path}: no topic can be played ({'; '.join(f'{t}: {w}' for t, w in skipped.items())})")
    return plan, skipped


def replay(bag: Path, options: ReplayOptions | None = None, stop: threading.Event | None = None) -> ReplayStats:
    """Play ``bag`` into the ROS graph; returns what was published. ``stop`` ends the playback early."""
    from tqdm import tqdm

    options = options or ReplayOptions()
    stop = stop or threading.Event()
    if options.rate <= 0:
        raise BagError(f"rate must be positive, got {options.rate}")
    summary = bag_summary(bag)
    if summary.message_count == 0:
        raise BagError(f"{bag} holds no messages")
    stats = ReplayStats()
    env = dds_environment(None, None, options.dds_profile)
    with open_bag(bag) as reader, ros_node("stdc_replay", options.domain_id, env) as node:
        plan, stats.skipped_topics = plan_topics(reader, options)
        publishers = {t: node.create_publisher(cls, name, profile) for t, (name, cls, profile) in plan.items()}
        stats.published = {name: 0 for name, _, _ in plan.values()}
        clock_pub = None
        if options.clock:
            from rosgraph_msgs.msg import Clock

            clock_pub = node.create_publisher(Clock, "/clock", qos("reliable", 1))
        by_name = {name: publishers[t] for t, (name, _, _) in plan.items()}
        for name in options.wait_for:
            pub = by_name.get(name)
            if pub is None:
                raise BagError(f"--wait-for {name}: not a topic being played ({', '.join(by_name)})")
            if not wait_until(lambda p=pub: p.get_subscription_count() > 0 or stop.is_set(), options.wait_timeout_s):
                LOG.warning("no subscriber on %s after %.0f s; playing anyway", name, options.wait_timeout_s)
        if options.delay_s > 0:
            stop.wait(options.delay_s)
        start_ns = summary.start_ns + round(options.start_offset_s * 1e9)
        per_pass = sum(t.count for t in summary.topics if t.name in plan)
        wall_start = time.monotonic()
        with tqdm(total=per_pass, desc="replay", unit="msg", disable=not options.progress) as bar:
            while not stop.is_set():
                _play_once(reader, plan, publishers, clock_pub, start_ns, options, stats, stop, bar)
                stats.loops += 1
                if not options.loop:
                    break
                bar.reset()
        stats.wall_s = time.monotonic() - wall_start
        _wait_delivered([*publishers.values(), *([clock_pub] if clock_pub else [])], ACK_TIMEOUT_S)
    LOG.info(
        "replayed %d messages in %.2f s (%d pass(es), worst lateness %.1f ms)",
        stats.total,
        stats.wall_s,
        stats.loops,
        stats.max_lateness_ms,
    )
    return stats


def _wait_delivered(publishers: list[Any], timeout_s: float) -> None:
    """Let reliable subscribers acknowledge the last messages before the node goes (else they can be lost)."""
    from rclpy.duration import Duration

    for pub in publishers:
        if not pub.wait_for_all_acked(Duration(seconds=timeout_s)):
            LOG.warning("%s: not every subscriber acknowledged the last messages within %.0f s", pub.topic, timeout_s)


def _play_once(
    reader: Any,
    plan: dict[str, tuple[str, type, Any]],
    publishers: dict[str, Any],
    clock_pub: Any,
    start_ns: int,
    options: ReplayOptions,
    stats: ReplayStats,
    stop: threading.Event,
    bar: Any,
) -> None:
    clock_cls = type(None)
    if clock_pub is not None:
        from rosgraph_msgs.msg import Clock

        clock_cls = Clock
    clock_period = 1.0 / options.clock_hz if options.clock_hz > 0 else float("inf")
    wall0 = time.monotonic()
    next_clock = wall0

    def publish_clock(now: float) -> None:
        sim_ns = start_ns + round((now - wall0) * options.rate * 1e9)
        msg = clock_cls()
        msg.clock.sec, msg.clock.nanosec = divmod(sim_ns, 1_000_000_000)
        clock_pub.publish(msg)

    for topic, _msgtype, log_ns, raw in messages(reader, tuple(plan)):
        if log_ns < start_ns:
            continue
        target = wall0 + (log_ns - start_ns) / 1e9 / options.rate
        while not stop.is_set():
            now = time.monotonic()
            if clock_pub is not None and now >= next_clock:
                publish_clock(now)
                next_clock = max(next_clock + clock_period, now)
            if now >= target:
                break
            stop.wait(min(target, next_clock if clock_pub is not None else target) - now)
        if stop.is_set():
            return
        publishers[topic].publish(raw if isinstance(raw, bytes) else bytes(raw))
        lateness = (time.monotonic() - target) * 1e3
        stats.max_lateness_ms = max(stats.max_lateness_ms, lateness)
        stats.published[plan[topic][0]] += 1
        bar.update(1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument("bag", type=Path, help="rosbag2 folder, .mcap or .db3 file")
    add_options(parser, ReplayOptions)


def run(args: argparse.Namespace) -> int:
    try:
        options = options_from(args, ReplayOptions, clock_hz=args.clock or 100.0)
        stats = replay(args.bag, options)
    except (StdcRosError, FileNotFoundError) as exc:
        LOG.error("%s", exc)
        return 2
    for name, count in stats.published.items():
        print(f"{name}: {count}")
    return 0
