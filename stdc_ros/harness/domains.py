"""The one ROS_DOMAIN_ID picker: tests and tools (evaluation, soak, benchmarks) on separate ranges.

Runs on one domain see each other's topics, so every run takes its own; the two ranges keep a tool started by hand
off the domains the test suite uses at the same time.
"""

from __future__ import annotations

import random

TEST_DOMAINS = range(1, 101)
TOOL_DOMAINS = range(101, 201)


def pick_domain_id(domains: range = TOOL_DOMAINS, salt: int | None = None) -> int:
    """A domain id in ``domains``: ``salt`` picks it deterministically (distinct salts, distinct ids within the
    range), None picks one at random."""
    index = random.SystemRandom().randrange(len(domains)) if salt is None else salt % len(domains)
    return domains[index]
