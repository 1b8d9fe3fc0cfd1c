"""Node counts of a GKE node pool, read from its wire-form inputs.

A pool states its size either as totals over all its zones (``totalMin/MaxNodeCount``) or per
zone (``min/maxNodeCount``, ``nodeCount``, ``initialNodeCount``), which multiply by the number of
zones it spans. Cost pricing and the COST policies both need the totals; this is the one place
that works them out, on plain dicts or on pulumi-policy's property proxies alike (reading a value
unknown at preview raises there, as everywhere in a policy).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from facts.hardware import catalog
from facts.text import number

ZONE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")
"""A zone name (``us-central1-c``); a location that is not one is a region."""


def pool_zone_count(inputs: Mapping[str, Any]) -> int | None:
    """How many zones a pool spans: its ``nodeLocations``, else 1 for a zonal location, else
    every zone the hardware catalog lists for its region; None when none of these is known.

    A regional pool without ``nodeLocations`` runs in its cluster's node locations, which the
    pool's inputs do not carry; all of the region's catalogued zones is the most it can span.
    """
    locations = inputs.get("nodeLocations")
    if isinstance(locations, Sequence) and not isinstance(locations, str) and locations:
        return len(locations)
    location = inputs.get("location")
    if not isinstance(location, str):
        return None
    if ZONE.match(location):
        return 1
    if location in catalog().regions:
        return len(catalog().zones(location))
    return None


def pool_node_range(inputs: Mapping[str, Any]) -> tuple[int, int] | None:
    """(fewest, most) nodes of a pool over all its zones.

    Autoscaling totals win; else autoscaling per-zone bounds, else ``nodeCount`` (or, when that
    is absent, ``initialNodeCount``) per zone, times `pool_zone_count`. None when the counts are
    per zone, not zero, and the zone count is unknown.
    """
    scaling = inputs.get("autoscaling")
    if isinstance(scaling, Mapping) and ("totalMinNodeCount" in scaling
                                         or "totalMaxNodeCount" in scaling):
        return (int(number(scaling.get("totalMinNodeCount")) or 0),
                int(number(scaling.get("totalMaxNodeCount")) or 0))
    if isinstance(scaling, Mapping):
        low = number(scaling.get("minNodeCount")) or 0
        high = number(scaling.get("maxNodeCount")) or 0
    else:
        count = number(inputs.get("nodeCount"))
        if count is None:
            count = number(inputs.get("initialNodeCount")) or 0
        low = high = count
    if low == high == 0:
        return 0, 0
    zones = pool_zone_count(inputs)
    if zones is None:
        return None
    return int(low) * zones, int(high) * zones
