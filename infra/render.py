"""Human-readable rendering of a `Preview`: a resource tree with key inputs, and counts by type."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from facts.preview import UNKNOWN, Preview, PreviewResource

# Per type, the inputs a reviewer looks at first (dotted paths into the wire-form inputs).
KEY_INPUTS: dict[str, tuple[str, ...]] = {
    "gcp:container/cluster:Cluster": (
        "name", "location", "releaseChannel.channel", "privateClusterConfig.enablePrivateNodes",
        "workloadIdentityConfig.workloadPool", "deletionProtection"),
    "gcp:container/nodePool:NodePool": (
        "name", "nodeConfig.machineType", "nodeConfig.guestAccelerators", "nodeConfig.spot",
        "nodeConfig.flexStart", "nodeConfig.maxRunDuration", "queuedProvisioning.enabled",
        "autoscaling.totalMinNodeCount", "autoscaling.totalMaxNodeCount"),
    "gcp:storage/bucket:Bucket": ("name", "location", "versioning.enabled",
                                  "publicAccessPrevention"),
    "gcp:compute/subnetwork:Subnetwork": ("ipCidrRange", "region"),
    "gcp:serviceaccount/account:Account": ("accountId",),
    "gcp:projects/iAMMember:IAMMember": ("role",),
    "gcp:storage/bucketIAMMember:BucketIAMMember": ("bucket", "role"),
    "gcp:serviceaccount/iAMMember:IAMMember": ("role", "member"),
    "gcp:projects/service:Service": ("service",),
    "gcp:artifactregistry/repository:Repository": ("repositoryId", "format", "location"),
    "kubernetes:helm.sh/v4:Chart": ("chart", "version", "namespace"),
    "kubernetes:kustomize/v2:Directory": ("directory",),
    "kubernetes:core/v1:Namespace": ("metadata.name",),
    "kubernetes:core/v1:ServiceAccount": ("metadata.namespace", "metadata.name"),
    "kubernetes:core/v1:ServiceAccountPatch": ("metadata.namespace", "metadata.name"),
    "gcp:vertex/aiEndpoint:AiEndpoint": ("name", "displayName", "region"),
    "gcp:vertex/aiTensorboard:AiTensorboard": ("displayName", "region"),
    "gcp:billing/budget:Budget": ("amount.specifiedAmount.units", "thresholdRules"),
    "gcp:vertex/aiPersistentResource:AiPersistentResource": ("name", "location",
                                                             "resourcePools"),
    "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor": ("metadata.name", "spec.nodeLabels"),
    "kubernetes:kueue.x-k8s.io/v1beta2:ProvisioningRequestConfig": (
        "metadata.name", "spec.provisioningClassName", "spec.managedResources"),
    "kubernetes:kueue.x-k8s.io/v1beta2:AdmissionCheck": (
        "metadata.name", "spec.controllerName", "spec.parameters.name"),
    "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue": (
        "metadata.name", "spec.resourceGroups", "spec.admissionChecksStrategy"),
    "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue": (
        "metadata.namespace", "metadata.name", "spec.clusterQueue"),
}


def dig(inputs: dict[str, Any], path: str) -> Any:
    """Follow a dotted path into nested inputs; None where a step is missing."""
    value: Any = inputs
    for step in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def _show(value: Any) -> str:
    if value == UNKNOWN:
        return "(known after apply)"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return "; ".join(", ".join(_pairs(d)) for d in value)
    return str(value)


def _pairs(d: dict[str, Any], prefix: str = "") -> list[str]:
    """``key=value`` for each scalar of a mapping, nested mappings as dotted keys."""
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += _pairs(v, f"{prefix}{k}.")
        else:
            out.append(f"{prefix}{k}={_show(v)}")
    return out


def _label(r: PreviewResource) -> str:
    lock = " [yellow](protected)[/]" if r.protect else ""
    head = f"[bold]{r.name}[/] [dim]{r.type}[/]{lock}"
    shown = [(p, dig(r.inputs, p)) for p in KEY_INPUTS.get(r.type, ())]
    details = ", ".join(f"{p}={escape(_show(v))}" for p, v in shown if v not in (None, [], {}))
    return f"{head}\n[cyan]{details}[/]" if details else head


def render_tree(preview: Preview, console: Console) -> None:
    """Print every resource under its parent, with its key inputs."""
    root = Tree(f"[bold]{preview.project}[/] stack [bold]{preview.stack}[/] "
                f"({len(preview.resources)} resources, offline preview)")
    children: dict[str | None, list[PreviewResource]] = {}
    urns = {r.urn for r in preview.resources}
    for r in preview.resources:
        children.setdefault(r.parent if r.parent in urns else None, []).append(r)

    def add(node: Tree, parent: str | None) -> None:
        for r in children.get(parent, []):
            add(node.add(_label(r)), r.urn)

    add(root, None)
    console.print(root)


def render_counts(preview: Preview, console: Console) -> None:
    table = Table(title=f"Resources by type ({preview.stack})")
    table.add_column("type")
    table.add_column("count", justify="right")
    for type_, n in preview.counts().items():
        table.add_row(type_, str(n))
    table.add_row("[bold]total[/]", f"[bold]{len(preview.resources)}[/]")
    console.print(table)


def render_outputs(preview: Preview, console: Console) -> None:
    table = Table(title="Stack outputs")
    table.add_column("output")
    table.add_column("value")
    for key, value in preview.outputs.items():
        table.add_row(key, escape(_show(value)))
    console.print(table)
