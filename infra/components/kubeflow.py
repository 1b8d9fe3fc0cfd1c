"""Kubeflow on the GKE cluster: cert-manager, Pipelines, Training Operator, Katib and KServe.

Upstream installs are declared as pulumi-kubernetes `helm.v4.Chart` and `kustomize.v2.Directory`
resources at the versions in `facts/data/versions.yaml`. Ordering is explicit, because the engine
only orders what it is told to:

- CRDs before custom resources: the KServe CRD chart before `kserve-resources` (the controller)
  and `kserve-runtime-configs` (the ClusterServingRuntimes, which `kserve-resources` no longer
  ships since KServe v0.17), the Pipelines cluster-scoped resources before the Pipelines install;
- cert-manager, with its webhook ready, before KServe, whose webhook certificates it issues;
- namespaces before what lives in them.

Every Kubernetes object has one owner. Objects an upstream install creates are changed with
server-side-apply patches (`*Patch` resources), never declared a second time: the Pipelines
service accounts and the `kfp-launcher` ConfigMap are patched. Namespace `kubeflow` belongs to
the Pipelines cluster-scoped install; Katib and the Training Operator install from overlays
without their own copy of it (`infra/kustomize/katib`, `infra/kustomize/training-operator`), and
when Pipelines is off the platform declares the namespace itself, kept on delete so that
switching either off never removes it. `infra/data/ownership.yaml` lists what each install
creates, and the offline preview refuses an object with two owners (`infra.ownership`).

Pods reach Google Cloud through Workload Identity: each Kubernetes service account in
`infra.components.identity.WORKLOADS` is annotated with its Google service account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from facts.identities import WORKLOADS, WorkloadName
from facts.stacks import REPO_ROOT
from facts.versions import KSERVE_DEPLOYMENT_MODE, Pin, pins
from infra.components._opts import child_opts
from infra.kueue import KUEUE_NAMESPACE, QueueSpec, chart_values, queue_objects

WI_ANNOTATION = "iam.gke.io/gcp-service-account"
KUBEFLOW_NAMESPACE = "kubeflow"
CERT_MANAGER_NAMESPACE = "cert-manager"
KSERVE_NAMESPACE = "kserve"
PATCH_FORCE = {"pulumi.com/patchForce": "true"}
"""Lets a server-side-apply patch take over a field another manager (the upstream install)
already sets, instead of failing with a field-manager conflict."""


@dataclass(frozen=True)
class KubeflowArgs:
    provider: k8s.Provider
    cert_manager: bool
    pipelines: bool
    training_operator: bool
    katib: bool
    kserve: bool
    kserve_runtimes: bool
    """Install KServe's ClusterServingRuntimes (a stack serves with `runtime: tensorflow`)."""
    workload_service_accounts: dict[WorkloadName, pulumi.Input[str]]
    """Google service-account emails the Kubernetes service accounts act as."""
    pipeline_root: pulumi.Input[str]
    """`gs://…/` where Pipelines stores every v2 artifact."""
    kueue: bool = False
    """Install Kueue (job queueing, the ProvisioningRequest admission check)."""
    queues: tuple[QueueSpec, ...] = ()
    """Queue chains of the stack's queued-provisioning pools (`infra.kueue`)."""


class Kubeflow(pulumi.ComponentResource):
    """The Kubeflow components a stack selects, installed in dependency order."""

    installs: dict[str, pulumi.Resource]
    versions: dict[str, str]
    """Install name → pinned upstream version."""
    namespaces: dict[str, k8s.core.v1.Namespace]

    def __init__(self, name: str, args: KubeflowArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:Kubeflow", name, None, opts)
        self._name = name
        self._args = args
        self._opts = opts
        self.installs = {}
        self.namespaces = {}
        versions = pins()

        for ns in sorted({w.namespace for w in WORKLOADS.values()} - {KUBEFLOW_NAMESPACE}):
            self._namespace(ns, _workload_namespace_labels(ns))
        self._workload_service_accounts()
        if (args.katib or args.training_operator) and not args.pipelines:
            # No Pipelines install to own it: the platform does, and never deletes it.
            self._namespace(KUBEFLOW_NAMESPACE, retain_on_delete=True)

        if args.cert_manager:
            ns = self._namespace(CERT_MANAGER_NAMESPACE)
            self._chart("cert-manager", versions["cert_manager"], CERT_MANAGER_NAMESPACE,
                        {"crds": {"enabled": True}}, [ns])
        if args.pipelines:
            scoped = self._directory("pipelines-cluster-scoped",
                                     versions["pipelines_cluster_scoped"], [])
            kfp = self._directory("pipelines", versions["pipelines"], [scoped])
            self._pipelines_config(kfp)
        owner = (self.installs["pipelines-cluster-scoped"] if args.pipelines
                 else self.namespaces.get(KUBEFLOW_NAMESPACE))
        if args.training_operator:
            self._directory("training-operator", versions["training_operator"], [owner])
        if args.katib:
            deps = [self.installs["training-operator"]] if args.training_operator else []
            self._directory("katib", versions["katib"], [*deps, owner])
        if args.pipelines and args.kserve:
            self._pipelines_may_deploy(self.installs["pipelines"])
        if args.kserve:
            ns = self._namespace(KSERVE_NAMESPACE)
            crd = self._chart("kserve-crd", versions["kserve_crd"], KSERVE_NAMESPACE, {}, [ns])
            controller = self._chart(
                "kserve-resources", versions["kserve_resources"], KSERVE_NAMESPACE,
                {"kserve": {"controller": {"deploymentMode": KSERVE_DEPLOYMENT_MODE}}},
                [ns, crd, *([self.installs["cert-manager"]] if args.cert_manager else [])])
            if args.kserve_runtimes:
                self._chart("kserve-runtime-configs", versions["kserve_runtime_configs"],
                            KSERVE_NAMESPACE, {"kserve": {"servingruntime": {"enabled": True}}},
                            [crd, controller])

        if args.kueue:
            self._kueue(versions["kueue"])

        self.versions = {key: versions[_pin_key(key)].version for key in self.installs}
        self.register_outputs({
            "installed": self.versions,
            "namespaces": [n.metadata.name for n in self.namespaces.values()],
        })

    def prerequisites(self, workload: Literal["training", "serving"],
                      tuning: bool = False) -> list[pulumi.Resource]:
        """What a workload chart waits for: its namespace and the installs whose CRDs it uses
        (TFJob from the Training Operator, Experiment from Katib, InferenceService from KServe)."""
        installs = {"training": ["training-operator", *(["katib"] if tuning else [])],
                    "serving": ["kserve-resources",
                                *(["kserve-runtime-configs"] if self._args.kserve_runtimes
                                  else [])]}[workload]
        return [self.namespaces[WORKLOADS[workload].namespace],
                *(self.installs[key] for key in installs)]

    def _kueue(self, pin: Pin) -> None:
        """Kueue, after the Training Operator whose TFJobs it admits, then each queued pool's
        queue chain (flavor, provisioning config, admission check, cluster and local queues)."""
        ns = self._namespace(KUEUE_NAMESPACE)
        after = [self.installs[k] for k in ("training-operator",) if k in self.installs]
        kueue = self._chart("kueue", pin, KUEUE_NAMESPACE, chart_values(), [ns, *after])
        for spec in self._args.queues:
            created: list[pulumi.Resource] = []
            for obj in queue_objects(spec):
                meta = obj["metadata"]
                namespace = meta.get("namespace")
                deps: list[pulumi.Resource] = [kueue, *created]
                if namespace in self.namespaces:
                    deps.append(self.namespaces[namespace])
                elif namespace == KUBEFLOW_NAMESPACE and "pipelines-cluster-scoped" in \
                        self.installs:
                    deps.append(self.installs["pipelines-cluster-scoped"])
                suffix = f"-{namespace}" if namespace else ""
                created.append(k8s.apiextensions.CustomResource(
                    f"{self._name}-kueue-{obj['kind'].lower()}-{spec.name}{suffix}",
                    api_version=obj["apiVersion"], kind=obj["kind"],
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=meta["name"], namespace=namespace, labels=meta["labels"]),
                    spec=obj["spec"],
                    opts=self._child(deps)))

    def _child(self, depends_on: list[pulumi.Resource]) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions.merge(
            child_opts(self, self._opts, provider=self._args.provider),
            pulumi.ResourceOptions(depends_on=depends_on))

    def _namespace(self, ns: str, labels: dict[str, str] | None = None,
                   retain_on_delete: bool = False) -> k8s.core.v1.Namespace:
        self.namespaces[ns] = k8s.core.v1.Namespace(
            f"{self._name}-ns-{ns}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ns, labels=labels or {}),
            opts=pulumi.ResourceOptions.merge(
                self._child([]), pulumi.ResourceOptions(retain_on_delete=retain_on_delete)),
        )
        return self.namespaces[ns]

    def _chart(self, key: str, pin: Pin, namespace: str, values: dict[str, Any],
               depends_on: list[pulumi.Resource]) -> k8s.helm.v4.Chart:
        chart = k8s.helm.v4.Chart(
            f"{self._name}-{key}",
            chart=pin.chart,
            version=pin.version,
            repository_opts=k8s.helm.v4.RepositoryOptsArgs(repo=pin.repository)
            if pin.repository else None,
            namespace=namespace,
            values=values,
            opts=self._child(depends_on),
        )
        self.installs[key] = chart
        return chart

    def _directory(self, key: str, pin: Pin,
                   depends_on: list[pulumi.Resource]) -> k8s.kustomize.v2.Directory:
        directory = k8s.kustomize.v2.Directory(
            f"{self._name}-{key}", directory=install_directory(pin), opts=self._child(depends_on))
        self.installs[key] = directory
        return directory

    def _workload_service_accounts(self) -> None:
        for workload, spec in WORKLOADS.items():
            annotations = {WI_ANNOTATION: self._args.workload_service_accounts[workload]}
            for ksa in spec.ksas:
                if spec.namespace == KUBEFLOW_NAMESPACE:
                    continue  # created by the Pipelines manifests; annotated by a patch below
                k8s.core.v1.ServiceAccount(
                    f"{self._name}-ksa-{spec.namespace}-{ksa}",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=ksa, namespace=spec.namespace, annotations=annotations),
                    automount_service_account_token=False,
                    opts=self._child([self.namespaces[spec.namespace]]),
                )

    def _pipelines_config(self, kfp: pulumi.Resource) -> None:
        spec = WORKLOADS["pipelines"]
        annotations = {WI_ANNOTATION: self._args.workload_service_accounts["pipelines"]}
        for ksa in spec.ksas:
            # The Pipelines manifests own these service accounts; a server-side-apply patch adds
            # only our annotation and leaves the rest to upstream.
            k8s.core.v1.ServiceAccountPatch(
                f"{self._name}-ksa-{spec.namespace}-{ksa}",
                metadata=k8s.meta.v1.ObjectMetaPatchArgs(
                    name=ksa, namespace=spec.namespace, annotations=annotations),
                opts=self._child([kfp]),
            )
        # The v2 launcher reads the default pipeline root from this ConfigMap in the namespace
        # runs execute in; artifacts then go to GCS as the pipeline-runner's Google account.
        # Pipelines ships the ConfigMap with the field set (empty), so the patch forces it.
        k8s.core.v1.ConfigMapPatch(
            f"{self._name}-kfp-launcher",
            metadata=k8s.meta.v1.ObjectMetaPatchArgs(
                name="kfp-launcher", namespace=spec.namespace, annotations=PATCH_FORCE),
            data={"defaultPipelineRoot": self._args.pipeline_root},
            opts=self._child([kfp]),
        )

    def _pipelines_may_deploy(self, kfp: pulumi.Resource) -> None:
        """Let pipeline runs create and update InferenceServices in the serving namespace only."""
        serving, pipelines = WORKLOADS["serving"], WORKLOADS["pipelines"]
        after = self._child([kfp, self.namespaces[serving.namespace]])
        role = k8s.rbac.v1.Role(
            f"{self._name}-pipelines-deploy",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="pipelines-deploy",
                                                namespace=serving.namespace),
            rules=[k8s.rbac.v1.PolicyRuleArgs(
                api_groups=["serving.kserve.io"], resources=["inferenceservices"],
                verbs=["get", "list", "watch", "create", "update", "patch"])],
            opts=after,
        )
        k8s.rbac.v1.RoleBinding(
            f"{self._name}-pipelines-deploy",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="pipelines-deploy",
                                                namespace=serving.namespace),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io",
                                             kind="Role", name="pipelines-deploy"),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=pipelines.ksas[0],
                                              namespace=pipelines.namespace)],
            opts=pulumi.ResourceOptions.merge(after, pulumi.ResourceOptions(depends_on=[role])),
        )


def install_directory(pin: Pin) -> str:
    """What a kustomize install reads: the pin's overlay in this repository (absolute, as the
    provider resolves it in its own process), or else the upstream directory itself."""
    if pin.overlay:
        return str(REPO_ROOT / pin.overlay)
    assert pin.directory is not None, f"{pin.key}: a kustomize pin names a directory"
    return pin.directory


def _pin_key(install: str) -> str:
    return install.replace("-", "_")


def _workload_namespace_labels(namespace: str) -> dict[str, str]:
    labels = {"pod-security.kubernetes.io/enforce": "baseline",
              "pod-security.kubernetes.io/warn": "restricted",
              "app.kubernetes.io/part-of": "ml-platform"}
    if namespace == WORKLOADS["training"].namespace:
        # Katib injects its metrics-collector sidecar only into labelled namespaces.
        labels["katib.kubeflow.org/metrics-collector-injection"] = "enabled"
    return labels
