"""Bill lines and the unit arithmetic every model shares: nodes, GPUs, disks, the GKE fee.

A `Line` is one cost component of one resource, as on a cloud bill: a quantity, its unit, a unit
price and the monthly amount (unrounded). Sustained-use discounts appear as their own negative
line so a reader can check the list price and the discount separately.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal

from cost.catalog import Price, PriceCatalog
from cost.money import ZERO, cents, plain
from facts.hardware import AttachmentError, MachineShape, UnknownMachineType, catalog


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
