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
    quota_project: str
    """Project billed for the Budget API's quota (`billing_project`, `user_project_override`)."""


class Budget(pulumi.ComponentResource):
    """A budget scoped to this project only.

    Alerts go to the billing account's administrators (the default recipients). A budget does
    not cap spend; it tells people in time.

    The Billing Budget API lives on the billing account, not in a project, so with user
    credentials (`gcloud auth application-default login`) it needs a quota project named on
    every call. The budget gets a provider of its own that sends one (`billing_project` with
    `user_project_override`), so no stack-wide `gcp:billingProject` setting is needed.
    """

    budget: gcp.billing.Budget

    def __init__(self, name: str, args: BudgetArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:Budget", name, None, opts)
        number = project_number(args.project)
        quota = gcp.Provider(f"{name}-quota", project=args.project,
                             billing_project=args.quota_project, user_project_override=True,
                             opts=pulumi.ResourceOptions(parent=self))
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
            opts=child_opts(self, opts, provider=quota),
        )
        self.register_outputs({"budget": self.budget.name})
