"""Text, terminal and JSON renderings of bills, in the layout of a cloud bill breakdown.

The text form is what golden files hold: fixed-width, sorted, one component per line, so a
reviewer can check each line by eye (quantity × unit price = monthly).
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from cost.money import ZERO, cents, plain, usd
from cost.plan import PlanBill
from cost.pricing import Bill, Line

NAME_WIDTH = 82


def _line_row(prefix: str, line: Line) -> str:
    flag = f" ({line.price.flag})" if line.price is not None and line.price.flag else ""
    label = f"{prefix}{line.component}{flag}"
    return (f" {label:<{NAME_WIDTH}} {plain(round(line.quantity, 4)):>10} {line.unit:<10}"
            f" {plain(line.unit_price):>11} {usd(line.monthly):>12}")


def bill_text(bill: Bill, title: str | None = None) -> list[str]:
    """One bill as tree lines, its total and its notes."""
    out = [f" {title or bill.name}"]
    for i, line in enumerate(bill.lines):
        out.append(_line_row("├─ " if i < len(bill.lines) - 1 else "└─ ", line))
    out += [f"    note: {n}" for n in bill.notes]
    return out


HEADER = (f" {'Name':<{NAME_WIDTH}} {'Quantity':>10} {'Unit':<10} {'Unit price':>11}"
          f" {'Monthly':>12}")


def plan_text(plan: PlanBill) -> str:
    """The whole plan as text: priced resources, then what is not priced and why."""
    out = [f" Stack: {plan.stack}   Project: {plan.project}   Prices: {plan.catalog} "
           f"({plan.region}, USD)", "", HEADER]
    for r in plan.by_status("priced"):
        out += bill_text(r.bill, f"{r.type} {r.name}")
        out.append(f" {'':<{NAME_WIDTH}} {'':>10} {'':<10} {'subtotal':>11} "
                   f"{usd(r.bill.monthly):>12}")
        out.append("")
    out.append(f" {'OVERALL TOTAL (monthly)':<{NAME_WIDTH}} {'':>10} {'':<10} {'':>11} "
               f"{usd(plan.monthly):>12}")
    hourly = f"OVERALL TOTAL (hourly, /{plain(plan.hours_per_month)})"
    out.append(f" {hourly:<{NAME_WIDTH}} {'':>10} {'':<10} {'':>11} "
               f"{plain(round(plan.monthly / plan.hours_per_month, 4)):>12}")
    if plan.budget is None:
        out.append(f" BUDGET: {plan.budget_note}")
    else:
        out += [f" {label:<{NAME_WIDTH}} {'':>10} {'':<10} {'':>11} {value:>12}"
                for label, value in budget_rows(plan)]
    for status, title in (("usage-based", "Usage-based, not priced"),
                          ("not priced", "Not priced"), ("free", "Free")):
        group = plan.by_status(status)
        if not group:
            continue
        out += ["", f" {title} ({len(group)}):"]
        if status == "free":
            counts = Counter(r.type for r in group)
            out += [f"  {n} × {t}" for t, n in sorted(counts.items())]
            continue
        for r in group:
            notes = "; ".join([r.reason, *r.bill.notes]).strip("; ")
            out.append(f"  {r.type} {r.name}: {notes}")
    return "\n".join(out) + "\n"


def budget_rows(plan: PlanBill) -> list[tuple[str, str]]:
    """(label, amount) rows for the stack's budget and what the priced plan leaves of it."""
    if plan.budget is None:
        return [("BUDGET", plan.budget_note)]
    headroom = plan.headroom if plan.headroom is not None else ZERO
    state = "left" if headroom >= 0 else "OVER BUDGET"
    return [("BUDGET (monthly)", usd(plan.budget)),
            (f"HEADROOM ({state}, before usage-based resources)", usd(headroom))]


def plan_json(plan: PlanBill) -> dict[str, Any]:
    """The plan as JSON: amounts as decimal strings rounded to the cent."""
    return {
        "stack": plan.stack, "project": plan.project, "catalog": plan.catalog,
        "region": plan.region, "currency": "USD",
        "monthly": str(cents(plan.monthly)),
        "hourly": str(round(plan.monthly / plan.hours_per_month, 4)),
        "budget": None if plan.budget is None else str(cents(plan.budget)),
        "headroom": None if plan.headroom is None else str(cents(plan.headroom)),
        "budget_note": plan.budget_note,
        "resources": [
            {"type": r.type, "name": r.name, "status": r.status, "reason": r.reason,
             "monthly": str(cents(r.bill.monthly)), "notes": r.bill.notes,
             "components": [line.to_json() for line in r.bill.lines]}
            for r in plan.resources],
    }


def bills_table(title: str, bills: dict[str, Bill]) -> Table:
    """A rich table: one row per component, per bill, with subtotals."""
    table = Table(title=title, show_lines=False)
    for col, justify in (("model / component", "left"), ("quantity", "right"),
                         ("unit", "left"), ("unit price", "right"), ("monthly USD", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for bill in bills.values():
        table.add_row(f"[bold]{bill.name}[/]", "", "", "", f"[bold]{usd(bill.monthly)}[/]")
        for line in bill.lines:
            table.add_row(f"  {line.component}", plain(round(line.quantity, 4)), line.unit,
                          plain(line.unit_price), usd(line.monthly))
    return table


def print_plan(plan: PlanBill, console: Console) -> None:
    """The plan on the terminal: a breakdown table and the unpriced resources."""
    table = Table(title=f"Plan cost: {plan.stack} (prices {plan.catalog}, USD)")
    for col, justify in (("resource / component", "left"), ("quantity", "right"),
                         ("unit", "left"), ("hourly", "right"), ("monthly", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    def hourly(monthly: Decimal) -> str:
        return plain(round(monthly / plan.hours_per_month, 4))

    for r in plan.by_status("priced"):
        table.add_row(f"[bold]{r.name}[/] [dim]{r.type}[/]", "", "", hourly(r.bill.monthly),
                      usd(r.bill.monthly))
        for line in r.bill.lines:
            table.add_row(f"  {line.component}", plain(round(line.quantity, 4)), line.unit,
                          hourly(line.monthly), usd(line.monthly))
    table.add_row("[bold]total[/]", "", "", hourly(plan.monthly),
                  f"[bold]{usd(plan.monthly)}[/]")
    for label, value in budget_rows(plan):
        style = "bold red" if "OVER" in label else "bold"
        table.add_row(f"[{style}]{label.lower()}[/]", "", "", "", f"[{style}]{value}[/]")
    console.print(table)
    for status in ("usage-based", "not priced"):
        for r in plan.by_status(status):
            console.print(f"[yellow]{status}[/]: {r.type} {r.name}: {r.reason}",
                          highlight=False, soft_wrap=True)
    for r in plan.by_status("priced"):
        for note in r.bill.notes:
            console.print(f"[dim]note[/]: {r.name}: {note}", highlight=False, soft_wrap=True)
    console.print(f"{len(plan.by_status('free'))} free resources (APIs, IAM, network, accounts)")
