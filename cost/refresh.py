"""Building a new dated price snapshot from Cloud Billing Catalog rates.

The newest existing snapshot is the template: every price it has is either refreshed from the
API's rates (direct SKU prices are `verified`; machine prices = vCPUs × core rate + GB × RAM rate
are `derived`, with the SKU ids in the note) or carried over as it is, with its own date,
source and status, when no SKU gives it (GKE free tier, pipeline run fee, rules such as
sustained-use tiers). The result is written only after the catalog's own loader has read it.
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from cost.billing import Rate, Selection, load_rules
from cost.catalog import VERTEX_TABLES, CatalogError, evaluate, load_catalog_file, snapshots

# Snapshot key prefix -> the rate names its prices come from ({key} is the machine or GPU).
_MACHINE_TABLES = {
    "compute": ("{family}-core", "{family}-ram"),
    "vertex.training_machine": ("vertex-training-core", "vertex-training-ram"),
    "vertex.prediction_machine": ("vertex-prediction-core", "vertex-prediction-ram"),
}
_GPU_TABLES = {
    "gpus": "gpu:{key}",
    "vertex.training_gpu": "vertex-training-gpu:{key}",
    "vertex.prediction_gpu": "vertex-prediction-gpu:{key}",
}


BILLING_API_URL = "https://cloudbilling.googleapis.com/v1/services"
"""Google's own price list: rates read from it are first-party, so they may be `verified`."""


class RefreshError(ValueError):
    """The snapshot cannot be built or written; the message says why and what to do."""


@dataclass
class Refreshed:
    """A built snapshot: its YAML text and what came from where."""

    date: str
    text: str
    base: str
    updated: list[tuple[str, str, str]] = field(default_factory=list)
    carried: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def _fmt(usd: Decimal) -> str:
    return format(usd.normalize(), "f")


def _direct(rate: Rate, day: str, source: str) -> dict[str, Any]:
    ids = ", ".join(rate.sku_ids)
    return {"usd": _fmt(rate.usd), "as_of": day, "source": source, "status": "verified",
            "note": f"SKU {ids}: {' / '.join(rate.descriptions)}, per {rate.unit}, effective "
                    f"{rate.effective}"}


def _machine(machine: str, core: Rate, ram: Rate, day: str, source: str) -> dict[str, Any]:
    from facts.hardware import catalog

    shape = catalog().machine(machine)
    vcpus = Decimal(shape.vcpus)
    memory = Decimal(str(shape.memory_gb))
    usd = vcpus * core.usd + memory * ram.usd
    core_name, ram_name = f"sku:{core.sku_ids[0]}", f"sku:{ram.sku_ids[0]}"
    return {"usd": _fmt(usd), "as_of": day, "source": source, "status": "derived",
            "formula": f"{shape.vcpus} × {core_name} + {_fmt(memory)} × {ram_name}",
            "derived_from": {core_name: _fmt(core.usd), ram_name: _fmt(ram.usd)},
            "note": f"{shape.vcpus} vCPU × {_fmt(core.usd)} (SKU {', '.join(core.sku_ids)}) + "
                    f"{_fmt(memory)} GB × {_fmt(ram.usd)} (SKU {', '.join(ram.sku_ids)}); "
                    "shape from facts/data/hardware.yaml"}


def _family(machine: str) -> str:
    from facts.hardware import catalog

    return catalog().machine(machine).family


def _refresh_entry(path: str, key: str, pricing: str | None, selection: Selection, day: str,
                   source: str) -> dict[str, Any] | None:
    """The new price for one snapshot entry, or None when the rates do not give it."""
    pricing_model = pricing or "on-demand"
    if path.startswith("vertex.") and path in _MACHINE_TABLES and _family(key) != "n1":
        return None  # the Vertex AI rules read N1 core and RAM SKUs only
    if path in _MACHINE_TABLES:
        core_name, ram_name = (n.format(family=_family(key)) for n in _MACHINE_TABLES[path])
        core = selection.rate(core_name, pricing_model)
        ram = selection.rate(ram_name, pricing_model)
        return _machine(key, core, ram, day, source) if core and ram else None
    if path in _GPU_TABLES:
        rate = selection.rate(_GPU_TABLES[path].format(key=key), pricing_model)
    elif path == "disks":
        rate = selection.rate(f"disk:{key}", pricing_model)
    elif path == "gke" and key == "cluster_fee_per_hour":
        rate = selection.rate("gke-cluster-fee", pricing_model)
    else:
        rate = None
    return _direct(rate, day, source) if rate else None


def _entries(raw: dict[str, Any]) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    """Every price entry of a raw snapshot as (table path, key, pricing or None, the mapping)."""
    rows: list[tuple[str, str, str | None, dict[str, Any]]] = []
    for table in ("compute", "gpus"):
        for key, by_pricing in raw[table].items():
            rows += [(table, key, p, v) for p, v in by_pricing.items()]
    rows += [("disks", k, None, v) for k, v in raw["disks"].items()]
    rows += [("gke", k, None, v) for k, v in raw["gke"].items()]
    for table in VERTEX_TABLES:
        rows += [(f"vertex.{table}", k, None, v)
                 for k, v in (raw["vertex"].get(table) or {}).items()]
    rows.append(("vertex", "pipeline_run", None, raw["vertex"]["pipeline_run"]))
    for family, entry in (raw.get("sustained_use") or {}).items():
        rows.append(("sustained_use", family, None, entry))
    return rows


def _dotted(path: str, key: str, pricing: str | None) -> str:
    return ".".join(p for p in (path, key, pricing) if p)


def build_snapshot(selection: Selection, base_path: Path, day: date, origin: str) -> Refreshed:
    """A new snapshot: the base snapshot's entries, refreshed where the rates give them.

    Args:
        selection: rates for the base snapshot's region on `day`.
        base_path: the snapshot whose keys, sources and carried-over prices are used.
        day: the new snapshot's date.
        origin: where the rates came from (the API, or the recordings' directory), for the
            source's text.

    Raises:
        RefreshError: when the rates give no price at all (nothing would be refreshed).
    """
    raw = yaml.safe_load(base_path.read_text())
    new = copy.deepcopy(raw)
    stamp = day.isoformat()
    source = f"billing-catalog-{stamp}"
    result = Refreshed(date=stamp, text="", base=str(raw["snapshot"]))
    used_sources: set[str] = set()
    for path, key, pricing, entry in _entries(raw):
        target = _find(new, path, key, pricing)
        fresh = (None if path in ("sustained_use", "vertex")
                 else _refresh_entry(path, key, pricing, selection, stamp, source))
        if fresh is None:
            used_sources.add(entry["source"])
            result.carried.append((_dotted(path, key, pricing), entry))
            continue
        target.clear()
        target.update(fresh)
        result.updated.append((_dotted(path, key, pricing), fresh["usd"], fresh["status"]))
    _rederive(new, result, source)
    if not result.updated:
        raise RefreshError(f"no SKU gave any price for {raw['region']} on {stamp}; nothing "
                           f"written (all would be copies of snapshot {result.base})")
    rules = load_rules()
    sources: dict[str, Any] = {source: {
        "title": f"Cloud Billing Catalog API list_skus {origin}, services "
                 f"{', '.join(rules.services.values())}, prices in effect on {stamp} in "
                 f"{raw['region']}; the SKU of each price is in its note ({rules.source})",
        "url": BILLING_API_URL, "first_party": True}}
    sources.update({k: v for k, v in raw["sources"].items() if k in used_sources})
    new["sources"] = sources
    new["snapshot"] = stamp
    skus = sorted({(sku, desc) for sku, desc in _skus(selection)})
    result.text = render(new, base=result.base, skus=skus)
    return result


def _rederive(new: dict[str, Any], result: Refreshed, source: str) -> None:
    """Carried-over derived prices whose inputs were refreshed to other values, computed again
    from the new inputs by their own formula (a G2 machine from a refreshed L4 price, say), so
    the snapshot stays consistent. Such a price takes the refresh's source and date and names the
    SKUs of the inputs that moved; one whose inputs kept their values stays carried as it was."""
    fresh = {key: Decimal(usd) for key, usd, _ in result.updated}
    still_carried = []
    for key, entry in result.carried:
        inputs = {k: Decimal(str(v)) for k, v in (entry.get("derived_from") or {}).items()}
        moved = sorted(k for k in inputs if k in fresh and fresh[k] != inputs[k])
        if entry.get("status") != "derived" or not moved:
            still_carried.append((key, entry))
            continue
        values = inputs | {k: fresh[k] for k in moved}
        skus = sorted({sku for k in moved
                       for sku in _SKU_ID.findall(str(_find_dotted(new, k).get("note", "")))})
        entry = {**entry, "derived_from": {k: _fmt(v) for k, v in values.items()},
                 "usd": _fmt(evaluate(entry["formula"], values)), "as_of": result.date,
                 "source": source,
                 "note": f"{entry.get('note', '')}; computed again on {result.date} from "
                         f"{', '.join(moved)} (SKUs {', '.join(skus) or 'none named'})"}
        target = _find_dotted(new, key)
        target.clear()
        target.update(entry)
        result.updated.append((key, entry["usd"], entry["status"]))
    result.carried[:] = still_carried


_SKU_ID = re.compile(r"\b[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}\b")
"""A Cloud Billing Catalog SKU id, as refreshed prices name them in their notes."""


def _find_dotted(raw: dict[str, Any], key: str) -> dict[str, Any]:
    """The entry of a raw snapshot at a dotted key such as ``compute.g2-standard-8.spot``."""
    for path, name, pricing, entry in _entries(raw):
        if _dotted(path, name, pricing) == key:
            return entry
    raise KeyError(key)


def _skus(selection: Selection) -> list[tuple[str, str]]:
    return [(s, d) for rate in selection.rates.values()
            for s, d in zip(rate.sku_ids, rate.descriptions, strict=True)]


def _find(raw: dict[str, Any], path: str, key: str, pricing: str | None) -> dict[str, Any]:
    node: Any = raw
    for part in path.split("."):
        node = node[part]
    node = node[key]
    return node[pricing] if pricing else node


def _flow(entry: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {json.dumps(v, ensure_ascii=False)}"
                           for k, v in entry.items()) + "}"


def render(raw: dict[str, Any], base: str, skus: list[tuple[str, str]]) -> str:
    """The snapshot as YAML in the shipped files' layout (one line per price)."""
    lines = [
        f"# Price catalog snapshot {raw['snapshot']}, {raw['region']}, {raw['currency']}, built "
        "by `mlp cost refresh-prices`",
        f"# from the Cloud Billing Catalog on the keys of snapshot {base}. Prices no SKU gives "
        "are carried over",
        "# from it with their own as_of, source and status (schema: see 2026-07-30.yaml).",
        f"snapshot: {json.dumps(raw['snapshot'])}",
        f"region: {raw['region']}",
        f"currency: {raw['currency']}",
        f"hours_per_month: {raw['hours_per_month']}",
        "",
        "sources:",
        *(f"  {k}: {_flow(v)}" for k, v in raw["sources"].items()),
        "",
        "sustained_use:",
        *(f"  {k}: {_flow(v)}" for k, v in (raw.get("sustained_use") or {}).items()),
        "",
    ]
    for table in ("compute", "gpus"):
        lines.append(f"{table}:")
        for key, by_pricing in raw[table].items():
            lines.append(f"  {key}:")
            lines += [f"    {p}: {_flow(v)}" for p, v in by_pricing.items()]
    lines.append("unpriced_gpus:" + ("" if raw.get("unpriced_gpus") else " {}"))
    lines += [f"  {k}: {json.dumps(v, ensure_ascii=False)}"
              for k, v in (raw.get("unpriced_gpus") or {}).items()]
    for table in ("disks", "gke"):
        lines.append(f"{table}:")
        lines += [f"  {k}: {_flow(v)}" for k, v in raw[table].items()]
    lines.append("vertex:")
    for table in VERTEX_TABLES:
        if table not in raw["vertex"]:
            continue
        lines.append(f"  {table}:")
        lines += [f"    {k}: {_flow(v)}" for k, v in raw["vertex"][table].items()]
    lines.append(f"  pipeline_run: {_flow(raw['vertex']['pipeline_run'])}")
    lines.append(f"  sustained_use: {json.dumps(bool(raw['vertex'].get('sustained_use')))}")
    lines += ["", "# The Cloud Billing Catalog SKUs the refreshed prices were read from.",
              "billing_skus:" + ("" if skus else " {}")]
    lines += [f"  {json.dumps(s)}: {json.dumps(d, ensure_ascii=False)}" for s, d in skus]
    return "\n".join(lines) + "\n"


def base_snapshot(directory: Path, day: date) -> Path:
    """The template of the new snapshot: the newest one before `day`, else the oldest after it.

    Raises:
        RefreshError: when the directory has no other snapshot.
    """
    dates = [d for d in snapshots(directory) if d != day.isoformat()]
    if not dates:
        raise RefreshError(f"{directory}: no existing snapshot to take keys and carried-over "
                           "prices from")
    earlier = [d for d in dates if d < day.isoformat()]
    return directory / f"{(earlier[-1] if earlier else dates[0])}.yaml"


def write_snapshot(refreshed: Refreshed, directory: Path, force: bool = False) -> Path:
    """Check the built snapshot with the catalog's loader, then write `<date>.yaml`.

    The text goes to a hidden temporary file in the same directory, is loaded and compared with
    the base snapshot's keys, and only then renamed into place, so a failed check leaves the
    directory as it was.

    Raises:
        RefreshError: when the file exists (and not `force`), or the snapshot does not load.
    """
    target = directory / f"{refreshed.date}.yaml"
    if target.exists() and not force:
        raise RefreshError(f"--date: snapshot {target} exists; use --force to replace it")
    base = load_catalog_file(directory / f"{refreshed.base}.yaml")
    temp = directory / f".{refreshed.date}.yaml.tmp"
    temp.write_text(refreshed.text)
    try:
        built = load_catalog_file(temp)
        missing = {k for k, _ in base.all_prices()} ^ {k for k, _ in built.all_prices()}
        if missing:
            raise RefreshError(f"built snapshot differs from {refreshed.base} in keys: "
                               f"{', '.join(sorted(missing))}")
        if built.snapshot != refreshed.date:
            raise RefreshError(f"built snapshot says {built.snapshot}, not {refreshed.date}")
    except CatalogError as err:
        temp.unlink()
        raise RefreshError(f"built snapshot does not load: {err}") from None
    except RefreshError:
        temp.unlink()
        raise
    os.replace(temp, target)
    return target

