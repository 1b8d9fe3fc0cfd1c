"""Offline preview: run the Pulumi program under Pulumi's own mocks and record what it declares.

There is no Pulumi engine here, so the program runs against `pulumi.runtime.mocks` with the stack's
config, in preview mode: inputs known at plan time are recorded as they would reach the provider,
and values only the cloud can compute (ids, emails, endpoints) stay unknown, as in a real
`pulumi preview`. A monitor subclass records each registration's parent, dependencies and
`protect` flag, and the stack's exports.

The result is the preview JSON contract (see `infra/README.md`) that `policies/` and `cost/` read.
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any, Literal

from facts.preview import SECRET, UNKNOWN, Preview, PreviewResource
from facts.stacks import REPO_ROOT, project_file
from infra.stack_config import StackFile, pulumi_config_values

PROGRAM = REPO_ROOT / "infra" / "__main__.py"

PLACEHOLDER_PROJECT_NUMBER = "000000000000"
"""What the project-number lookup returns offline, where no Resource Manager can be asked."""

def _plain(value: Any) -> Any:
    """Turn mock-deserialised values into JSON: unknowns → sentinel, secrets → masked."""
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    if isinstance(value, Unknown):
        return UNKNOWN
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        # The wire carries every number as a float; keep integers readable in the JSON.
        return int(value)
    return value


def _child_urn(parent_urn: str, type_token: str, name: str) -> str:
    """The URN Pulumi gives a child: the parent's type chain, then the child's type and name."""
    prefix, parent_type, _ = parent_urn.rsplit("::", 2)
    return f"{prefix}::{parent_type}${type_token}::{name}"


def expand_local_charts(resources: list[PreviewResource]) -> list[PreviewResource]:
    """Render every chart of this repository that the program deploys, as pulumi up would.

    Pulumi's mocks record a `helm.v4.Chart` as one resource; pulumi-kubernetes would render it and
    register each object as a child of the chart, named ``<chart>:<namespace>/<name>`` and waiting
    on what the chart waits on. This does the same with the real Helm library and the values the
    program passed, so the TFJob or InferenceService inside is visible to policies and cost.
    Upstream charts (cert-manager, KServe) cannot be fetched offline and stay unexpanded.

    Raises:
        ChartError: if a chart does not render with the values the program gave it.
    """
    from infra.charts import CHART_TYPE, local_chart_dir, object_name, pulumi_type, render

    expanded = []
    for chart in resources:
        if chart.type != CHART_TYPE or not isinstance(chart.inputs.get("chart"), str):
            continue
        directory = local_chart_dir(chart.inputs["chart"])
        if directory is None:
            continue
        namespace = chart.inputs.get("namespace") or "default"
        for obj in render(directory, chart.inputs.get("values") or {},
                          release=chart.inputs.get("name") or chart.name, namespace=namespace):
            obj.setdefault("metadata", {}).setdefault("namespace", namespace)
            type_token, name = pulumi_type(obj), object_name(chart.name, obj)
            expanded.append(PreviewResource(
                urn=_child_urn(chart.urn, type_token, name), type=type_token, name=name,
                parent=chart.urn, inputs=obj, depends_on=list(chart.depends_on),
                protect=False, custom=True))
    return expanded


def _render_training_profile(stack_file: StackFile) -> None:
    """Render the training chart with the stack's launch values (`mlp chart values`).

    Raises:
        ChartError: if the stack's training profile gives values the chart refuses.
    """
    from infra.charts import CHARTS_DIR, render

    cfg = stack_file.platform()
    if cfg.has_cluster and cfg.workloads.training.enabled:
        from infra.components.cifar10 import launch_values

        render(CHARTS_DIR / "cifar10-training", launch_values(cfg, stack_file.name),
               release="cifar10", namespace="ml-training")


def _computed(type_token: str, name: str, inputs: dict[str, Any], project: str) -> dict[str, Any]:
    """Deterministic stand-ins for outputs only the provider computes, for `mode="apply"`."""
    fake: dict[str, Any] = {"id": f"{name}-id"}
    if type_token == "gcp:serviceaccount/account:Account":
        account = inputs.get("accountId", name)
        fake |= {"email": f"{account}@{project}.iam.gserviceaccount.com",
                 "name": f"projects/{project}/serviceAccounts/{account}@{project}"
                         ".iam.gserviceaccount.com"}
    elif type_token == "gcp:container/cluster:Cluster":
        fake |= {"endpoint": "203.0.113.10",
                 "masterAuth": {"clusterCaCertificate": "Q0EtQ0VSVElGSUNBVEU="}}
    elif type_token == "gcp:monitoring/notificationChannel:NotificationChannel":
        fake |= {"name": f"projects/{project}/notificationChannels/{name}-id"}
    return fake


def run_preview(stack_file: StackFile, program: Path = PROGRAM,
                mode: Literal["preview", "apply"] = "preview") -> Preview:
    """Run the program for a stack under mocks and return what it declares.

    The stack's config is validated first so a bad config raises `ConfigError` before anything
    is declared; a chart that does not render with the stack's workload settings raises
    `ConfigError` too. Safe to call repeatedly in one process: each call installs fresh mocks, a
    fresh root stack and fresh config.

    Args:
        stack_file: the stack whose config the program reads.
        program: the Pulumi program to run; the shipped one by default.
        mode: "preview" leaves provider-computed values unknown, as `pulumi preview` does.
            "apply" fills them with deterministic stand-ins (service-account emails, a cluster
            endpoint) so tests can follow values from one resource into another's inputs.
    """
    import pulumi
    from pulumi.runtime import mocks, rpc, settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from infra.charts import ChartError
    from infra.config import PLATFORM_KEY, ConfigError, Problem

    project_id = stack_file.platform().project
    project = project_file()["name"]
    records: dict[str, PreviewResource] = {}
    outputs: dict[str, Any] = {}

    class _Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs):
            # As in a real preview of a create: outputs echo the known inputs, and every value
            # only the provider computes (ids, emails, endpoints) stays unknown.
            if mode == "preview":
                return None, args.inputs
            fake = _computed(args.typ, args.name, args.inputs, project_id)
            return fake["id"], {**fake, **args.inputs}

        def call(self, args: pulumi.runtime.MockCallArgs):
            # A real preview performs data-source reads; offline they answer with documented
            # placeholders (see PLACEHOLDER_PROJECT_NUMBER).
            if args.token == "gcp:organizations/getProject:getProject":
                return {"number": PLACEHOLDER_PROJECT_NUMBER,
                        "projectId": args.args.get("projectId")}, []
            return {}, []

    class _RecordingMonitor(mocks.MockMonitor):
        def RegisterResource(self, request):
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
                records[response.urn] = PreviewResource(
                    urn=response.urn, type=request.type, name=request.name,
                    parent=request.parent or None,
                    inputs=_plain(inputs),
                    depends_on=sorted(set(request.dependencies)),
                    protect=bool(request.protect),
                    custom=bool(request.custom),
                    ignore_changes=sorted(request.ignoreChanges),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    retain_on_delete=bool(request.retainOnDelete),
                )
            return response

        def RegisterResourceOutputs(self, request):
            if request.urn.split("::")[2] == "pulumi:pulumi:Stack":
                outputs.update(_plain(rpc.deserialize_properties(
                    request.outputs, keep_unknowns=True)))
            return super().RegisterResourceOutputs(request)

    async def program_in_stack() -> None:
        from pulumi.runtime.stack import Stack

        stack = Stack()
        try:
            runpy.run_path(str(program), run_name="__main__")
        finally:
            stack._finish()

    pulumi.runtime.set_all_config(pulumi_config_values(stack_file), list(stack_file.secret_keys))
    fake_provider = _Mocks()
    mocks.set_mocks(fake_provider, project=project, stack=stack_file.name,
                    preview=mode == "preview", monitor=_RecordingMonitor(fake_provider))
    try:
        # set_mocks installs a root stack of its own; the program runs in a fresh one, as under
        # the real language host, so that its exports are registered as this stack's outputs.
        settings.ROOT.set(None)
        _sync_await(run_pulumi_func(program_in_stack))
    finally:
        settings.ROOT.set(None)
    try:
        charts = expand_local_charts(list(records.values()))
        # The training profile is launched, not declared; it must still render.
        _render_training_profile(stack_file)
    except ChartError as err:
        # Chart values come from the stack's workloads settings: a bad one is bad config.
        raise ConfigError(stack_file.name, [Problem(
            f"{PLATFORM_KEY}.workloads", str(err).partition(":")[0],
            f"the chart does not render with these settings: {str(err).partition(': ')[2]}")]
        ) from None
    resources = sorted([*records.values(), *charts], key=lambda r: r.urn)
    return Preview(stack_file.name, project, resources, dict(sorted(outputs.items())))
