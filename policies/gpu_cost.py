"""GPU and cost policies (COST-*): GPU pools that scale from zero under caps, allowed hardware,
spot for training, cost labels, a billing budget, and run limits on jobs, trials and servers.

The allow-lists' defaults are the machine families and GPUs of the hardware catalog
(`facts/data/hardware.yaml`), read at import, so a GPU added there is allowed by default.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, Severity

from facts.capacity import capacity
from facts.hardware import catalog
from facts.node_pools import pool_node_range
from facts.text import number
from policies.base import (
    ADVISORY,
    MlpResourcePolicy,
    MlpStackPolicy,
    dig,
    is_list,
    is_map,
    items,
    make_rule,
    shown,
    truthy,
)
from policies.pods import KSERVE_COMPONENTS, WORKLOAD_TYPES, kind_of
from policies.security import AI_ENDPOINT, BUCKET, CLUSTER, NODE_POOL

REGISTRY = "gcp:artifactregistry/repository:Repository"
BUDGET = "gcp:billing/budget:Budget"
LABEL_PATHS = {CLUSTER: ("resourceLabels",), NODE_POOL: ("nodeConfig", "resourceLabels"),
               BUCKET: ("labels",), REGISTRY: ("labels",), AI_ENDPOINT: ("labels",)}
Props = Mapping[str, Any]


def accelerators(props: Props) -> list[Props]:
    """Guest accelerators with a positive count: a pool with any is a GPU pool."""
    return [a for a in items(dig(props, "nodeConfig", "guestAccelerators"))
            if (number(dig(a, "count")) or 0) > 0]


def total_max_nodes(props: Props, args: ResourceValidationArgs) -> float:
    """Most nodes a pool can reach over all its zones (not applicable if its zones are unknown)."""
    counts = pool_node_range(props)
    if counts is None:
        args.not_applicable("node pool with per-zone counts whose zone count is unknown: set "
                            "nodeLocations or a catalogued location")
        raise AssertionError("not_applicable returns only by raising")
    return counts[1]


def _from_zero(props: Props, _c: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    if not accelerators(props):
        return
    scaling = dig(props, "autoscaling")
    if not is_map(scaling):
        yield "GPU pool has no autoscaling: its GPU nodes run (and bill) while idle"
        return
    low = number(dig(scaling, "totalMinNodeCount"))
    if low is None:
        low = number(dig(scaling, "minNodeCount")) or 0
    if low > 0:
        yield f"GPU pool autoscaling minimum is {low:g}: it must scale down to 0"
    if dig(props, "nodeCount") is not None:
        yield "GPU pool sets a fixed nodeCount"
    initial = number(dig(props, "initialNodeCount")) or 0
    if initial > 0:
        yield f"GPU pool starts with initialNodeCount {initial:g}; start at 0"


def _caps(props: Props, config: dict, args: ResourceValidationArgs) -> Iterator[str]:
    nodes = total_max_nodes(props, args)
    if nodes > config["maxNodesPerPool"]:
        yield f"pool can grow to {nodes:g} nodes, above maxNodesPerPool {config['maxNodesPerPool']}"
    gpus = nodes * sum(number(dig(a, "count")) or 0 for a in accelerators(props))
    if gpus > config["maxGpusPerPool"]:
        yield f"pool can hold {gpus:g} GPUs, above maxGpusPerPool {config['maxGpusPerPool']}"


def _hardware(props: Props, config: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    machine = dig(props, "nodeConfig", "machineType")
    if machine is None:
        yield "nodeConfig.machineType is not set (GKE would pick e2-medium silently)"
    elif str(machine).split("-", 1)[0] not in config["allowedMachineFamilies"]:
        yield f"machine type {machine} is outside allowedMachineFamilies " \
              f"{config['allowedMachineFamilies']}"
    for a in accelerators(props):
        if dig(a, "type") not in config["allowedAccelerators"]:
            yield f"accelerator {dig(a, 'type')} is outside allowedAccelerators " \
                  f"{config['allowedAccelerators']}"


def _spot_training(props: Props, config: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    if not accelerators(props):
        return
    labels = dig(props, "nodeConfig", "labels")
    training = is_map(labels) and labels.get(config["trainingLabelKey"]) == \
        config["trainingLabelValue"]
    spot = truthy(dig(props, "nodeConfig", "spot")) or truthy(
        dig(props, "nodeConfig", "preemptible"))
    flex_start = truthy(dig(props, "nodeConfig", "flexStart"))
    if training and not spot and not flex_start:
        yield "training GPU pool runs on-demand; checkpointing jobs can use Spot VMs at a " \
              "fraction of the price, or flex-start capacity when they can wait for it"


def _flex_start_run_limit(props: Props, config: dict, _a: ResourceValidationArgs
                          ) -> Iterator[str]:
    if not truthy(dig(props, "nodeConfig", "flexStart")):
        return
    limit = config["maxRunHours"]
    duration = dig(props, "nodeConfig", "maxRunDuration")
    if duration is None:
        yield f"flex-start pool sets no nodeConfig.maxRunDuration: its nodes run up to GKE's " \
              f"default of seven days; set at most {limit} hours"
        return
    text = str(duration)
    seconds = number(text.removesuffix("s")) if text.endswith("s") else None
    if seconds is None:
        yield f"nodeConfig.maxRunDuration {shown(duration)} is not a duration in seconds " \
              "such as '86400s'"
    elif seconds > limit * 3600:
        yield f"nodeConfig.maxRunDuration {text} is above maxRunHours {limit} " \
              f"({limit * 3600}s)"
    if not dig(props, "autoscaling"):
        yield "flex-start pool has no autoscaling: it obtains nodes only by scaling up"


def _labels(props: Props, config: dict, args: ResourceValidationArgs) -> Iterator[str]:
    labels = dig(props, *LABEL_PATHS[args.resource_type])
    labels = labels if is_map(labels) else {}
    missing = [k for k in config["requiredLabels"] if not labels.get(k)]
    if missing:
        yield f"{'.'.join(LABEL_PATHS[args.resource_type])} lacks {', '.join(missing)}"


def _budget(resources: Sequence[PolicyResource], _c: dict) -> Iterator[tuple[str, str | None]]:
    budgets = [r for r in resources if r.resource_type == BUDGET]
    if not budgets:
        yield "the stack declares no gcp:billing/budget:Budget: nothing alerts on runaway " \
              "GPU spend", None
    for r in budgets:
        if not items(dig(r.props, "thresholdRules")):
            yield f"budget {r.name} has no thresholdRules, so it never alerts", r.urn


def plain_props(value: Any) -> Any:
    """CrossGuard's property proxies as plain dicts and lists (unknown values still raise)."""
    if is_map(value):
        return {str(k): plain_props(value[k]) for k in value}
    if is_list(value):
        return [plain_props(v) for v in value]
    return value


PERSISTENT_RESOURCE = "gcp:vertex/aiPersistentResource:AiPersistentResource"
PRICED_TYPES = (CLUSTER, NODE_POOL, BUDGET, PERSISTENT_RESOURCE)
"""What COST-10 prices: node pools at their maximum, the cluster fee, and reserved Vertex AI
capacity (billed whether used or not)."""


def _budget_at_max(resources: Sequence[PolicyResource],
                   config: dict) -> Iterator[tuple[str, str | None]]:
    """The plan, priced by `cost.plan` with every node pool at its maximum size all month,
    must fit the stack's budget amount. Stacks without a readable budget amount are left to
    COST-05."""
    from cost.catalog import CatalogError, PriceNotFound, load_catalog
    from cost.money import usd
    from cost.plan import price_preview
    from cost.usage import PlanUsage
    from facts.preview import Preview, PreviewResource

    budgets = [r for r in resources if r.resource_type == BUDGET]
    if not budgets:
        return
    chosen = [PreviewResource(r.urn, r.resource_type, r.name, None, plain_props(r.props), [],
                              False, True)
              for r in resources if r.resource_type in PRICED_TYPES]
    try:
        prices = load_catalog(config["catalog"] or None)
    except (CatalogError, PriceNotFound) as err:
        yield f"cannot price the plan: {err}", None
        return
    plan = price_preview(Preview("policy", "", chosen, {}), prices, PlanUsage(), at_max=True)
    if plan.budget is None or plan.monthly <= plan.budget:
        return
    pools = [f"{p.name} {usd(p.bill.monthly)}" for p in plan.resources
             if p.type == NODE_POOL and p.bill.lines]
    unpriced = [p.name for p in plan.resources if p.status == "not priced"]
    unpriced_text = f"; not priced: {', '.join(unpriced)}" if unpriced else ""
    yield (f"the plan priced at every node pool's maximum size costs {usd(plan.monthly)} USD a "
           f"month (prices {prices.snapshot}), above the budget of {usd(plan.budget)} USD; "
           f"pools: {', '.join(pools) or 'none'}"
           f"{unpriced_text}; Vertex endpoints "
           f"and usage-based resources are not counted", budgets[0].urn)


def _job_limits(obj: Props, kind: str, config: dict, path: str = "",
                needs_ttl: bool = True) -> Iterator[str]:
    if kind == "Experiment":
        trial = dig(obj, "spec", "trialTemplate", "trialSpec")
        if is_map(trial):
            # Katib deletes finished trial jobs itself unless trialTemplate.retain is true, and a
            # TTL could remove a job before Katib has read its result: require one only then.
            retained = truthy(dig(obj, "spec", "trialTemplate", "retain"))
            yield from _job_limits(trial, str(dig(trial, "kind")), config,
                                   "spec.trialTemplate.trialSpec.", needs_ttl=retained)
        return
    if kind == "Job":
        spec, where = dig(obj, "spec"), f"{path}spec"
    elif kind == "CronJob":
        spec, where = dig(obj, "spec", "jobTemplate", "spec"), f"{path}spec.jobTemplate.spec"
    elif kind.endswith("Job"):
        spec, where = dig(obj, "spec", "runPolicy"), f"{path}spec.runPolicy"
    else:
        return
    for field in ("activeDeadlineSeconds", "ttlSecondsAfterFinished")[:2 if needs_ttl else 1]:
        if dig(spec, field) is None:
            yield f"{where}.{field} is not set"
    backoff = number(dig(spec, "backoffLimit"))
    if backoff is None:
        yield f"{where}.backoffLimit is not set (Kubernetes retries 6 times by default)"
    elif backoff > config["maxBackoffLimit"]:
        yield f"{where}.backoffLimit {backoff:g} is above maxBackoffLimit " \
              f"{config['maxBackoffLimit']}"


def _run_limits(props: Props, config: dict, args: ResourceValidationArgs) -> Iterator[str]:
    yield from _job_limits(props, kind_of(args.resource_type, props), config)


def _trial_caps(props: Props, config: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    for field, cap in (("maxTrialCount", "maxTrialCount"),
                       ("parallelTrialCount", "maxParallelTrialCount"),
                       ("maxFailedTrialCount", "maxTrialCount")):
        value = number(dig(props, "spec", field))
        if value is None:
            yield f"spec.{field} is not set"
        elif value > config[cap]:
            yield f"spec.{field} {value:g} is above {cap} {config[cap]}"


def _serving_cap(props: Props, config: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    for component in KSERVE_COMPONENTS:
        block = dig(props, "spec", component)
        if not is_map(block):
            continue
        high = number(dig(block, "maxReplicas"))
        low = number(dig(block, "minReplicas")) or 1
        if not high:
            yield f"spec.{component}.maxReplicas is not set: the autoscaler has no ceiling"
        elif high > config["maxServingReplicas"]:
            yield f"spec.{component}.maxReplicas {high:g} is above maxServingReplicas " \
                  f"{config['maxServingReplicas']}"
        elif low > high:
            yield f"spec.{component}.minReplicas {low:g} is above maxReplicas {high:g}"


_rule = partial(make_rule, "gpu-cost")


def _int(description: str, default: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, "default": default, "description": description}


def _strings(description: str, default: list[str]) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "default": default,
            "description": description}


JOB_TYPES = [t for t in WORKLOAD_TYPES if t.rsplit(":", 1)[-1].endswith("Job")
             or t.endswith(":Experiment")]

POLICIES = [
    MlpResourcePolicy(_rule(
        "COST-01", "gpu-pool-autoscale-from-zero", "GPU node pools autoscale and can scale "
        "down to zero nodes.", Severity.HIGH, "Set autoscaling(total_min_node_count=0, "
        "total_max_node_count=N) and initial_node_count=0 on GPU pools."),
        [NODE_POOL], _from_zero),
    MlpResourcePolicy(_rule(
        "COST-02", "node-pool-caps", "Node pools have a node ceiling, and GPU pools a GPU "
        "ceiling, within the stack's caps.", Severity.HIGH, "Lower the pool's max nodes, or "
        "raise maxNodesPerPool / maxGpusPerPool in the stack's policy config after review.",
        config={"maxNodesPerPool": _int("Most nodes one pool may reach (all zones).", 10),
                "maxGpusPerPool": _int("Most GPUs one pool may hold at its maximum size.", 8)}),
        [NODE_POOL], _caps),
    MlpResourcePolicy(_rule(
        "COST-03", "node-pool-allowed-hardware", "Node pools use allowed machine families and "
        "GPU types.", Severity.MEDIUM, "Pick a machine family and GPU from the lists, or extend "
        "allowedMachineFamilies / allowedAccelerators in the stack's policy config.",
        config={"allowedMachineFamilies": _strings("Machine families (prefix of the machine "
                                                   "type).", list(catalog().families)),
                "allowedAccelerators": _strings("GKE accelerator types.",
                                                list(catalog().accelerators))}),
        [NODE_POOL], _hardware),
    MlpResourcePolicy(_rule(
        "COST-04", "gpu-training-pools-spot", "GPU pools labelled for training run on Spot "
        "VMs or flex-start capacity.", Severity.MEDIUM, "Set node_config.spot = True on "
        "training pools (jobs checkpoint to GCS and resume after preemption), or flex-start "
        "(provisioning: flex-start or queued) for jobs that can wait.", enforcement=ADVISORY,
        config={"trainingLabelKey": {"type": "string", "default": "workload",
                                     "description": "Node label that marks a pool's use."},
                "trainingLabelValue": {"type": "string", "default": "training",
                                       "description": "Its value on training pools."}}),
        [NODE_POOL], _spot_training),
    MlpResourcePolicy(_rule(
        "COST-05", "required-cost-labels", "Billable resources carry the cost labels.",
        Severity.MEDIUM, "Add the labels in the stack's `labels` config; components copy them "
        "onto every resource.", config={"requiredLabels": _strings(
            "Labels every billable resource needs, with non-empty values.",
            ["cost-center", "team", "env"])}),
        list(LABEL_PATHS), _labels),
    MlpStackPolicy(_rule(
        "COST-06", "stack-has-billing-budget", "The stack declares a billing budget with "
        "alert thresholds.", Severity.MEDIUM, "Declare a gcp.billing.Budget for the project "
        "with threshold_rules (e.g. 50 %, 90 %, 100 %)."), _budget),
    MlpResourcePolicy(_rule(
        "COST-07", "job-run-limits", "Jobs, TFJobs and Katib trial jobs have a deadline, a "
        "bounded backoff and a TTL (trials: only when Katib retains them).", Severity.MEDIUM,
        "Set activeDeadlineSeconds, backoffLimit and ttlSecondsAfterFinished (TFJob: under "
        "spec.runPolicy).",
        config={"maxBackoffLimit": _int("Most retries of a failed job.", 3)}),
        JOB_TYPES, _run_limits),
    MlpResourcePolicy(_rule(
        "COST-08", "katib-trial-caps", "Katib experiments cap total, parallel and failed "
        "trials.", Severity.MEDIUM, "Set maxTrialCount, parallelTrialCount and "
        "maxFailedTrialCount within the stack's caps.",
        config={"maxTrialCount": _int("Most trials (and failed trials) per experiment.", 50),
                "maxParallelTrialCount": _int("Most trials running at once.", 5)}),
        ["kubernetes:kubeflow.org/v1beta1:Experiment"], _trial_caps),
    MlpResourcePolicy(_rule(
        "COST-09", "kserve-max-replicas", "InferenceService components have a maxReplicas "
        "ceiling.", Severity.MEDIUM, "Set maxReplicas on the predictor (and transformer).",
        config={"maxServingReplicas": _int("Most replicas of one component.", 4)}),
        ["kubernetes:serving.kserve.io/v1beta1:InferenceService"], _serving_cap),
    MlpStackPolicy(_rule(
        "COST-10", "plan-within-budget-at-max-size", "The plan, priced with every node pool at "
        "its maximum size all month, fits the stack's billing budget amount.", Severity.HIGH,
        "Lower the pools' maximum node counts, or raise the budget amount after review; "
        "`mlp cost stack <stack>` shows the plan's price and headroom.",
        config={"catalog": {"type": "string", "default": "",
                            "description": "Price snapshot date (cost/data/prices); empty for "
                                           "the newest."}}), _budget_at_max),
    MlpResourcePolicy(_rule(
        "COST-11", "flex-start-run-limit", "Flex-start node pools autoscale and bound how long "
        "a node runs (maxRunDuration) within the stack's limit.", Severity.MEDIUM,
        "Set max_run_hours on the pool (node_config.max_run_duration), at most maxRunHours; "
        "jobs there finish or checkpoint within it.",
        config={"maxRunHours": _int("Longest a flex-start node may run, in hours (GKE's own "
                                    "limit is in facts/data/capacity.yaml).",
                                    capacity().flex_start.max_run_hours)}),
        [NODE_POOL], _flex_start_run_limit),
]
