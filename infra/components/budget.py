"""A monthly billing budget on the stack's project, with e-mail alerts at set thresholds."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components._opts import child_opts
from infra.components._project import project_number


@dataclass(frozen=True)
class BudgetArgs:
    project: str
    stack: str
    billing_account: str
    amount_usd: int
    thresholds: tuple[float, ...]


class Budget(pulumi.ComponentResource):
    """A budget scoped to this project only.

    Alerts go to the billing account's administrators (the default recipients). A budget does
    not cap spend; it tells people in time.
    """

    budget: gcp.billing.Budget

    def __init__(self, name: str, args: BudgetArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:Budget", name, None, opts)
        number = project_number(args.project)
        self.budget = gcp.billing.Budget(
            f"{name}-monthly",
            billing_account=args.billing_account,
            display_name=f"ml-platform {args.stack} monthly",
            budget_filter=gcp.billing.BudgetBudgetFilterArgs(
                projects=[number.apply(lambda n: f"projects/{n}")],
                calendar_period="MONTH",
            ),
            amount=gcp.billing.BudgetAmountArgs(
                specified_amount=gcp.billing.BudgetAmountSpecifiedAmountArgs(
                    currency_code="USD", units=str(args.amount_usd))),
            threshold_rules=[gcp.billing.BudgetThresholdRuleArgs(
                threshold_percent=t, spend_basis="CURRENT_SPEND") for t in args.thresholds],
            opts=child_opts(self, opts),
        )
        self.register_outputs({"budget": self.budget.name})
