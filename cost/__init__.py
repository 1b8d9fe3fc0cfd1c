"""Cost module: what a GPU ML platform on Google Cloud costs a month, and which stack is cheaper.

Prices are dated data (`cost/data/prices/<date>.yaml`), usage assumptions are data (scenario and
usage files), and the code only does arithmetic on them in `Decimal`, rounding once at the end.
Four options are compared (a fixed GKE cluster, an autoscaled GKE cluster, Vertex AI pay-per-use
and a Vertex AI persistent resource), with the break-even between them; a stack's offline preview
is priced resource by resource.
"""

DEPENDS_ON: dict[str, str] = {
    "infra": "`mlp cost stack <stack>` prices a stack's plan, and only the Pulumi program's "
             "offline preview says what a stack declares (`infra.sources.preview_from`, in "
             "`cost.cli` only); a saved preview is read with `facts.preview`. `cost.sizing` "
             "gives Kubeflow's pods their own nodes from the requests the Pulumi program's "
             "ownership catalogue records (`infra.ownership`) against a node's allocatable "
             "share after GKE's reservations, as preflight computes it "
             "(`infra.preflight.allocatable`).",
}
"""Packages of the same layer this one imports, and why (tests/layers/test_imports.py)."""
