"""Machine quote: one node's monthly price on GKE, and the same shape on Vertex AI."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from cost.catalog import PRICING_MODELS, PriceCatalog, PriceNotFound
from cost.money import cents
from cost.pricing import Bill, PricingError, node_lines, vertex_lines
from cost.scenario import GPU_COUNT_RANGE, Gpu


class QuoteError(ValueError):
    """A quote request with a bad argument; the message names the option."""


def parse_gpu(spec: str | None) -> Gpu | None:
    """``TYPE:COUNT`` (count defaults to 1) to a `Gpu`.

    Raises:
        QuoteError: naming ``--gpu``, the value and the allowed counts.
    """
    if not spec:
        return None
    name, _, count = spec.partition(":")
    if not name or (count and not count.isdigit()):
        raise QuoteError(f"--gpu: '{spec}' is not TYPE:COUNT (e.g. nvidia-tesla-t4:1)")
    low, high = GPU_COUNT_RANGE
    n = int(count or 1)
    if not low <= n <= high:
        raise QuoteError(f"--gpu: '{spec}' has COUNT {n}; COUNT must be between {low} and {high}")
    return Gpu(type=name, count=n)


def built_in_gpus(machine_type: str) -> Gpu | None:
    """The GPUs a shape comes with (G2: its L4s), which a quote without --gpu still bills."""
    from facts.hardware import UnknownMachineType, catalog

    try:
        machine = catalog().machine(machine_type)
    except UnknownMachineType:
        return None  # node_lines reports the unknown machine type
    family = catalog().families[machine.family]
    if not family.fixed_gpus:
        return None
    return Gpu(type=family.accelerators_attachable[0], count=family.fixed_gpus[machine.vcpus])


def quote(prices: PriceCatalog, machine_type: str, gpu_spec: str | None, hours: str,
          pricing: str) -> dict[str, Bill]:
    """Bills for one GKE node and the same shape as Vertex training and prediction."""
    if pricing not in PRICING_MODELS:
        raise QuoteError(f"--pricing: '{pricing}' is not one of {', '.join(PRICING_MODELS)}")
    try:
        h = Decimal(hours)
    except InvalidOperation:
        raise QuoteError(f"--hours: '{hours}' is not a number") from None
    if not h.is_finite() or not 0 <= h <= prices.hours_per_month:
        raise QuoteError(f"--hours: {hours} must be between 0 and {prices.hours_per_month}")
    gpu = parse_gpu(gpu_spec) or built_in_gpus(machine_type)
    try:
        gke = Bill(f"GKE node ({pricing})").extend(node_lines(
            prices, machine_type, nodes=1, hours=h, pricing=pricing,
            gpu_type=gpu.type if gpu else None, gpu_count=gpu.count if gpu else 0))
    except (PricingError, PriceNotFound) as err:
        raise QuoteError(str(err)) from None
    out = {"gke": gke}
    for kind, title in (("training", "Vertex custom training"),
                        ("prediction", "Vertex online prediction")):
        bill = Bill(title)
        try:
            bill.lines = vertex_lines(prices, title, kind, machine_type, gpu, h)
        except (PricingError, PriceNotFound) as err:
            bill.notes.append(f"not priced: {err}")
        out[kind] = bill
    return out


def quote_json(prices: PriceCatalog, bills: dict[str, Bill]) -> dict[str, Any]:
    return {"catalog": prices.snapshot, "region": prices.region, "currency": prices.currency,
            **{k: {"title": b.name, "monthly": str(cents(b.monthly)) if b.lines else None,
                   "components": [line.to_json() for line in b.lines], "notes": b.notes}
               for k, b in bills.items()}}
