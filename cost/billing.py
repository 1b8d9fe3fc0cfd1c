"""Reading unit rates from the Cloud Billing Catalog API.

Fetching and parsing are apart: `fetch_skus` drains the client's pager (the pager follows page
tokens; every page is read), and `select_rates` turns any iterable of `Sku` objects into the
rates of one region and date, by the rules in `data/billing_skus.yaml`. `recorded_client` is a
real `CloudCatalogClient` whose transport answers from recorded responses, so the whole path,
pager included, runs offline.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

SKU_RULES_PATH = Path(__file__).parent / "data" / "billing_skus.yaml"

# The API reads time ranges in this zone and wants them inside one calendar month of it.
_BILLING_TZ = ZoneInfo("America/Los_Angeles")
_MULTI_REGIONAL = "MULTI_REGIONAL"


class BillingError(ValueError):
    """Responses that cannot be turned into rates safely; the message names the SKUs."""


class NotInEffect(BillingError):
    """A SKU whose first price starts after the day asked for."""


@dataclass(frozen=True)
class RateRule:
    """One rate and the SKUs that give it."""

    rate: str
    pricing: str
    service: str
    unit: str
    patterns: tuple[str, ...]
    allow_global: bool = False


@dataclass(frozen=True)
class SkuRules:
    """Everything in `billing_skus.yaml`, with the `{gpu}` rules expanded."""

    source: str
    services: dict[str, str]
    usage_types: dict[str, str]
    rules: tuple[RateRule, ...]


@dataclass(frozen=True)
class Rate:
    """A unit price read from one or more SKUs that agree on it."""

    usd: Decimal
    unit: str
    sku_ids: tuple[str, ...]
    descriptions: tuple[str, ...]
    effective: str


@dataclass
class Selection:
    """The rates found for one region and date, and why every other matching SKU was left."""

    rates: dict[tuple[str, str], Rate] = field(default_factory=dict)
    ignored: list[tuple[str, str, str]] = field(default_factory=list)

    def rate(self, rate: str, pricing: str) -> Rate | None:
        """The rate, or None when no SKU gave it."""
        return self.rates.get((rate, pricing))


@cache
def load_rules(path: Path = SKU_RULES_PATH) -> SkuRules:
    """Read the SKU rules, expanding each `{gpu}` rule to one rule per GPU."""
    raw = yaml.safe_load(Path(path).read_text())
    gpu_names: dict[str, str] = raw["gpu_names"]
    rules: list[RateRule] = []
    for entry in raw["rates"]:
        expansions = gpu_names.items() if "{gpu}" in entry["rate"] else [("", "")]
        for gpu, name in expansions:
            rules.append(RateRule(
                rate=entry["rate"].replace("{gpu}", gpu),
                pricing=entry["pricing"],
                service=entry["service"],
                unit=entry["unit"],
                patterns=tuple(p.replace("{name}", name) for p in entry["match"]),
                allow_global=bool(entry.get("global", False)),
            ))
    return SkuRules(str(raw["source"]), dict(raw["services"]), dict(raw["usage_types"]),
                    tuple(rules))


def time_range(day: date, today: date) -> dict[str, datetime]:
    """The list_skus time range asking for prices in effect on a past day; {} for today.

    Without a range the API returns the latest prices; with one it returns every price version
    in it, and `select_rates` picks the one in effect on the day.
    """
    if day >= today:
        return {}
    start = datetime.combine(day, time(0), _BILLING_TZ)
    end = datetime.combine(day + timedelta(days=1), time(0), _BILLING_TZ) - timedelta(seconds=1)
    return {"start_time": start, "end_time": end}


def fetch_skus(client: Any, service_id: str, day: date, today: date,
               record: Path | None = None) -> list[Any]:
    """Every SKU of one service: the pager is drained, so every page is requested.

    Args:
        client: a `CloudCatalogClient` (or anything whose `list_skus(request=...)` returns an
            iterable of `Sku`, with `.pages` when recording).
        service_id: e.g. "6F81-5844-456A".
        day: the snapshot date; a past day asks for the prices in effect then.
        today: the current date, to tell a past day from the present.
        record: if given, each page is also written to `<record>/<service_id>/page-<n>.json` in
            the form `recorded_client` reads.
    """
    from facts.progress import StepProgress

    request = {"parent": f"services/{service_id}", **time_range(day, today)}
    pager = client.list_skus(request=request)
    if record is None:
        with StepProgress(f"SKUs of {service_id}") as bar:
            skus = []
            for sku in pager:
                skus.append(sku)
                bar.advance()
            return skus
    from google.cloud.billing_v1 import types

    folder = Path(record) / service_id
    folder.mkdir(parents=True, exist_ok=True)
    skus: list[Any] = []
    token = ""
    with StepProgress(f"pages of {service_id}") as bar:
        for number, page in enumerate(pager.pages, 1):
            entry = {"request": {"parent": request["parent"], "pageToken": token},
                     "response": json.loads(types.ListSkusResponse.to_json(page))}
            (folder / f"page-{number}.json").write_text(json.dumps(entry, indent=2) + "\n")
            skus += list(page.skus)
            token = page.next_page_token
            bar.advance(f"{len(skus)} SKUs")
    return skus


def _usd(money: Any) -> Decimal:
    return Decimal(int(money.units)) + Decimal(int(money.nanos)) / Decimal(10**9)


def unit_price(sku: Any, day: date) -> tuple[Decimal, str, str, datetime]:
    """The list price per usage unit in effect on `day`: (usd, unit, currency, effective time).

    The pricing version is the latest one effective by the end of the day in the API's time
    zone (America/Los_Angeles). Tiers: a
    leading free tier is an allowance and skipped; the paid tiers must agree, since a rate that
    depends on volume is not a list price.

    Raises:
        NotInEffect: when no version is in effect yet on that day.
        BillingError: naming the SKU, when paid tiers differ.
    """
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), _BILLING_TZ)
    versions = sorted((p for p in sku.pricing_info if p.effective_time < end_of_day),
                      key=lambda p: p.effective_time)
    if not versions:
        raise NotInEffect(f"no price in effect on {day}")
    info = versions[-1]
    expression = info.pricing_expression
    tiers = sorted(expression.tiered_rates, key=lambda t: t.start_usage_amount)
    if not tiers:
        raise BillingError(f"SKU {sku.sku_id} ({sku.description}): no tiered rates")
    prices = [_usd(t.unit_price) for t in tiers]
    paid = prices[1:] if len(prices) > 1 and prices[0] == 0 else prices
    if len(set(paid)) > 1:
        raise BillingError(f"SKU {sku.sku_id} ({sku.description}): tiered rates "
                           f"{', '.join(map(str, prices))} depend on usage; not a list price")
    return paid[0], expression.usage_unit, tiers[0].unit_price.currency_code, info.effective_time


def _region_reason(sku: Any, rule: RateRule, region: str) -> str | None:
    """Why a SKU does not apply to the region, or None when it does."""
    geo = sku.geo_taxonomy.type_.name if sku.geo_taxonomy else ""
    if geo == _MULTI_REGIONAL:
        return f"multi-region SKU ({', '.join(sku.geo_taxonomy.regions)})"
    regions = list(sku.service_regions)
    if region in regions or (rule.allow_global and regions == ["global"]):
        return None
    return f"not sold in {region} ({', '.join(regions)})"


def _matching_rule(sku: Any, service: str, rules: SkuRules) -> RateRule | None:
    usage_type = sku.category.usage_type
    for rule in rules.rules:
        if rule.service != service or rules.usage_types[rule.pricing] != usage_type:
            continue
        if any(fnmatch.fnmatchcase(sku.description, p) for p in rule.patterns):
            return rule
    return None


def select_rates(skus_by_service: dict[str, Iterable[Any]], region: str, day: date,
                 currency: str = "USD", rules: SkuRules | None = None) -> Selection:
    """Map SKUs to the rates of one region on one day.

    Args:
        skus_by_service: SKUs keyed by service name as in the rules (compute, gke, vertex).
        region: e.g. "us-central1".
        day: prices in effect on this day.
        currency: the catalog's currency; a SKU priced in another is an error.
        rules: the SKU rules (default: the shipped ones).

    Raises:
        BillingError: two SKUs give one rate at different prices, a unit or currency is not the
            expected one, or a matched SKU's tiers are ambiguous.
    """
    rules = rules or load_rules()
    found: dict[tuple[str, str], list[tuple[Any, Decimal, str, datetime]]] = {}
    selection = Selection()
    for service, skus in skus_by_service.items():
        for sku in skus:
            rule = _matching_rule(sku, service, rules)
            if rule is None:
                continue
            reason = _region_reason(sku, rule, region)
            if reason:
                selection.ignored.append((sku.sku_id, sku.description, reason))
                continue
            try:
                usd, unit, money, effective = unit_price(sku, day)
            except NotInEffect as err:
                selection.ignored.append((sku.sku_id, sku.description, str(err)))
                continue
            if unit != rule.unit:
                raise BillingError(f"SKU {sku.sku_id} ({sku.description}): priced per '{unit}', "
                                   f"expected '{rule.unit}' for {rule.rate} {rule.pricing}")
            if money != currency:
                raise BillingError(f"SKU {sku.sku_id} ({sku.description}): priced in {money}, "
                                   f"the catalog is in {currency}")
            found.setdefault((rule.rate, rule.pricing), []).append((sku, usd, unit, effective))
    for key, hits in found.items():
        prices = {usd for _, usd, _, _ in hits}
        if len(prices) > 1:
            listed = "; ".join(f"{s.sku_id} '{s.description}' {usd}" for s, usd, _, _ in hits)
            raise BillingError(f"rate {key[0]} {key[1]} in {region}: SKUs disagree: {listed}")
        hits.sort(key=lambda h: h[0].sku_id)
        selection.rates[key] = Rate(
            usd=hits[0][1], unit=hits[0][2],
            sku_ids=tuple(h[0].sku_id for h in hits),
            descriptions=tuple(h[0].description for h in hits),
            effective=max(h[3] for h in hits).date().isoformat())
    return selection


# Recorded responses ---------------------------------------------------------------------------


def _recorded_pages(directory: Path) -> dict[tuple[str, str], Any]:
    """Recorded `ListSkusResponse` pages keyed by (parent, page token)."""
    from google.cloud.billing_v1 import types

    pages: dict[tuple[str, str], Any] = {}
    for path in sorted(Path(directory).glob("*/*.json")):
        raw = json.loads(path.read_text())
        try:
            key = (raw["request"]["parent"], raw["request"].get("pageToken", ""))
            response = types.ListSkusResponse.from_json(json.dumps(raw["response"]))
        except (KeyError, TypeError, ValueError) as err:
            raise BillingError(f"{path}: not a recorded list_skus page ({err})") from None
        if key in pages:
            raise BillingError(f"{path}: a second recording of {key[0]} page '{key[1]}'")
        pages[key] = response
    if not pages:
        raise BillingError(f"{directory}: no recorded pages (<service-id>/<page>.json)")
    return pages


def recorded_client(directory: Path, calls: list[tuple[str, str]] | None = None) -> Any:
    """A real `CloudCatalogClient` answering list_skus from recorded pages in `directory`.

    Each file `<service-id>/<name>.json` holds {"request": {"parent", "pageToken"},
    "response": <ListSkusResponse JSON>}. A request nobody recorded fails as the API would
    fail on a bad token, so a dropped page cannot pass unnoticed.

    Args:
        directory: the recordings.
        calls: if given, every (parent, page token) requested is appended to it.
    """
    from google.api_core import exceptions
    from google.api_core.gapic_v1.client_info import DEFAULT_CLIENT_INFO
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.billing_v1 import CloudCatalogClient
    from google.cloud.billing_v1.services.cloud_catalog.transports.base import (
        CloudCatalogTransport,
    )

    pages = _recorded_pages(directory)

    class RecordedTransport(CloudCatalogTransport):
        """Serves list_skus from the recordings; nothing goes over the network."""

        def __init__(self) -> None:
            super().__init__(credentials=AnonymousCredentials())
            self._prep_wrapped_messages(DEFAULT_CLIENT_INFO)

        def _list_skus(self, request: Any, **_: Any) -> Any:
            key = (request.parent, request.page_token)
            if calls is not None:
                calls.append(key)
            if key not in pages:
                raise exceptions.InvalidArgument(
                    f"no recorded response for {key[0]} page token '{key[1]}'")
            return pages[key]

        @property
        def list_skus(self) -> Callable[..., Any]:
            return self._list_skus

        @property
        def list_services(self) -> Callable[..., Any]:
            return self._list_services

        def _list_services(self, request: Any, **_: Any) -> Any:
            raise exceptions.Unimplemented("only list_skus is recorded")

        @property
        def kind(self) -> str:
            return "recorded"

        def close(self) -> None:
            """Nothing to close."""

    return CloudCatalogClient(transport=RecordedTransport())


def live_client() -> Any:
    """A `CloudCatalogClient` with Application Default Credentials.

    Raises:
        BillingError: when no credentials are found, with how to provide them.
    """
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud.billing_v1 import CloudCatalogClient

    try:
        return CloudCatalogClient()
    except DefaultCredentialsError as err:
        raise BillingError(
            f"no Google Cloud credentials ({err}); run `gcloud auth application-default "
            "login`, or use --from-fixtures DIR to build from recorded responses") from None
