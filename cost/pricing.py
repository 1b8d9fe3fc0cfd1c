"""Bill lines and the unit arithmetic every model shares: nodes, GPUs, disks, the GKE fee.

A `Line` is one cost component of one resource, as on a cloud bill: a quantity, its unit, a unit
price and the monthly amount (unrounded). Sustained-use discounts appear as their own negative
line so a reader can check the list price and the discount separately.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from itertools import pairwise
from typing import TYPE_CHECKING

from cost.catalog import Price, PriceCatalog
from cost.money import ZERO, cents, plain
from facts.hardware import AttachmentError, MachineShape, UnknownMachineType, catalog

if TYPE_CHECKING:
    from cost.scenario import Gpu


class PricingError(ValueError):
    """A request that cannot be priced as given (unknown machine, GPU that does not attach)."""


@dataclass(frozen=True)
class Line:
    """One cost component: quantity × unit price = monthly (before rounding)."""

    component: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    monthly: Decimal
    price: Price | None = None
    note: str = ""

    def to_json(self) -> dict[str, str]:
        out = {"component": self.component, "quantity": plain(round(self.quantity, 4)),
               "unit": self.unit,
               "unit_price": plain(self.unit_price), "monthly": str(cents(self.monthly))}
        if self.price is not None:
            out |= {"price_as_of": self.price.as_of, "price_source": self.price.source,
                    "price_status": self.price.status}
        if self.note:
            out["note"] = self.note
        return out


def relabelled(lines: Iterable[Line], prefix: str = "", suffix: str = "") -> list[Line]:
    """The lines with each component renamed ``prefix + component + suffix`` (a pool, a tag)."""
    return [replace(line, component=f"{prefix}{line.component}{suffix}") for line in lines]


@dataclass
class Bill:
    """The priced components of one thing (a resource, a model), plus notes on what is not."""

    name: str
    lines: list[Line] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def monthly(self) -> Decimal:
        """Unrounded monthly total; round with `cents` only when showing it."""
        return sum((line.monthly for line in self.lines), ZERO)

    def extend(self, lines: list[Line]) -> Bill:
        self.lines.extend(lines)
        return self


def shape(machine_type: str) -> MachineShape:
    """The machine's shape from the hardware catalog, or a PricingError naming what is known."""
    try:
        return catalog().machine(machine_type)
    except UnknownMachineType as err:
        raise PricingError(f"machine type: {err}") from None


def gpu_name(gpu_type: str) -> str:
    """The GKE accelerator name for a GPU given by its GKE or Vertex name."""
    accelerators = catalog().accelerators
    if gpu_type in accelerators:
        return gpu_type
    for name, acc in accelerators.items():
        if acc.vertex_name == gpu_type:
            return name
    raise PricingError(f"GPU type '{gpu_type}' is unknown; known: {', '.join(accelerators)} "
                       f"(or their Vertex names)")


def check_attachment(machine_type: str, gpu_type: str, count: int) -> None:
    """Check a GPU count attaches to a machine shape, by the hardware catalog's rules."""
    shape(machine_type)  # an unknown machine type gets the pricing error
    try:
        catalog().check_attachment(machine_type, gpu_name(gpu_type), count)
    except AttachmentError as err:
        raise PricingError(str(err)) from None


def billed_hours(hours: Decimal, month: Decimal, tiers: tuple[Decimal, ...] | None) -> Decimal:
    """Hours billed at list price after the sustained-use discount, for one resource.

    Each successive quarter of the month is billed at its tier's share of list price; with no
    tiers every hour is billed in full.
    """
    if hours < 0 or hours > month:
        raise PricingError(f"hours per month must be between 0 and {month}, got {hours}")
    if tiers is None:
        return hours
    quarter = month / len(tiers)
    billed = ZERO
    for i, share in enumerate(tiers):
        in_tier = min(max(hours - quarter * i, ZERO), quarter)
        billed += in_tier * share
    return billed


def node_lines(prices: PriceCatalog, machine_type: str, *, nodes: int, hours: Decimal,
               pricing: str = "on-demand", gpu_type: str | None = None, gpu_count: int = 0,
               disk_gb: int = 0, disk_type: str = "pd-balanced",
               sustained_use: bool = True) -> list[Line]:
    """Lines for `nodes` Compute Engine nodes each up `hours` a month: instance, GPUs, disk.

    The sustained-use discount applies per node to on-demand N1 instances and their GPUs when
    `sustained_use` is true (a node pool whose nodes stay up); usage-based hours pass False.
    """
    shape(machine_type)
    if gpu_type and gpu_count:
        check_attachment(machine_type, gpu_type, gpu_count)
    month = prices.hours_per_month
    tiers = prices.sud_tiers(shape(machine_type).family) if pricing == "on-demand" else None
    sud = tiers if sustained_use else None
    node_hours = hours * nodes
    lines: list[Line] = []
    price = prices.machine(machine_type, pricing)
    lines.append(Line(f"Instance usage ({machine_type}, {pricing})", node_hours, "hours",
                      price.usd, price.usd * node_hours, price))
    lines += _sud_line(price.usd, nodes, hours, month, sud)
    if gpu_type and gpu_count:
        gpu = gpu_name(gpu_type)
        gprice = prices.gpu(gpu, pricing)
        gpu_hours = node_hours * gpu_count
        label = catalog().accelerators[gpu].display_name
        lines.append(Line(f"{label} ({pricing})", gpu_hours, "GPU-hours", gprice.usd,
                          gprice.usd * gpu_hours, gprice))
        lines += _sud_line(gprice.usd, nodes * gpu_count, hours, month, sud, what="GPU ")
    if disk_gb:
        dprice = prices.disk(disk_type)
        gb_months = Decimal(disk_gb) * nodes * hours / month
        lines.append(Line(f"Boot disk ({disk_type}, {disk_gb} GB)", gb_months, "GB-months",
                          dprice.usd, dprice.usd * gb_months, dprice))
    return lines


def _sud_line(unit: Decimal, count: int, hours: Decimal, month: Decimal,
              tiers: tuple[Decimal, ...] | None, what: str = "") -> list[Line]:
    if tiers is None or count == 0 or hours == 0:
        return []
    saved_hours = hours - billed_hours(hours, month, tiers)
    if saved_hours == 0:
        return []
    share = saved_hours / hours * 100
    return [Line(f"{what}Sustained-use discount ({plain(round(share, 2))} % at {plain(hours)} h)",
                 saved_hours * count, "hours", -unit, -unit * saved_hours * count)]


@dataclass(frozen=True)
class SudUse:
    """Compute Engine usage that may earn the sustained-use discount, before pooling.

    `pool` keys what pools together: a machine family's vCPUs (and their memory) at one price
    per vCPU, or one GPU type. Each node holds `width` units. With `always_on`, `nodes` nodes
    run `hours` each from the start of the month; otherwise `hours` node-hours of usage run one
    job after another (the reading of `data/billing_rules.yaml`).
    """

    pool: str
    label: str
    unit: str
    unit_price: Decimal
    width: int
    nodes: int
    hours: Decimal
    always_on: bool
    family: str


def sud_uses(prices: PriceCatalog, machine_type: str, *, nodes: int, hours: Decimal,
             pricing: str = "on-demand", gpu_type: str | None = None, gpu_count: int = 0,
             always_on: bool = True) -> list[SudUse]:
    """What of these nodes can earn the sustained-use discount, by the billing rules.

    Only pricing models the rules name (on-demand), only machine families the snapshot has
    tiers for (N1), and GPUs the rules name when attached to such a machine.
    """
    from cost.rules import load_rules

    rules = load_rules().sustained_use
    machine = shape(machine_type)
    if pricing not in rules.pricing_models or prices.sud_tiers(machine.family) is None:
        return []
    if nodes == 0 or hours == 0:
        return []
    price = prices.machine(machine_type, pricing).usd
    per_vcpu = price / machine.vcpus
    uses = [SudUse(f"{machine.family}:vcpu:{per_vcpu}", f"{machine.family.upper()} vCPUs "
                   f"and memory", "vCPU-hours", per_vcpu, machine.vcpus, nodes, hours,
                   always_on, machine.family)]
    if gpu_type and gpu_count:
        gpu = gpu_name(gpu_type)
        if gpu in rules.gpus:
            gprice = prices.gpu(gpu, pricing).usd
            uses.append(SudUse(f"gpu:{gpu}:{gprice}", catalog().accelerators[gpu].display_name,
                               "GPU-hours", gprice, gpu_count, nodes, hours, always_on,
                               machine.family))
    return uses


def _lanes(uses: list[SudUse], month: Decimal) -> list[list[tuple[Decimal, Decimal, int]]]:
    """Node lanes of one pool: (start, end, width) segments, each lane one node slot.

    Always-on nodes run from the start of the month; usage fills one lane after another, wider
    nodes first, so a node-month is full before a second node starts.
    """
    lanes = [[(Decimal(0), use.hours, use.width)] for use in uses if use.always_on
             for _ in range(use.nodes)]
    queue = sorted((u for u in uses if not u.always_on), key=lambda u: -u.width)
    lane: list[tuple[Decimal, Decimal, int]] = []
    t = Decimal(0)
    for use in queue:
        left = use.hours * use.nodes
        while left > 0:
            take = min(month - t, left)
            lane.append((t, t + take, use.width))
            t, left = t + take, left - take
            if t == month:
                lanes.append(lane)
                lane, t = [], Decimal(0)
    if lane:
        lanes.append(lane)
    return lanes


def layer_hours(uses: list[SudUse], month: Decimal) -> list[Decimal]:
    """Hours each unit layer of a pool runs: layer j runs while at least j units are in use.

    These are Google's inferred instances: the discount tiers apply to each layer's hours.
    """
    segments = [s for lane in _lanes(uses, month) for s in lane]
    points = sorted({p for start, end, _ in segments for p in (start, end)})
    layers: list[Decimal] = []
    for a, b in pairwise(points):
        level = sum(w for start, end, w in segments if start <= a and end >= b)
        layers += [ZERO] * (level - len(layers))
        for j in range(level):
            layers[j] += b - a
    return layers


def pooled_sud_lines(prices: PriceCatalog, uses: list[SudUse]) -> tuple[list[Line], list[str]]:
    """One discount line per pool of the month's usage, and a note on how each pool stacks."""
    month = prices.hours_per_month
    lines: list[Line] = []
    notes: list[str] = []
    pools: dict[str, list[SudUse]] = {}
    for use in uses:
        pools.setdefault(use.pool, []).append(use)
    for group in pools.values():
        first = group[0]
        tiers = prices.sud_tiers(first.family)
        layers = layer_hours(group, month)
        used = sum(layers, ZERO)
        saved = sum((h - billed_hours(h, month, tiers) for h in layers), ZERO)
        if saved == 0:
            continue
        lines.append(Line(f"Sustained-use discount ({first.label}, pooled in {prices.region})",
                          saved, first.unit, -first.unit_price, -first.unit_price * saved))
        parts = [f"{u.nodes * u.width} × {plain(u.hours)} h always on" if u.always_on else
                 f"{plain(round(u.hours * u.nodes * u.width, 4))} {u.unit} of usage"
                 for u in group]
        notes.append(f"{first.label} pooled in {prices.region}: {', '.join(parts)}; "
                     f"{len(layers)} unit layers, {plain(round(saved / used * 100, 2))} % off "
                     f"{plain(round(used, 4))} {first.unit}")
    return lines, notes


def cluster_fee_lines(prices: PriceCatalog, *, regional: bool, free_tier: bool,
                      hours: Decimal | None = None) -> list[Line]:
    """The GKE management fee for one cluster, with the free-tier credit if it applies.

    The credit is per billing account and only for zonal (and Autopilot) clusters; it is capped
    at the fee, so a zonal cluster that is the account's only one costs nothing to manage.
    """
    hours = prices.hours_per_month if hours is None else hours
    fee = prices.gke["cluster_fee_per_hour"]
    lines = [Line(f"Cluster management fee ({'regional' if regional else 'zonal'})", hours,
                  "hours", fee.usd, fee.usd * hours, fee)]
    if free_tier and not regional:
        credit = prices.gke["free_tier_credit_per_month"]
        amount = min(credit.usd, fee.usd * hours)
        lines.append(Line("GKE free tier credit (zonal, one per billing account)", Decimal(1),
                          "months", -amount, -amount, credit))
    return lines


def vertex_lines(prices: PriceCatalog, label: str, kind: str, machine_type: str,
                 gpu: Gpu | None, node_hours: Decimal) -> list[Line]:
    """Vertex node-hours of a shape and its GPU-hours, at the training or prediction rates."""
    shape(machine_type)
    mprice = prices.vertex(f"{kind}_machine", machine_type)
    lines = [Line(f"{label} ({machine_type})", node_hours, "node-hours", mprice.usd,
                  mprice.usd * node_hours, mprice)]
    if gpu:
        name = gpu_name(gpu.type)
        check_attachment(machine_type, name, gpu.count)
        gprice = prices.vertex(f"{kind}_gpu", name)
        gpu_hours = node_hours * gpu.count
        lines.append(Line(f"{label} {catalog().accelerators[name].display_name}", gpu_hours,
                          "GPU-hours", gprice.usd, gprice.usd * gpu_hours, gprice))
    return lines
