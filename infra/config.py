"""Typed stack configuration and its validation.

A stack file (`stacks/Pulumi.<stack>.yaml`) carries the provider keys `gcp:project` and
`gcp:region` and one structured key, `ml-platform:platform`, parsed here into frozen pydantic
models. Defaults live on the models and nowhere else. Structural errors (wrong types, unknown
keys) come from pydantic; hardware errors (a GPU that cannot attach, a zone without that GPU) come
from the hardware catalog. Both are reported as one `ConfigError` whose lines each name the field
path, the bad value and what is allowed, before any resource is declared.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator

from facts.capacity import CapacityCatalog, capacity
from facts.documents import MAX_DEPTH, too_deep
from facts.documents import StrictModel as _Model
from facts.hardware import AttachmentError, HardwareCatalog, UnknownMachineType, catalog
from facts.images import PINNED_TAG_RULE, is_pinned_tag
from facts.text import shown

PROJECT_NAME = "ml-platform"
PLATFORM_KEY = f"{PROJECT_NAME}:platform"
PROJECT_KEY = "gcp:project"
REGION_KEY = "gcp:region"

# Limits Google Cloud enforces, checked here so that a stack breaking one fails before any
# resource is declared instead of half-way through `pulumi up`.
GKE_MAX_NODES_PER_POOL_ZONE = 1000
"""GKE Standard: at most 1,000 nodes per node pool in each zone ("Nodes per node pool zone",
https://cloud.google.com/kubernetes-engine/quotas)."""
GKE_CLUSTER_NODE_QUOTA = 5000
"""GKE Standard: more than 5,000 nodes in one cluster needs Google to lift a cluster-size quota
(same page); a stack asking for more is almost certainly a typo."""
MASTER_CIDR_PREFIX = 28
"""A private cluster's control-plane range is a /28 (`master_ipv4_cidr_block`)."""
MAX_LABELS = 64
"""A Google Cloud resource carries at most 64 labels."""
LABEL_RULE = ("label keys are 1-63 lowercase letters, digits, '_' or '-', starting with a letter; "
              "values are 0-63 of the same characters")
NODE_LABEL_RULE = (LABEL_RULE + "; as Kubernetes node labels, keys and non-empty values also "
                   "start and end with a letter or digit")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_NODE_LABEL_KEY = re.compile(r"[a-z]([a-z0-9_-]{0,61}[a-z0-9])?")
_NODE_LABEL_VALUE = re.compile(r"([a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?)?")
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_TAINT_KEY = re.compile(rf"({_DNS_LABEL}(\.{_DNS_LABEL})*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{{0,61}}"
                        r"[A-Za-z0-9])?")
_TAINT_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_POOL_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
_PROJECT_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
_HH_MM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")




LabelValue = Annotated[str, Field(pattern=_LABEL_VALUE.pattern)]


class Labels(_Model):
    """Labels put on every labelled resource; the cost report groups spend by them."""

    team: LabelValue
    cost_center: LabelValue
    env: LabelValue

    def as_gcp(self) -> dict[str, str]:
        """Labels as put on resources: ``cost_center`` becomes the key ``cost-center``."""
        return {"team": self.team, "cost-center": self.cost_center, "env": self.env,
                "managed-by": "pulumi", "platform": PROJECT_NAME}


class NetworkConfig(_Model):
    """Address plan of the VPC-native cluster. The four ranges must not overlap."""

    subnet_cidr: str = "10.10.0.0/20"
    pods_cidr: str = "10.16.0.0/14"
    services_cidr: str = "10.20.0.0/20"
    master_cidr: str = "172.16.0.0/28"
    """The control plane's peered range; GKE requires a /28."""

    @field_validator("subnet_cidr", "pods_cidr", "services_cidr", "master_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            ipaddress.IPv4Network(value, strict=True)
        except ValueError as err:
            raise ValueError(f"must be an IPv4 network in CIDR form such as 10.0.0.0/20 ({err})")\
                from None
        return value


class AuthorizedNetwork(_Model):
    """A CIDR allowed to reach the cluster's control plane."""

    cidr: str
    display_name: str

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        network = ipaddress.IPv4Network(value, strict=False)
        if network.prefixlen == 0:
            raise ValueError("0.0.0.0/0 would open the control plane to the internet; "
                             "name the networks that need access")
        return value


class MaintenanceWindow(_Model):
    """A recurring window in UTC during which GKE may upgrade the cluster."""

    start_time: str = "03:00"
    duration_hours: int = Field(default=4, ge=4, le=24)
    """GKE requires at least 4 hours of availability within any 32-day rolling window."""
    days: tuple[Literal["MO", "TU", "WE", "TH", "FR", "SA", "SU"], ...] = ("SA", "SU")

    @field_validator("start_time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not _HH_MM.match(value):
            raise ValueError("must be HH:MM in 24-hour UTC time, e.g. 03:00")
        return value


class ClusterConfig(_Model):
    """Options of the GKE control plane."""

    mode: Literal["zonal", "regional"] = "zonal"
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = "REGULAR"
    private_endpoint: bool = False
    """True hides the public control-plane endpoint: reach it from inside the VPC only."""
    authorized_networks: tuple[AuthorizedNetwork, ...] = ()
    deletion_protection: bool = True
    secrets_encryption: bool = True
    """Encrypt Kubernetes Secrets with a Cloud KMS key. Key rings can never be deleted, so a
    stack that is destroyed and recreated often may turn this off."""
    maintenance_window: MaintenanceWindow = MaintenanceWindow()


class Taint(_Model):
    """A Kubernetes taint on every node of a pool."""

    key: str = Field(max_length=317)
    value: str = Field(max_length=63)
    effect: Literal["NO_SCHEDULE", "PREFER_NO_SCHEDULE", "NO_EXECUTE"] = "NO_SCHEDULE"

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _TAINT_KEY.fullmatch(value) or len(value.rpartition("/")[0]) > 253:
            raise ValueError("must be a Kubernetes qualified name: an optional DNS-subdomain "
                             "prefix (at most 253 characters) and '/', then 1-63 letters, "
                             "digits, '-', '_' or '.', starting and ending with a letter or "
                             "digit (e.g. nvidia.com/gpu)")
        return value

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        if not _TAINT_VALUE.fullmatch(value):
            raise ValueError("must be 0-63 letters, digits, '-', '_' or '.', starting and "
                             "ending with a letter or digit")
        return value


class GpuSharingConfig(_Model):
    """Several containers share each physical GPU of a pool (GKE GPU sharing)."""

    strategy: Literal["time-sharing", "mps"] = "time-sharing"
    """time-sharing: containers take turns on the whole GPU; mps: NVIDIA MPS runs them side by
    side. Each container asks for one `nvidia.com/gpu` and gets a share."""
    max_clients_per_gpu: int
    """How many containers may share one GPU; the allowed range is in
    `facts/data/capacity.yaml`. The cost module divides the GPU-hour by it."""


class AcceleratorConfig(_Model):
    """GPUs attached to every node of a pool."""

    type: str
    count: int = Field(default=1, ge=1)
    driver_version: Literal["DEFAULT", "LATEST"] = "DEFAULT"
    """GKE installs the NVIDIA driver itself; changing this recreates the pool's nodes."""
    sharing: GpuSharingConfig | None = None
    """Share each GPU among several containers (experiment and serving pools)."""


Provisioning = Literal["standard", "flex-start", "queued"]
"""How a pool obtains its nodes. standard: on demand (or spot) when the autoscaler asks;
flex-start: Dynamic Workload Scheduler finds the GPUs when it can, for at most `max_run_hours`;
queued: flex-start nodes that only a ProvisioningRequest obtains, all of a job's nodes at once
(Kueue creates the request when it admits a job)."""


MIN_BOOT_DISK_GB = 50
"""Smallest boot disk a pool may have. A node's disk holds the OS image, the system and
Kubeflow images and our own: the trainer's GPU image alone (CUDA libraries and TensorFlow) is
several GB to pull and unpack, and a 10 GB disk runs out while pulling it (image garbage
collection starts at 85 % use)."""


class NodePoolConfig(_Model):
    """One GKE node pool. Node counts are totals across the pool's zones."""

    name: str
    machine_type: str
    min_nodes: int = Field(default=0, ge=0)
    max_nodes: int = Field(default=1, ge=1)
    spot: bool = False
    disk_size_gb: int = Field(default=100, ge=MIN_BOOT_DISK_GB, le=65536)
    disk_type: Literal["pd-standard", "pd-balanced", "pd-ssd"] = "pd-balanced"
    labels: dict[str, str] = Field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    accelerator: AcceleratorConfig | None = None
    zones: tuple[str, ...] | None = None
    """Zones for this pool; defaults to the cluster's zones. GPU pools may need fewer."""
    provisioning: Provisioning = "standard"
    max_run_hours: int | None = Field(default=None, ge=1)
    """Flex-start pools only: GKE removes a node after this many hours (at most the limit in
    `facts/data/capacity.yaml`; GKE's default when unset). Jobs must finish or checkpoint."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _POOL_NAME.match(value):
            raise ValueError("must be 1-40 lowercase letters, digits or hyphens, "
                             "starting with a letter")
        return value

    @property
    def is_gpu(self) -> bool:
        return self.accelerator is not None

    @property
    def flex_start(self) -> bool:
        return self.provisioning in ("flex-start", "queued")

    @property
    def queued(self) -> bool:
        return self.provisioning == "queued"

    @property
    def shared(self) -> GpuSharingConfig | None:
        return self.accelerator.sharing if self.accelerator else None


Flavor = Literal["kubeflow", "vertex", "both"]
"""kubeflow: a GKE cluster running Kubeflow; vertex: Vertex AI only, no cluster; both: the two."""


class KubeflowConfig(_Model):
    """Which Kubeflow components to install on the cluster; each can be switched off."""

    cert_manager: bool = True
    pipelines: bool = True
    training_operator: bool = True
    katib: bool = True
    kserve: bool = True
    kueue: bool = False
    """Kueue, which admits training jobs into queued-provisioning pools through a
    ProvisioningRequest; needed by any pool with `provisioning: queued`."""


_RESOURCE_ID = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")


class PersistentResourceConfig(_Model):
    """Reserved Vertex AI training capacity: machines that stay up while the resource exists,
    billed whether jobs run or not; custom and tuning jobs run on them with
    `mlp vertex ... --persistent-resource <name>`."""

    name: str
    """The resource id: 1-63 lowercase letters, digits or hyphens, starting with a letter."""
    machine_type: str
    accelerator_type: str | None = None
    """GKE name from the hardware catalog (e.g. nvidia-tesla-t4); Vertex gets its own name."""
    accelerator_count: int = Field(default=0, ge=0)
    replicas: int = Field(default=1, ge=1)
    """Machines kept up all the time."""
    max_replicas: int | None = Field(default=None, ge=1)
    """With a maximum, Vertex AI scales between `replicas` and it as jobs need."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _RESOURCE_ID.match(value):
            raise ValueError("must be 1-63 lowercase letters, digits or hyphens, starting with "
                             "a letter and not ending with a hyphen")
        return value


class VertexConfig(_Model):
    """Vertex AI resources the CIFAR-10 jobs and endpoint use."""

    endpoint_display_name: str = Field(default="cifar10", min_length=1, max_length=128)
    tensorboard_display_name: str = Field(default="cifar10", min_length=1, max_length=128)
    """Vertex AI display names are 1-128 characters."""
    persistent_resource: PersistentResourceConfig | None = None


_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")


class NotificationChannel(_Model):
    """Where alerts go: a Cloud Monitoring notification channel of type e-mail."""

    type: Literal["email"] = "email"
    address: str = Field(max_length=254)
    display_name: str | None = Field(default=None, min_length=1, max_length=100)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        if not _EMAIL.match(value):
            raise ValueError("must be an e-mail address such as ml-oncall@example.com")
        return value


class ServingSlo(_Model):
    """Service-level objectives of the CIFAR-10 predictor; the serving alerts fire beyond them."""

    latency_p99_ms: float = Field(default=500.0, gt=0, le=60_000)
    """99th percentile of request latency, over 5 minutes."""
    error_rate: float = Field(default=0.01, gt=0, lt=1)
    """Share of predict requests answered with a 5xx (Vertex AI: counted errors), over 5 min."""


class MonitoringConfig(_Model):
    """Dashboards, alert policies and the predictor's feature log (model monitoring).

    With `enabled`, the stack declares its notification channels, a dashboard, log-based metrics
    and alert policies (serving error rate and latency against `serving_slo`, GPUs idle for
    `gpu_idle_hours`, drift, failed runs), and the predictor logs the monitored features of
    sampled requests to `gs://<models bucket>/cifar10/monitoring/features`."""

    enabled: bool = False
    notification_channels: tuple[NotificationChannel, ...] = ()
    serving_slo: ServingSlo = ServingSlo()
    gpu_idle_hours: int = Field(default=6, ge=1, le=24)
    """A GPU at 0 % utilisation this long alerts: a node that costs money and does nothing."""
    feature_sample_rate: float | None = Field(default=None, gt=0, le=1)
    """Share of requests whose features the predictor logs; None: the monitoring defaults
    (`workloads/monitoring/defaults.yaml`)."""
    retrain_on_drift: bool = False
    """Whether the monitoring pipeline may launch the training pipeline when it finds drift
    (exported as `retrainOnDrift`; `mlp monitor run --stack-outputs` follows it)."""


_BILLING_ACCOUNT = re.compile(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")


class BudgetConfig(_Model):
    """A monthly billing budget on the project, alerting at each threshold of the amount."""

    billing_account: str
    amount_usd: int = Field(ge=1)
    thresholds: tuple[float, ...] = (0.5, 0.9, 1.0)
    """Fractions of the amount (1.0 = 100 %) at which budget alerts are sent."""
    quota_project: str | None = None
    """Project the Billing Budget API bills its calls to. With user credentials the API has no
    project of its own to use and refuses the call; None uses the stack's project, where the
    stack enables the API. The deploying identity needs `serviceusage.services.use` on it."""

    @field_validator("billing_account")
    @classmethod
    def _account(cls, value: str) -> str:
        if not _BILLING_ACCOUNT.match(value):
            raise ValueError("must be a billing account id like 012345-6789AB-CDEF01")
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(not 0 < t <= 2 for t in value) or list(value) != sorted(set(value)):
            raise ValueError("must be increasing fractions above 0 and at most 2, e.g. "
                             "[0.5, 0.9, 1.0]")
        return value


class _Release(_Model):
    """A chart of `charts/` that the stack deploys on its cluster."""

    enabled: bool = False
    image_tag: str = "0.1.0"
    """Pinned tag of the image in the stack's registry; `latest` is refused."""
    gpu_pool: str | None = None
    """Name of a GPU node pool: its accelerator type and count go to the chart."""
    values: dict[str, Any] = Field(default_factory=dict)
    """Further chart values, merged last and validated by the chart's values.schema.json."""

    @field_validator("image_tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        if not is_pinned_tag(value):
            raise ValueError(f"must be {PINNED_TAG_RULE}")
        return value


class TrainingRelease(_Release):
    """The `cifar10-training` chart: one TFJob, or a Katib Experiment of TFJob trials."""

    workers: int = Field(default=0, ge=0, le=64)
    search_space: str | None = None
    """A search space of workloads/tuning/spaces (e.g. katib-study): tune with Katib."""


class ServingRelease(_Release):
    """The `cifar10-serving` chart: a KServe InferenceService."""

    runtime: Literal["custom", "tensorflow"] = "custom"
    model_version: int = Field(default=1, ge=1)
    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(default=3, ge=1)


class WorkloadsConfig(_Model):
    training: TrainingRelease = TrainingRelease()
    serving: ServingRelease = ServingRelease()


class StorageConfig(_Model):
    """Buckets and registry behaviour."""

    protect: bool = True
    """Protect buckets and the registry so `pulumi destroy` refuses to delete models and data."""
    pipeline_root_retention_days: int = Field(default=30, ge=1)
    noncurrent_versions_kept: int = Field(default=3, ge=1)
    registry_keep_recent: int = Field(default=10, ge=1)
    registry_untagged_max_age_days: int = Field(default=14, ge=1)


class PlatformConfig(_Model):
    """The whole of `ml-platform:platform` in a stack file, plus the provider's project/region."""

    project: str
    region: str
    flavor: Flavor = "kubeflow"
    zones: tuple[str, ...] = ()
    labels: Labels
    network: NetworkConfig = NetworkConfig()
    cluster: ClusterConfig = ClusterConfig()
    node_pools: tuple[NodePoolConfig, ...] = ()
    kubeflow: KubeflowConfig = KubeflowConfig()
    workloads: WorkloadsConfig = WorkloadsConfig()
    vertex: VertexConfig = VertexConfig()
    storage: StorageConfig = StorageConfig()
    budget: BudgetConfig | None = None
    monitoring: MonitoringConfig = MonitoringConfig()

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        if not _PROJECT_ID.match(value):
            raise ValueError("must be a GCP project id: 6-30 lowercase letters, digits or "
                             "hyphens, starting with a letter")
        return value

    @property
    def has_cluster(self) -> bool:
        return self.flavor in ("kubeflow", "both")

    @property
    def has_vertex(self) -> bool:
        return self.flavor in ("vertex", "both")

    @property
    def location(self) -> str:
        """Where the cluster lives: its one zone, or the region."""
        return self.zones[0] if self.cluster.mode == "zonal" else self.region

    def pool_zones(self, pool: NodePoolConfig) -> tuple[str, ...]:
        return pool.zones or self.zones


@dataclass(frozen=True)
class Problem:
    """One invalid value: where it is, what it was, and what would be accepted."""

    path: str
    value: Any
    allowed: str

    def __str__(self) -> str:
        return f"{self.path}: {shown(self.value)} is not valid; {self.allowed}"


class ConfigError(ValueError):
    """A stack configuration that must not be deployed; `problems` lists every reason.

    One problem reads as one line; several as a header and one line each.
    """

    def __init__(self, stack: str, problems: list[Problem]) -> None:
        self.stack = stack
        self.problems = problems
        if len(problems) == 1:
            super().__init__(f"stack '{stack}': {problems[0]}")
            return
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"stack '{stack}' has {len(problems)} invalid settings:\n{lines}")


def _path(loc: tuple[int | str, ...], root: str) -> str:
    out = root
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _from_pydantic(err: ValidationError, root: str, data: Mapping[str, Any]) -> list[Problem]:
    problems = []
    seen = set()
    for e in err.errors():
        loc = tuple(e["loc"])
        # project and region come from the provider keys, not from the platform object.
        path = {("project",): PROJECT_KEY, ("region",): REGION_KEY}.get(loc, _path(loc, root))
        if path in seen:
            continue  # one line per field, even where pydantic tries several types
        seen.add(path)
        value = e.get("input", "<missing>") if e["type"] != "missing" else "<missing>"
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            message = "unknown key; check its spelling against infra/config.py"
        problems.append(Problem(path, value, message))
    return problems


def _check_hardware(cfg: PlatformConfig, root: str, hw: HardwareCatalog) -> list[Problem]:
    problems: list[Problem] = []
    if cfg.region not in hw.regions:
        return [Problem(REGION_KEY, cfg.region,
                        f"supported regions: {', '.join(sorted(hw.regions))}")]
    problems += _check_monitoring(cfg, root)
    if problems:
        return problems
    if not cfg.has_cluster:
        return [Problem(f"{root}.{key}", list(value),
                        f"flavor '{cfg.flavor}' creates no GKE cluster; remove {key} or use "
                        f"flavor kubeflow or both")
                for key, value in (("zones", cfg.zones), ("node_pools", [p.name for p in
                                                                         cfg.node_pools]))
                if value]
    problems += _check_network(cfg.network, root)
    problems += _check_pool_limits(cfg, root)
    problems += _check_kubeflow(cfg, root)
    problems += _check_workloads(cfg, root)
    region_zones = hw.zones(cfg.region)
    for i, zone in enumerate(cfg.zones):
        if zone not in region_zones:
            problems.append(Problem(f"{root}.zones[{i}]", zone,
                                    f"zones of {cfg.region}: {', '.join(region_zones)}"))
    if not cfg.zones:
        problems.append(Problem(f"{root}.zones", [], "name at least one zone"))
    if cfg.cluster.mode == "zonal" and len(cfg.zones) != 1:
        problems.append(Problem(f"{root}.zones", list(cfg.zones),
                                "a zonal cluster lives in exactly one zone"))

    names = [p.name for p in cfg.node_pools]
    for i, pool in enumerate(cfg.node_pools):
        at = f"{root}.node_pools[{i}]"
        if names.count(pool.name) > 1:
            problems.append(Problem(f"{at}.name", pool.name, "pool names must be unique"))
        if pool.min_nodes > pool.max_nodes:
            problems.append(Problem(f"{at}.min_nodes", pool.min_nodes,
                                    f"must be at most max_nodes ({pool.max_nodes})"))
        for j, zone in enumerate(pool.zones or ()):
            if zone not in cfg.zones:
                problems.append(Problem(f"{at}.zones[{j}]", zone,
                                        f"a pool's zones must be cluster zones: "
                                        f"{', '.join(cfg.zones)}"))
        problems += _check_pool_hardware(cfg, pool, at, hw)
        problems += _check_capacity(cfg, pool, at, hw, capacity())

    if not any(not p.is_gpu and not p.taints for p in cfg.node_pools):
        problems.append(Problem(f"{root}.node_pools", names,
                                "add an untainted CPU pool so system pods have somewhere to run"))
    return problems


def _check_monitoring(cfg: PlatformConfig, root: str) -> list[Problem]:
    """Alert policies need somewhere to send alerts: a stack that monitors names a channel."""
    m = cfg.monitoring
    if m.enabled and not m.notification_channels:
        return [Problem(f"{root}.monitoring.notification_channels", [],
                        "alert policies need at least one notification channel; add one such "
                        "as {type: email, address: ml-oncall@example.com}, or set "
                        "monitoring.enabled: false")]
    addresses = [c.address.lower() for c in m.notification_channels]
    return [Problem(f"{root}.monitoring.notification_channels[{i}].address", c.address,
                    "each address may appear once")
            for i, c in enumerate(m.notification_channels)
            if addresses.count(c.address.lower()) > 1][:1]


def _check_network(net: NetworkConfig, root: str) -> list[Problem]:
    """The control-plane range is a /28, and no two of the cluster's ranges overlap."""
    at = f"{root}.network"
    problems = []
    ranges = {key: ipaddress.IPv4Network(getattr(net, key))
              for key in ("subnet_cidr", "pods_cidr", "services_cidr", "master_cidr")}
    if ranges["master_cidr"].prefixlen != MASTER_CIDR_PREFIX:
        problems.append(Problem(f"{at}.master_cidr", net.master_cidr,
                                f"GKE requires a /{MASTER_CIDR_PREFIX} for the control plane, "
                                "e.g. 172.16.0.0/28"))
    keys = list(ranges)
    for i, key in enumerate(keys):
        for other in keys[:i]:
            if ranges[key].overlaps(ranges[other]):
                problems.append(Problem(f"{at}.{key}", getattr(net, key),
                                        f"overlaps {other} ({getattr(net, other)}); the subnet, "
                                        "pods, services and control-plane ranges must be "
                                        "disjoint"))
    return problems


def _check_pool_limits(cfg: PlatformConfig, root: str) -> list[Problem]:
    """Node labels and node counts within what GKE accepts."""
    problems: list[Problem] = []
    for i, pool in enumerate(cfg.node_pools):
        at = f"{root}.node_pools[{i}]"
        # The platform adds a `node-pool` label to every pool.
        if len(pool.labels) + 1 > MAX_LABELS:
            problems.append(Problem(f"{at}.labels", len(pool.labels),
                                    f"at most {MAX_LABELS - 1} labels (the platform adds "
                                    "node-pool)"))
        for key, value in pool.labels.items():
            if not _NODE_LABEL_KEY.fullmatch(key):
                problems.append(Problem(f"{at}.labels", key, NODE_LABEL_RULE))
            elif not _NODE_LABEL_VALUE.fullmatch(value):
                problems.append(Problem(f"{at}.labels.{key}", value, NODE_LABEL_RULE))
        zones = len(cfg.pool_zones(pool))
        limit = GKE_MAX_NODES_PER_POOL_ZONE * zones
        if zones and pool.max_nodes > limit:
            problems.append(Problem(f"{at}.max_nodes", pool.max_nodes,
                                    f"at most {limit}: GKE allows {GKE_MAX_NODES_PER_POOL_ZONE} "
                                    f"nodes per zone in a node pool, and this pool spans "
                                    f"{zones} zone(s)"))
    total = sum(p.max_nodes for p in cfg.node_pools)
    if total > GKE_CLUSTER_NODE_QUOTA and not any(p.path.endswith(".max_nodes")
                                                  for p in problems):
        problems.append(Problem(f"{root}.node_pools", [p.max_nodes for p in cfg.node_pools],
                                f"max_nodes add up to {total}, more than GKE's cluster-size "
                                f"quota of {GKE_CLUSTER_NODE_QUOTA} nodes; lower them (larger "
                                "clusters need Google to lift the quota)"))
    return problems


def _check_kubeflow(cfg: PlatformConfig, root: str) -> list[Problem]:
    kf = cfg.kubeflow
    problems = []
    if kf.kserve and not kf.cert_manager:
        problems.append(Problem(f"{root}.kubeflow.cert_manager", False,
                                "KServe's webhooks get their certificates from cert-manager; "
                                "enable cert_manager or disable kserve"))
    if kf.katib and not kf.training_operator:
        problems.append(Problem(f"{root}.kubeflow.training_operator", False,
                                "Katib trials run as TFJobs, which need the Training Operator; "
                                "enable training_operator or disable katib"))
    return problems


def _check_workloads(cfg: PlatformConfig, root: str) -> list[Problem]:
    problems = []
    gpu_pools = [p.name for p in cfg.node_pools if p.is_gpu]
    needs = {"training": ("training_operator", cfg.kubeflow.training_operator),
             "serving": ("kserve", cfg.kubeflow.kserve)}
    for kind in ("training", "serving"):
        release: _Release = getattr(cfg.workloads, kind)
        at = f"{root}.workloads.{kind}"
        if not release.enabled:
            continue
        component, installed = needs[kind]
        if not installed:
            problems.append(Problem(f"{at}.enabled", True,
                                    f"needs kubeflow.{component}, which this stack switches off"))
        if release.gpu_pool is not None and release.gpu_pool not in gpu_pools:
            problems.append(Problem(f"{at}.gpu_pool", release.gpu_pool,
                                    f"GPU pools of this stack: {', '.join(gpu_pools) or 'none'}"))
    training = cfg.workloads.training
    if training.enabled and training.search_space:
        problems += _check_search_space(cfg, f"{root}.workloads.training.search_space")
    serving = cfg.workloads.serving
    if serving.enabled and serving.gpu_pool and serving.runtime == "custom":
        problems.append(Problem(f"{root}.workloads.serving.gpu_pool", serving.gpu_pool,
                                "the cifar10-predictor image is a CPU build "
                                "(workloads/cifar10/docker/Dockerfile.predictor): serve it on "
                                "CPU nodes, or use runtime tensorflow"))
    for kind in ("training", "serving"):
        release = getattr(cfg.workloads, kind)
        pool = next((p for p in cfg.node_pools if p.name == release.gpu_pool), None)
        if release.enabled and pool is not None:
            problems += _check_pool_target(release, pool, f"{root}.workloads.{kind}", capacity())
    if serving.enabled and serving.min_replicas > serving.max_replicas:
        problems.append(Problem(f"{root}.workloads.serving.min_replicas", serving.min_replicas,
                                f"must be at most max_replicas ({serving.max_replicas})"))
    return problems


def _check_search_space(cfg: PlatformConfig, at: str) -> list[Problem]:
    from workloads.tuning.space import (
        NotExpressible,
        SearchSpaceError,
        check_expressible,
        load_space,
        space_names,
    )

    name = cfg.workloads.training.search_space
    if not cfg.kubeflow.katib:
        return [Problem(at, name, "tuning needs kubeflow.katib, which this stack switches off")]
    known = space_names()
    if name not in known:
        return [Problem(at, name, f"shipped search spaces: {', '.join(known)}")]
    try:
        check_expressible(load_space(name), "katib")
    except (SearchSpaceError, NotExpressible) as err:
        return [Problem(at, name, str(err))]
    return []


def _check_capacity(cfg: PlatformConfig, pool: NodePoolConfig, at: str, hw: HardwareCatalog,
                    cap: CapacityCatalog) -> list[Problem]:
    """Flex-start, queued provisioning and GPU sharing as the capacity catalog allows them."""
    problems: list[Problem] = []
    acc = pool.accelerator
    fs = cap.flex_start
    if pool.flex_start:
        try:
            family = hw.machine(pool.machine_type).family
        except UnknownMachineType:
            family = None  # reported by the hardware check
        if acc is None:
            problems.append(Problem(f"{at}.provisioning", pool.provisioning,
                                    f"flex-start provisions GPUs ({fs.described()}); this pool "
                                    "has no accelerator"))
        elif family is not None and not fs.supports(family, acc.type):
            problems.append(Problem(f"{at}.provisioning", pool.provisioning,
                                    f"flex-start provisions {fs.described()} "
                                    f"(facts/data/capacity.yaml); not {acc.type} on "
                                    f"{pool.machine_type}: use provisioning standard"))
        if pool.spot:
            problems.append(Problem(f"{at}.spot", True,
                                    f"a {pool.provisioning} pool cannot also be spot: flex-start "
                                    "and Spot are two provisioning models; choose one"))
        if pool.min_nodes:
            problems.append(Problem(f"{at}.min_nodes", pool.min_nodes,
                                    f"a {pool.provisioning} pool scales from zero: set "
                                    "min_nodes 0 (nodes come only when jobs ask for them)"))
        if pool.max_run_hours is not None and pool.max_run_hours > fs.max_run_hours:
            problems.append(Problem(f"{at}.max_run_hours", pool.max_run_hours,
                                    f"flex-start nodes run at most {fs.max_run_hours} hours"))
        if pool.queued and not cfg.kubeflow.kueue:
            problems.append(Problem(f"{at}.provisioning", pool.provisioning,
                                    "queued provisioning admits jobs only through Kueue's "
                                    "ProvisioningRequest check: set kubeflow.kueue: true"))
    elif pool.max_run_hours is not None:
        problems.append(Problem(f"{at}.max_run_hours", pool.max_run_hours,
                                "only flex-start pools have a maximum run duration; set "
                                "provisioning flex-start or queued, or remove it"))
    sharing = acc.sharing if acc else None
    if acc is not None and sharing is not None:
        share = cap.sharing
        where = f"{at}.accelerator.sharing"
        if not share.min_clients <= sharing.max_clients_per_gpu <= share.max_clients:
            problems.append(Problem(f"{where}.max_clients_per_gpu", sharing.max_clients_per_gpu,
                                    f"GKE shares a GPU among {share.min_clients} to "
                                    f"{share.max_clients} containers"))
        if acc.type not in share.accelerators:
            problems.append(Problem(f"{at}.accelerator.type", acc.type,
                                    f"GPU sharing takes {', '.join(share.accelerators)}"))
    return problems


def _check_pool_target(release: _Release, pool: NodePoolConfig, at: str,
                       cap: CapacityCatalog) -> list[Problem]:
    """A workload on a shared pool asks for one GPU per container, as GKE requires."""
    if pool.shared is None:
        return []
    gpu = release.values.get("gpu") if isinstance(release.values, dict) else None
    count = gpu.get("count") if isinstance(gpu, dict) else None
    limit = cap.sharing.max_gpus_per_container
    if isinstance(count, int) and not isinstance(count, bool) and count > limit:
        return [Problem(f"{at}.values.gpu.count", count,
                        f"pool {pool.name} shares its GPUs ({pool.shared.strategy}): a "
                        f"container there gets at most {limit} nvidia.com/gpu; use a pool "
                        "without sharing for multi-GPU runs")]
    return []


def _check_vertex(cfg: PlatformConfig, root: str, hw: HardwareCatalog) -> list[Problem]:
    """A declared persistent resource: a vertex stack's, on a machine the catalog attaches."""
    res = cfg.vertex.persistent_resource
    if res is None:
        return []
    at = f"{root}.vertex.persistent_resource"
    if not cfg.has_vertex:
        return [Problem(at, res.name, f"flavor '{cfg.flavor}' has no Vertex AI; use flavor "
                                      "vertex or both, or remove it")]
    problems = []
    try:
        hw.check_attachment(res.machine_type, res.accelerator_type, res.accelerator_count)
    except UnknownMachineType as err:
        return [Problem(f"{at}.machine_type", res.machine_type, str(err))]
    except AttachmentError as err:
        field = {"accelerator": "accelerator_type"}.get(err.field, err.field)
        problems.append(Problem(f"{at}.{field}", getattr(res, field), str(err)))
    if res.max_replicas is not None and res.max_replicas < res.replicas:
        problems.append(Problem(f"{at}.max_replicas", res.max_replicas,
                                f"must be at least replicas ({res.replicas})"))
    return problems


def _check_pool_hardware(cfg: PlatformConfig, pool: NodePoolConfig, at: str,
                         hw: HardwareCatalog) -> list[Problem]:
    acc = pool.accelerator
    problems: list[Problem] = []
    try:
        hw.check_attachment(pool.machine_type, acc.type if acc else None,
                            acc.count if acc else 0)
    except UnknownMachineType as err:
        return [Problem(f"{at}.machine_type", pool.machine_type, str(err))]
    except AttachmentError as err:
        where = {"accelerator": (f"{at}.accelerator", None),
                 "accelerator_type": (f"{at}.accelerator.type", acc and acc.type),
                 "accelerator_count": (f"{at}.accelerator.count", acc and acc.count),
                 "machine_type": (f"{at}.machine_type", pool.machine_type)}[err.field]
        problems.append(Problem(*where, str(err)))
        if err.field in ("accelerator", "accelerator_type"):
            return problems
    if acc is None:
        return problems

    if cfg.region in hw.regions:
        offering = hw.zones_offering(cfg.region, acc.type)
        for zone in cfg.pool_zones(pool):
            if zone in hw.regions[cfg.region] and zone not in offering:
                problems.append(Problem(
                    f"{at}.zones" if pool.zones else f"{at}.accelerator.type",
                    zone if pool.zones else acc.type,
                    f"{acc.type} is not offered in {zone}; zones of {cfg.region} with it: "
                    f"{', '.join(offering) or 'none'}"))
    return problems


def parse_platform(stack: str, config: Mapping[str, Any],
                   hw: HardwareCatalog | None = None) -> PlatformConfig:
    """Build and validate a `PlatformConfig` from a stack's config mapping.

    Args:
        stack: the stack name, for messages.
        config: the stack's `config:` mapping: `gcp:project`, `gcp:region` and the
            `ml-platform:platform` object (already parsed, not a JSON string).
        hw: the hardware catalog to validate against; the shipped one by default.

    Raises:
        ConfigError: listing every invalid value with its field path.
    """
    root = PLATFORM_KEY
    platform = config.get(PLATFORM_KEY)
    problems: list[Problem] = []
    for key in (PROJECT_KEY, REGION_KEY):
        if not isinstance(config.get(key), str):
            problems.append(Problem(key, config.get(key, "<missing>"),
                                    "set it with `pulumi config set " + key + " <value>`"))
    if not isinstance(platform, Mapping):
        problems.append(Problem(root, platform if platform is not None else "<missing>",
                                "must be an object; see stacks/Pulumi.dev.yaml"))
    if problems:
        raise ConfigError(stack, problems)
    deep = too_deep(dict(platform), MAX_DEPTH, root)
    if deep is not None:
        raise ConfigError(stack, [Problem(deep, "<nested value>",
                                          f"nested more than {MAX_DEPTH} levels deep")])
    data = {**platform, "project": config[PROJECT_KEY], "region": config[REGION_KEY]}
    try:
        cfg = PlatformConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(stack, _from_pydantic(err, root, data)) from None
    problems = _check_hardware(cfg, root, hw or catalog()) + _check_vertex(cfg, root,
                                                                           hw or catalog())
    if problems:
        raise ConfigError(stack, problems)
    return cfg
