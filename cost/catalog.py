"""Price catalog snapshots: dated YAML files of unit prices, each with its source and status.

A snapshot is the only place a price lives. Machine shapes are not here (they come from
`facts.hardware`); what is here is what each shape, GPU, disk and service costs on one date.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

PRICES_DIR = Path(__file__).parent / "data" / "prices"

Pricing = Literal["on-demand", "spot", "cud-1y", "cud-3y", "flex-start"]
"""How capacity is bought: on demand, Spot VMs, 1- or 3-year commitments, or Dynamic Workload
Scheduler flex-start (GKE flex-start and queued-provisioning pools)."""
PRICING_MODELS: tuple[str, ...] = get_args(Pricing)
STATUSES = ("verified", "derived", "unverified")
"""How far a price is proven, enforced when a snapshot loads:

- `verified`: read from a first-party source (`first_party: true`, with an https URL) dated on or
  before the snapshot;
- `derived`: computed by `formula` from the prices named in `derived_from`; the loader evaluates
  the formula and checks it gives the price;
- `unverified`: anything else (third-party copies, assumptions, later figures), with a note.
"""
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OPERATORS = {"×": "*", "*": "*", "/": "/", "÷": "/", "+": "+", "-": "-", "(": "(", ")": ")"}


VERTEX_TABLES = ("training_machine", "training_gpu", "prediction_machine", "prediction_gpu",
                 "spot_training_machine", "spot_training_gpu")
"""Vertex AI price tables of a snapshot; the spot ones are optional (older snapshots lack them)."""


class CatalogError(ValueError):
    """A snapshot file that is malformed; the message names the file and the field."""


class PriceNotFound(LookupError):
    """No price for what was asked in this snapshot; the message says what is priced."""


@dataclass(frozen=True)
class Source:
    """Where prices come from: a title, a URL and whether the publisher is Google itself."""

    title: str
    url: str
    first_party: bool


@dataclass(frozen=True)
class Price:
    """One unit price with its provenance (`key` is its dotted place in the snapshot)."""

    usd: Decimal
    as_of: str
    source: str
    status: str
    note: str = ""
    key: str = ""
    formula: str = ""
    derived_from: tuple[tuple[str, Decimal], ...] = ()

    @property
    def flag(self) -> str:
        """A short marker for reports: empty when verified, else the status."""
        return "" if self.status == "verified" else self.status


@dataclass(frozen=True)
class PriceCatalog:
    """Every unit price of one snapshot (a date, one region, one currency)."""

    snapshot: str
    region: str
    currency: str
    hours_per_month: Decimal
    sources: dict[str, Source]
    sustained_use: dict[str, tuple[tuple[Decimal, ...], Price]]
    compute: dict[str, dict[str, Price]]
    gpus: dict[str, dict[str, Price]]
    unpriced_gpus: dict[str, str]
    disks: dict[str, Price]
    gke: dict[str, Price]
    vertex_training_machine: dict[str, Price]
    vertex_training_gpu: dict[str, Price]
    vertex_prediction_machine: dict[str, Price]
    vertex_prediction_gpu: dict[str, Price]
    vertex_pipeline_run: Price
    vertex_sustained_use: bool
    path: Path = field(default=Path())
    vertex_spot_training_machine: dict[str, Price] = field(default_factory=dict)
    """Custom training on Spot VMs, per node-hour (absent from older snapshots)."""
    vertex_spot_training_gpu: dict[str, Price] = field(default_factory=dict)

    def machine(self, machine_type: str, pricing: str = "on-demand") -> Price:
        """The Compute Engine price of one node-hour of a machine type."""
        return _lookup(self.compute, machine_type, pricing, f"catalog {self.snapshot}: machine")

    def gpu(self, gpu_type: str, pricing: str = "on-demand") -> Price:
        """The price of one GPU-hour attached to a Compute Engine node."""
        if gpu_type in self.unpriced_gpus:
            raise PriceNotFound(f"catalog {self.snapshot}: GPU '{gpu_type}' is not priced: "
                                f"{self.unpriced_gpus[gpu_type]}")
        return _lookup(self.gpus, gpu_type, pricing, f"catalog {self.snapshot}: GPU")

    def disk(self, disk_type: str) -> Price:
        """The price of one GB-month of a persistent disk type."""
        if disk_type not in self.disks:
            raise PriceNotFound(f"catalog {self.snapshot}: disk type '{disk_type}' is not "
                                f"priced; priced: {', '.join(sorted(self.disks))}")
        return self.disks[disk_type]

    def sud_tiers(self, family: str) -> tuple[Decimal, ...] | None:
        """Billed share of list price per quarter of the month, or None if no SUD applies."""
        entry = self.sustained_use.get(family)
        return entry[0] if entry else None

    def vertex(self, table: str, key: str) -> Price:
        """A Vertex price: table is training_machine, training_gpu, prediction_machine,
        prediction_gpu, spot_training_machine or spot_training_gpu."""
        prices: dict[str, Price] = getattr(self, f"vertex_{table}")
        if key not in prices:
            raise PriceNotFound(f"catalog {self.snapshot}: no Vertex {table.replace('_', ' ')} "
                                f"price for '{key}'; priced: {', '.join(sorted(prices))}")
        return prices[key]

    def all_prices(self) -> list[tuple[str, Price]]:
        """Every price as (dotted key, price), for listing and checks."""
        rows: list[tuple[str, Price]] = []
        for family, (_, price) in self.sustained_use.items():
            rows.append((f"sustained_use.{family}", price))
        for table_name, table in (("compute", self.compute), ("gpus", self.gpus)):
            for key, by_pricing in table.items():
                rows += [(f"{table_name}.{key}.{p}", v) for p, v in by_pricing.items()]
        rows += [(f"disks.{k}", v) for k, v in self.disks.items()]
        rows += [(f"gke.{k}", v) for k, v in self.gke.items()]
        for table in VERTEX_TABLES:
            rows += [(f"vertex.{table}.{k}", v)
                     for k, v in getattr(self, f"vertex_{table}").items()]
        rows.append(("vertex.pipeline_run", self.vertex_pipeline_run))
        return rows

    def status_counts(self) -> dict[str, int]:
        """How many prices of this snapshot have each status (every status listed, even 0)."""
        counts = Counter(price.status for _, price in self.all_prices())
        return {status: counts.get(status, 0) for status in STATUSES}


def _lookup(table: dict[str, dict[str, Price]], key: str, pricing: str, what: str) -> Price:
    if pricing not in PRICING_MODELS:
        raise PriceNotFound(f"pricing '{pricing}' is not one of {', '.join(PRICING_MODELS)}")
    if key not in table:
        raise PriceNotFound(f"{what} '{key}' is not priced; priced: {', '.join(sorted(table))}")
    if pricing not in table[key]:
        raise PriceNotFound(f"{what} '{key}' has no {pricing} price; it has: "
                            f"{', '.join(table[key])}")
    return table[key][pricing]


def _price(raw: Any, where: str, sources: dict[str, Source]) -> Price:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: expected a mapping with usd, as_of, source, status")
    missing = [k for k in ("usd", "as_of", "source", "status") if k not in raw]
    if missing:
        raise CatalogError(f"{where}: missing {', '.join(missing)}")
    if not isinstance(raw["usd"], str):
        raise CatalogError(f"{where}.usd: write prices as quoted decimal strings, got "
                           f"{raw['usd']!r}")
    usd = _decimal(raw["usd"], f"{where}.usd")
    if usd < 0:
        raise CatalogError(f"{where}.usd: must be a finite number >= 0, got {raw['usd']}")
    if not _DATE.match(str(raw["as_of"])):
        raise CatalogError(f"{where}.as_of: '{raw['as_of']}' is not a YYYY-MM-DD date")
    if raw["source"] not in sources:
        raise CatalogError(f"{where}.source: '{raw['source']}' is not in sources "
                           f"({', '.join(sorted(sources))})")
    if raw["status"] not in STATUSES:
        raise CatalogError(f"{where}.status: '{raw['status']}' is not one of "
                           f"{', '.join(STATUSES)}")
    inputs = raw.get("derived_from") or {}
    if not isinstance(inputs, dict):
        raise CatalogError(f"{where}.derived_from: expected a mapping of price name to usd")
    derived_from = tuple((str(k), _decimal(v, f"{where}.derived_from.{k}"))
                         for k, v in inputs.items())
    return Price(usd, str(raw["as_of"]), raw["source"], raw["status"], str(raw.get("note", "")),
                 key=where, formula=str(raw.get("formula", "")), derived_from=derived_from)


def _decimal(text: Any, where: str) -> Decimal:
    """A finite decimal from a quoted string, or a CatalogError naming `where`."""
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise CatalogError(f"{where}: '{text}' is not a decimal number") from None
    if not value.is_finite():
        raise CatalogError(f"{where}: must be a finite number, got {text}")
    return value


def evaluate(formula: str, inputs: dict[str, Decimal]) -> Decimal:
    """The value of a derivation formula such as ``compute.n1-standard-8.on-demand × 1.15``.

    Operators and parentheses must stand apart from names by spaces (names contain dashes); a
    name must be one of `inputs`. Only + - × / and decimal numbers are allowed, so a formula in
    a data file can never run code.

    Raises:
        ValueError: for an unknown name or anything but arithmetic.
    """
    names: dict[str, Decimal] = {}
    tokens = []
    for token in formula.replace("(", " ( ").replace(")", " ) ").split():
        if token in _OPERATORS:
            tokens.append(_OPERATORS[token])
        elif token in inputs:
            names[f"_v{len(names)}"] = inputs[token]
            tokens.append(f"_v{len(names) - 1}")
        elif re.fullmatch(r"\d+(\.\d+)?", token):
            names[f"_v{len(names)}"] = Decimal(token)
            tokens.append(f"_v{len(names) - 1}")
        else:
            raise ValueError(f"'{token}' is neither a number, an operator nor a name in "
                             f"derived_from ({', '.join(inputs) or 'empty'})")
    tree = ast.parse(" ".join(tokens), mode="eval")
    return _arith(tree.body, names)


def _arith(node: ast.expr, names: dict[str, Decimal]) -> Decimal:
    ops = {ast.Add: Decimal.__add__, ast.Sub: Decimal.__sub__, ast.Mult: Decimal.__mul__,
           ast.Div: Decimal.__truediv__}
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in ops:
        return ops[type(node.op)](_arith(node.left, names), _arith(node.right, names))
    raise ValueError("only + - × / on numbers and names are allowed")


def check_provenance(catalog: PriceCatalog) -> None:
    """Enforce what each status claims, for every price of a loaded snapshot.

    Raises:
        CatalogError: one line naming the entry, its status and what the status requires.
    """
    prices = dict(catalog.all_prices())
    for key, price in prices.items():
        where = f"{key} ({price.status})"
        if price.status == "verified":
            source = catalog.sources[price.source]
            if not source.first_party or not source.url.startswith("https://"):
                raise CatalogError(f"{where}: verified needs a first-party source with an https "
                                   f"URL; source '{price.source}' is "
                                   f"{'first-party' if source.first_party else 'third-party'}"
                                   f"{' with URL ' + source.url if source.url else ', no URL'}")
            if price.as_of > catalog.snapshot:
                raise CatalogError(f"{where}: as_of {price.as_of} is later than the snapshot "
                                   f"{catalog.snapshot}; verified needs a source dated on or "
                                   f"before it")
        elif price.status == "derived":
            if not price.formula or not price.derived_from:
                raise CatalogError(f"{where}: derived needs formula and derived_from (the "
                                   f"prices it is computed from)")
            inputs = dict(price.derived_from)
            for name, value in inputs.items():
                if name in prices and prices[name].usd != value:
                    raise CatalogError(f"{where}: derived_from {name} is {value}, but the "
                                       f"snapshot prices it at {prices[name].usd}")
            try:
                value = evaluate(price.formula, inputs)
            except (ValueError, SyntaxError) as err:
                raise CatalogError(f"{where}: formula '{price.formula}': {err}") from None
            places = -price.usd.as_tuple().exponent  # type: ignore[operator]
            if abs(value - price.usd) > Decimal(5) / Decimal(10) ** (places + 1):
                raise CatalogError(f"{where}: formula '{price.formula}' gives "
                                   f"{value.normalize():f}, not {price.usd}")
        elif not price.note.strip():
            raise CatalogError(f"{where}: an unverified price needs a note saying where the "
                               f"figure comes from and why it is not verified")


def _sources(raw: Any) -> dict[str, Source]:
    """The snapshot's sources: each a mapping of title, url (may be empty) and first_party."""
    if not isinstance(raw, dict):
        raise CatalogError("sources: expected a mapping")
    out = {}
    for key, entry in raw.items():
        if not isinstance(entry, dict) or "title" not in entry or not isinstance(
                entry.get("first_party"), bool):
            raise CatalogError(f"sources.{key}: expected {{title, url, first_party: true|false}}"
                               f", got {entry!r}")
        out[str(key)] = Source(str(entry["title"]), str(entry.get("url") or ""),
                               entry["first_party"])
    return out


def _table(raw: Any, where: str, sources: dict[str, Source]) -> dict[str, Price]:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: expected a mapping")
    return {str(k): _price(v, f"{where}.{k}", sources) for k, v in raw.items()}


def _by_pricing(raw: Any, where: str, sources: dict[str, Source]) -> dict[str, dict[str, Price]]:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: expected a mapping")
    out: dict[str, dict[str, Price]] = {}
    for key, prices in raw.items():
        table = _table(prices, f"{where}.{key}", sources)
        bad = sorted(set(table) - set(PRICING_MODELS))
        if bad:
            raise CatalogError(f"{where}.{key}: unknown pricing {', '.join(bad)}; allowed: "
                               f"{', '.join(PRICING_MODELS)}")
        out[str(key)] = table
    return out


def load_catalog_file(path: Path) -> PriceCatalog:
    """Read and check one snapshot file.

    Raises:
        CatalogError: naming the file and the field, for any malformed entry.
    """
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise CatalogError(f"{path}: cannot read: {err}") from None
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: top level must be a mapping")
    try:
        sources = _sources(raw["sources"])
        sud = {}
        for family, entry in (raw.get("sustained_use") or {}).items():
            tiers = tuple(Decimal(t) for t in entry["tiers"])
            if len(tiers) != 4 or any(not Decimal(0) <= t <= Decimal(1) for t in tiers):
                raise CatalogError(f"{path}: sustained_use.{family}.tiers: four shares in [0, 1]")
            sud[str(family)] = (tiers, _price({**entry, "usd": "0"},
                                              f"sustained_use.{family}", sources))
        vertex = raw["vertex"]
        catalog = PriceCatalog(
            snapshot=str(raw["snapshot"]),
            region=str(raw["region"]),
            currency=str(raw["currency"]),
            hours_per_month=Decimal(str(raw["hours_per_month"])),
            sources=sources,
            sustained_use=sud,
            compute=_by_pricing(raw["compute"], "compute", sources),
            gpus=_by_pricing(raw["gpus"], "gpus", sources),
            unpriced_gpus={str(k): str(v) for k, v in (raw.get("unpriced_gpus") or {}).items()},
            disks=_table(raw["disks"], "disks", sources),
            gke=_table(raw["gke"], "gke", sources),
            vertex_training_machine=_table(vertex["training_machine"],
                                           "vertex.training_machine", sources),
            vertex_training_gpu=_table(vertex["training_gpu"], "vertex.training_gpu", sources),
            vertex_prediction_machine=_table(vertex["prediction_machine"],
                                             "vertex.prediction_machine", sources),
            vertex_prediction_gpu=_table(vertex["prediction_gpu"], "vertex.prediction_gpu",
                                         sources),
            vertex_pipeline_run=_price(vertex["pipeline_run"], "vertex.pipeline_run", sources),
            vertex_sustained_use=bool(vertex.get("sustained_use", False)),
            path=Path(path),
            vertex_spot_training_machine=_table(vertex.get("spot_training_machine") or {},
                                                "vertex.spot_training_machine", sources),
            vertex_spot_training_gpu=_table(vertex.get("spot_training_gpu") or {},
                                            "vertex.spot_training_gpu", sources),
        )
    except KeyError as err:
        raise CatalogError(f"{path}: missing key {err}") from None
    except CatalogError as err:
        raise CatalogError(f"{path}: {err}" if str(path) not in str(err) else str(err)) from None
    if not _DATE.match(catalog.snapshot):
        raise CatalogError(f"{path}: snapshot '{catalog.snapshot}' is not a YYYY-MM-DD date")
    for key in ("cluster_fee_per_hour", "free_tier_credit_per_month"):
        if key not in catalog.gke:
            raise CatalogError(f"{path}: gke.{key} is missing")
    try:
        check_provenance(catalog)
    except CatalogError as err:
        raise CatalogError(f"{path}: {err}") from None
    return catalog


def snapshots(directory: Path = PRICES_DIR) -> list[str]:
    """The dates of the shipped snapshots (`<date>.yaml`, the default region), oldest first."""
    return sorted(p.stem for p in directory.glob("*.yaml") if _DATE.match(p.stem))


_REGIONAL = re.compile(r"^(\d{4}-\d{2}-\d{2})\.([a-z]+-[a-z]+\d+)$")
"""`<date>.<region>.yaml`: the same date's prices in another region."""


def regions(date: str, directory: Path = PRICES_DIR) -> list[str]:
    """The regions priced on `date`: the default snapshot's region first, then the others."""
    others = sorted(m.group(2) for p in directory.glob(f"{date}.*.yaml")
                    if (m := _REGIONAL.match(p.stem)) and m.group(1) == date)
    if not (directory / f"{date}.yaml").exists():
        return others
    default = str((yaml.safe_load((directory / f"{date}.yaml").read_text()) or {}).get("region"))
    return [default, *(r for r in others if r != default)]


@cache
def load_catalog(snapshot: str | None = None, region: str | None = None) -> PriceCatalog:
    """A shipped snapshot by date (the newest when None) and region (the default file's when
    None; another region's is `<date>.<region>.yaml`).

    Raises:
        PriceNotFound: if no snapshot has that date or region (the message lists those there
            are).
        CatalogError: if a regional file says another date or region than its name.
    """
    dates = snapshots()
    date = snapshot or dates[-1]
    if date not in dates:
        raise PriceNotFound(f"no price snapshot '{date}'; snapshots: {', '.join(dates)}")
    default = load_catalog_file(PRICES_DIR / f"{date}.yaml")
    if region is None or region == default.region:
        return default
    if not _REGIONAL.match(f"{date}.{region}"):
        raise PriceNotFound(f"'{region}' is not a region name such as us-central1; regions "
                            f"priced on {date}: {', '.join(regions(date))}")
    path = PRICES_DIR / f"{date}.{region}.yaml"
    if not path.exists():
        raise PriceNotFound(f"no price snapshot {date} for region '{region}'; regions priced "
                            f"on {date}: {', '.join(regions(date))}")
    regional = load_catalog_file(path)
    if (regional.snapshot, regional.region) != (date, region):
        raise CatalogError(f"{path}: says snapshot {regional.snapshot} in {regional.region}, "
                           f"but its name is for {date} in {region}")
    return regional
