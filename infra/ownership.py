"""Who owns each Kubernetes object: the catalogue of what every pinned upstream install creates.

Pulumi's mocks record an upstream install (a `kustomize.v2.Directory` or `helm.v4.Chart`) as one
opaque resource, so nothing offline saw that two of them, or one of them and a resource of ours,
declared the same object (Namespace `kubeflow`, ConfigMap `kfp-launcher`). When two owners hold
one object, deleting either deletes it for both, and each `pulumi up` fights over its fields.

This module:

- builds the catalogue `infra/data/ownership.yaml` from the upstream repositories at the pinned
  tags, read from local bare git mirrors (``python -m infra.ownership refresh --mirrors DIR``):
  kustomizations are walked here (resources, namespace, patches that delete, generators,
  replicas, identity replacements), charts are rendered with the real Helm library;
- records per install the CPU and memory requests of its Deployments and StatefulSets, the
  footprint that cost and capacity add to the platform's own;
- checks a `Preview` against the catalogue: an object declared by two owners is a conflict,
  except our `*Patch` resources, which change an object without owning it.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import posixpath
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import yaml

from facts.cli import print_error
from facts.stacks import REPO_ROOT
from facts.versions import Pin, pins
from infra.kueue import KUEUE_NAMESPACE
from infra.kueue import chart_values as kueue_chart_values

CATALOGUE_PATH = Path(__file__).parent / "data" / "ownership.yaml"
REFRESH_COMMAND = "uv run python -m infra.ownership refresh --mirrors MIRRORS"
RELEASE_PREFIX = "mlp-kubeflow-"
"""Install resources are named ``mlp-kubeflow-<install>``; a chart's Helm release takes the name
of its resource, and some charts (cert-manager) name their objects after the release."""
LOCAL_REPO = "ml-platform"
"""How catalogue entries name this repository (the Katib overlay lives here)."""
CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
DIRECTORY_TYPE = "kubernetes:kustomize/v2:Directory"
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

BUILTIN_CLUSTER_SCOPED = frozenset({
    "APIService", "CertificateSigningRequest", "ClusterRole", "ClusterRoleBinding",
    "CSIDriver", "CSINode", "CustomResourceDefinition", "FlowSchema", "IngressClass",
    "MutatingWebhookConfiguration", "Namespace", "Node", "PersistentVolume",
    "PodSecurityPolicy", "PriorityClass", "PriorityLevelConfiguration", "RuntimeClass",
    "StorageClass", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration", "VolumeAttachment",
})
"""Kubernetes' own cluster-scoped kinds; custom kinds are cluster-scoped when a catalogued
CustomResourceDefinition says `scope: Cluster`."""

WORKLOAD_KINDS = ("Deployment", "StatefulSet")


class OwnershipError(ValueError):
    """A kustomization or chart this module cannot read, or a catalogue that does not fit the
    preview (an install not catalogued, or catalogued at another pin)."""


class MissingTagError(OwnershipError):
    """A mirror without the tag a pin names (the mirror is older than the pin)."""


# --------------------------------------------------------------------------------------------
# What gets catalogued


@dataclass(frozen=True)
class ChartSource:
    """Where a pinned chart's source lives upstream, and how the platform installs it."""

    repo: str
    path: str
    namespace: str
    values: dict[str, Any]
    tag_prefix: str = ""
    """What the repository's release tags put before the chart version (Kueue: ``v``)."""

    def tag(self, version: str) -> str:
        return self.tag_prefix + version


CHART_SOURCES: dict[str, ChartSource] = {
    "cert_manager": ChartSource("cert-manager/cert-manager", "deploy/charts/cert-manager",
                                "cert-manager", {"crds": {"enabled": True}}),
    "kserve_crd": ChartSource("kserve/kserve", "charts/kserve-crd", "kserve", {}),
    "kserve_resources": ChartSource(
        "kserve/kserve", "charts/kserve-resources", "kserve",
        {"kserve": {"controller": {"deploymentMode": "Standard"}}}),
    "kserve_runtime_configs": ChartSource(
        "kserve/kserve", "charts/kserve-runtime-configs", "kserve",
        {"kserve": {"servingruntime": {"enabled": True}}}),
    "kueue": ChartSource("kubernetes-sigs/kueue", "charts/kueue", KUEUE_NAMESPACE,
                         kueue_chart_values(), tag_prefix="v"),
}
"""The values are those `infra.components.kubeflow` installs each chart with; the preview check
refuses a chart whose values differ from the ones its catalogue entry was rendered with."""

UPSTREAM_VARIANTS = {"katib": "katib-standalone",
                     "training-operator": "training-operator-standalone"}
"""Installs that the platform takes through an overlay, also catalogued as upstream ships them
(under this name), so that a preview bypassing the overlay is recognised and checked."""


# --------------------------------------------------------------------------------------------
# Reading files at a tag


class Tree(Protocol):
    """Files of one repository at one tag, by posix path from the repository root."""

    repo: str
    ref: str

    def read(self, path: str) -> str | None:
        """The file's text, or None when there is no file at `path`."""

    def is_dir(self, path: str) -> bool:
        """Whether `path` is a directory."""


@dataclass
class GitTree:
    """A repository at a tag, read from a bare git mirror without checking anything out."""

    git_dir: Path
    repo: str
    ref: str
    _types: dict[str, str | None] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self._git("rev-parse", "--verify", "--quiet", f"{self.ref}^{{commit}}") is None:
            raise MissingTagError(f"{self.repo}: no tag or commit '{self.ref}' in {self.git_dir}")

    def _git(self, *args: str) -> str | None:
        done = subprocess.run(["git", "--git-dir", str(self.git_dir), *args],
                              capture_output=True, text=True, check=False)
        return done.stdout if done.returncode == 0 else None

    def _type(self, path: str) -> str | None:
        if path not in self._types:
            out = self._git("cat-file", "-t", f"{self.ref}:{path}")
            self._types[path] = out.strip() if out else None
        return self._types[path]

    def read(self, path: str) -> str | None:
        return self._git("show", f"{self.ref}:{path}") if self._type(path) == "blob" else None

    def is_dir(self, path: str) -> bool:
        return path in ("", ".") or self._type(path) == "tree"

    def extract(self, path: str, into: Path) -> Path:
        """Write the directory `path` at the tag under `into`; return where it landed."""
        archive = subprocess.run(["git", "--git-dir", str(self.git_dir), "archive", self.ref,
                                  path], capture_output=True, check=False)
        if archive.returncode != 0:
            raise OwnershipError(f"{self.repo}@{self.ref}:{path}: cannot be read from the "
                                 f"mirror: {archive.stderr.decode().strip()[:200]}")
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
        return into / path


@dataclass(frozen=True)
class DirTree:
    """A folder on disk read as a repository (this repository's own overlays, tests)."""

    root: Path
    repo: str
    ref: str

    def read(self, path: str) -> str | None:
        target = self.root / path
        return target.read_text() if target.is_file() else None

    def is_dir(self, path: str) -> bool:
        return (self.root / path).is_dir()


def mirror_dir(mirrors: Path, repo: str) -> Path:
    """The bare mirror of `owner/name` under the mirror folder: ``<owner>+<name>/repo``."""
    return mirrors / repo.replace("/", "+") / "repo"


@dataclass(frozen=True)
class RemoteRef:
    """A kustomize remote resource: a folder of a GitHub repository at a ref."""

    repo: str
    path: str
    ref: str


def parse_remote(url: str) -> RemoteRef | None:
    """Split a kustomize GitHub URL into repository, path and ref; None for a local path.

    Both spellings kustomize accepts are read: ``https://github.com/o/r//path?ref=T`` and the
    older ``https://github.com/o/r/path?ref=T`` (the first two segments name the repository).
    """
    if not re.match(r"^(https://|http://|git@|ssh://)?github\.com[/:]", url):
        return None
    parts = urlsplit(url if "://" in url else "https://" + url.replace(":", "/", 1))
    ref = parse_qs(parts.query).get("ref", [None])[0]
    if ref is None:
        raise OwnershipError(f"{url}: a remote resource without ?ref= cannot be pinned")
    repo_part, _, sub = parts.path.strip("/").partition("//")
    segments = repo_part.split("/")
    repo = "/".join(segments[:2]).removesuffix(".git")
    path = "/".join([*segments[2:], *([sub] if sub else [])]).strip("/")
    return RemoteRef(repo=repo, path=path, ref=ref)


# --------------------------------------------------------------------------------------------
# Walking a kustomization


@dataclass
class Built:
    """One object a kustomization emits, with where it was written."""

    doc: dict[str, Any]
    repo: str
    tag: str
    path: str
    hash_suffix: bool = False
    """A generated ConfigMap or Secret whose real name carries kustomize's content hash."""


Resolver = Callable[[RemoteRef], Tree]
"""Turns a remote resource into the tree that holds it (a mirror at the ref)."""


def _norm(path: str) -> str:
    """A posix path from the repository root; refuses one that climbs out of it."""
    normal = posixpath.normpath(path)
    if normal.startswith(".."):
        raise OwnershipError(f"{path}: leaves the repository")
    return "" if normal == "." else normal


def _documents(text: str, where: str) -> list[dict[str, Any]]:
    """The objects of a manifest file, with `List` kinds flattened."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as err:
        raise OwnershipError(f"{where}: not YAML: {str(err).splitlines()[0]}") from None
    out = []
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc:
            raise OwnershipError(f"{where}: a document without kind")
        out.extend(doc.get("items") or [] if doc["kind"].endswith("List") else [doc])
    return out


def _kustomization_file(tree: Tree, directory: str) -> str:
    for name in KUSTOMIZATION_FILES:
        path = posixpath.join(directory, name) if directory else name
        if tree.read(path) is not None:
            return path
    raise OwnershipError(f"{tree.repo}@{tree.ref}:{directory}: no kustomization file")


IGNORED_FIELDS = frozenset({
    "apiVersion", "kind", "images", "labels", "commonLabels", "commonAnnotations",
    "configurations", "metadata", "openapi", "sortOptions", "buildMetadata",
})
"""Kustomization fields that change no object's kind, name or namespace, nor its requests."""
HANDLED_FIELDS = frozenset({
    "resources", "bases", "namespace", "patches", "patchesStrategicMerge", "patchesJson6902",
    "configMapGenerator", "secretGenerator", "generatorOptions", "replicas", "replacements",
})


def build_kustomization(tree: Tree, directory: str, resolve: Resolver) -> list[Built]:
    """Every object the kustomization in `directory` emits, as `kustomize build` would.

    Follows `resources` (files, folders, and remote folders through `resolve`), adds the
    generators' ConfigMaps and Secrets, applies patches (strategic merge, JSON 6902 and
    `$patch: delete`), `replicas`, replacements that rename, then `namespace` on namespaced
    kinds. A field that could rename objects in a way not modelled here is refused, so the
    catalogue is never silently wrong.
    """
    directory = _norm(directory)
    kfile = _kustomization_file(tree, directory)
    where = f"{tree.repo}@{tree.ref}:{kfile}"
    spec = yaml.safe_load(tree.read(kfile) or "") or {}
    unknown = sorted(set(spec) - IGNORED_FIELDS - HANDLED_FIELDS)
    if unknown:
        raise OwnershipError(f"{where}: unsupported field(s) {', '.join(unknown)}")
    built: list[Built] = []
    for entry in [*spec.get("bases", []), *spec.get("resources", [])]:
        built.extend(_resource(tree, directory, str(entry), resolve, where))
    built.extend(_generated(tree, directory, kfile, spec))
    for patch, target in _patches(tree, directory, spec, where):
        built = _apply_patch(built, patch, target, where)
    built = _apply_replicas(built, spec.get("replicas", []))
    built = _apply_replacements(built, spec.get("replacements", []), where)
    if "namespace" in spec:
        namespace = str(spec["namespace"]).strip()
        for b in built:
            if b.doc["kind"] not in BUILTIN_CLUSTER_SCOPED:
                b.doc.setdefault("metadata", {})["namespace"] = namespace
    return built


def _resource(tree: Tree, directory: str, entry: str, resolve: Resolver,
              where: str) -> list[Built]:
    remote = parse_remote(entry)
    if remote is not None:
        return build_kustomization(resolve(remote), remote.path, resolve)
    path = _norm(posixpath.join(directory, entry))
    if tree.is_dir(path):
        return build_kustomization(tree, path, resolve)
    text = tree.read(path)
    if text is None:
        raise OwnershipError(f"{where}: resource '{entry}' not found")
    return [Built(doc, tree.repo, tree.ref, path)
            for doc in _documents(text, f"{tree.repo}@{tree.ref}:{path}")]


def _generated(tree: Tree, directory: str, kfile: str, spec: dict[str, Any]) -> list[Built]:
    """The ConfigMaps and Secrets the generators create (`behavior: merge/replace` change an
    existing one instead, so they create nothing)."""
    default_no_hash = bool((spec.get("generatorOptions") or {}).get("disableNameSuffixHash"))
    out = []
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for gen in spec.get(key) or []:
            if gen.get("behavior", "create") != "create":
                continue
            options = gen.get("options") or {}
            no_hash = bool(options.get("disableNameSuffixHash", default_no_hash))
            metadata: dict[str, Any] = {"name": gen["name"]}
            if gen.get("namespace"):
                metadata["namespace"] = gen["namespace"]
            doc = {"apiVersion": "v1", "kind": kind, "metadata": metadata,
                   "data": _literals(gen.get("literals") or [])}
            out.append(Built(doc, tree.repo, tree.ref, kfile, hash_suffix=not no_hash))
    return out


def _literals(literals: Iterable[str]) -> dict[str, str]:
    return dict(str(item).split("=", 1) for item in literals if "=" in str(item))


def _patches(tree: Tree, directory: str, spec: dict[str, Any],
             where: str) -> list[tuple[Any, dict[str, Any] | None]]:
    """Each patch body (parsed) with its target selector, in kustomize's order."""
    def body(item: dict[str, Any] | str) -> Any:
        if isinstance(item, str):
            text = item if "\n" in item else tree.read(_norm(posixpath.join(directory, item)))
        elif "path" in item:
            text = tree.read(_norm(posixpath.join(directory, item["path"])))
        else:
            text = item.get("patch")
        if text is None:
            raise OwnershipError(f"{where}: patch {item!r} not found")
        return yaml.safe_load(text)

    out: list[tuple[Any, dict[str, Any] | None]] = []
    for item in spec.get("patchesStrategicMerge") or []:
        out.append((body(item), None))
    for item in spec.get("patches") or []:
        out.append((body(item), item.get("target")))
    for item in spec.get("patchesJson6902") or []:
        out.append((body(item), item["target"]))
    return out


def _group(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def _selected(doc: dict[str, Any], target: dict[str, Any]) -> bool:
    """Whether an object matches a kustomize patch target (names and kinds are regexes)."""
    meta = doc.get("metadata") or {}
    api = doc.get("apiVersion", "")
    facts = {"kind": doc.get("kind", ""), "name": meta.get("name", ""),
             "namespace": meta.get("namespace", ""), "group": _group(api),
             "version": api.rsplit("/", 1)[-1]}
    for key, want in target.items():
        if key in facts:
            if not re.fullmatch(str(want), str(facts[key])):
                return False
        elif key == "labelSelector":
            labels = meta.get("labels") or {}
            pairs = (p.split("=", 1) for p in str(want).split(","))
            if any(labels.get(k.strip()) != v.strip() for k, v in pairs):
                return False
        else:
            raise OwnershipError(f"patch target selector '{key}' is not supported")
    return True


def _apply_patch(built: list[Built], patch: Any, target: dict[str, Any] | None,
                 where: str) -> list[Built]:
    if isinstance(patch, list):  # JSON 6902 operations
        if target is None:
            raise OwnershipError(f"{where}: a JSON 6902 patch needs a target")
        for b in built:
            if _selected(b.doc, target):
                b.doc = _json6902(b.doc, patch, where)
        return built
    if not isinstance(patch, dict):
        raise OwnershipError(f"{where}: a patch that is neither a mapping nor a list")
    if target is None:
        meta = patch.get("metadata") or {}
        target = {"kind": re.escape(patch["kind"]), "name": re.escape(meta["name"])}
        if meta.get("namespace"):
            target["namespace"] = re.escape(meta["namespace"])
    if patch.get("$patch") == "delete":
        return [b for b in built if not _selected(b.doc, target)]
    for b in built:
        if _selected(b.doc, target):
            b.doc = strategic_merge(b.doc, {k: v for k, v in patch.items()
                                            if k not in ("apiVersion", "kind", "metadata")})
    return built


MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name",
              "volumes": "name", "volumeMounts": "mountPath", "ports": "containerPort"}
"""List fields a strategic merge patch merges item by item (keyed), as Kubernetes' schema says;
every other list is replaced."""


def strategic_merge(base: Any, patch: Any, key: str | None = None) -> Any:
    """A strategic merge of `patch` into `base`, for the fields catalogue and footprint read."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for k, v in patch.items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = strategic_merge(base.get(k), v, k) if k in base else v
        return merged
    if isinstance(base, list) and isinstance(patch, list) and key in MERGE_KEYS:
        by = MERGE_KEYS[key]
        merged = copy.deepcopy(base)
        for item in patch:
            index = next((i for i, old in enumerate(merged)
                          if isinstance(old, dict) and isinstance(item, dict)
                          and old.get(by) == item.get(by)), None)
            if index is None:
                merged.append(item)
            elif isinstance(item, dict) and item.get("$patch") == "delete":
                merged.pop(index)
            else:
                merged[index] = strategic_merge(merged[index], item)
        return merged
    return copy.deepcopy(patch)


def _json6902(doc: dict[str, Any], ops: list[dict[str, Any]], where: str) -> dict[str, Any]:
    """Apply add / replace / remove operations (the ones manifests use) to a copy of `doc`."""
    doc = copy.deepcopy(doc)
    for op in ops:
        steps = [s.replace("~1", "/").replace("~0", "~") for s in op["path"].split("/")[1:]]
        parent: Any = doc
        for step in steps[:-1]:
            parent = parent[int(step)] if isinstance(parent, list) else parent.setdefault(step, {})
        last = steps[-1]
        if op["op"] == "add" and isinstance(parent, list):
            parent.insert(len(parent) if last == "-" else int(last), op["value"])
        elif op["op"] in ("add", "replace"):
            parent[int(last) if isinstance(parent, list) else last] = op["value"]
        elif op["op"] == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        else:
            raise OwnershipError(f"{where}: JSON patch op '{op['op']}' is not supported")
    return doc


def _apply_replicas(built: list[Built], replicas: list[dict[str, Any]]) -> list[Built]:
    for item in replicas:
        for b in built:
            if b.doc["kind"] in (*WORKLOAD_KINDS, "ReplicaSet") and \
                    b.doc["metadata"]["name"] == item["name"]:
                b.doc.setdefault("spec", {})["replicas"] = int(item["count"])
    return built


IDENTITY_PATHS = ("metadata.name", "metadata.namespace")


def _apply_replacements(built: list[Built], replacements: list[dict[str, Any]],
                        where: str) -> list[Built]:
    """Apply the replacements that write a name or namespace; the others only change data."""
    for rep in replacements:
        targets = [t for t in rep.get("targets", [])
                   if set(t.get("fieldPaths", [])) & set(IDENTITY_PATHS)]
        if not targets:
            continue
        source = rep["source"]
        matches = [b for b in built if _selected(b.doc, {k: source[k] for k in
                                                       ("kind", "name") if k in source})]
        if len(matches) != 1:
            raise OwnershipError(f"{where}: replacement source {source} matches "
                                 f"{len(matches)} objects")
        value: Any = matches[0].doc
        for step in source.get("fieldPath", "metadata.name").split("."):
            value = value[step]
        for t in targets:
            if t.get("options"):
                raise OwnershipError(f"{where}: a replacement into a name with options")
            for b in built:
                if _selected(b.doc, t["select"]):
                    for fp in set(t["fieldPaths"]) & set(IDENTITY_PATHS):
                        b.doc.setdefault("metadata", {})[fp.split(".")[1]] = str(value)
    return built


# --------------------------------------------------------------------------------------------
# The catalogue


@dataclass(frozen=True, order=True)
class CatalogueObject:
    """One Kubernetes object an install creates, and where upstream writes it."""

    kind: str
    group: str
    namespace: str | None
    name: str
    repo: str
    tag: str
    path: str
    hash_suffix: bool = False
    """The real name is ``<name>-<hash of the content>`` (a kustomize generator's default)."""

    def key(self) -> tuple[str, str, str | None, str]:
        """What makes two declarations the same object: group, kind, namespace and name."""
        return (self.group, self.kind, self.namespace, self.name)


@dataclass(frozen=True)
class Workload:
    """A Deployment or StatefulSet of an install and what it asks the scheduler for."""

    kind: str
    namespace: str | None
    name: str
    replicas: int
    cpu_millicores: int
    """Requests of all its pods: replicas × the sum over containers (init containers aside)."""
    memory_mib: float
    containers_without_requests: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Footprint:
    """The requests of an install's long-running pods, summed."""

    cpu_millicores: int
    memory_mib: float
    pods: int
    workloads: list[Workload]


@dataclass(frozen=True)
class Install:
    """One catalogued install: how the platform installs it and what it creates."""

    name: str
    pin: str
    """The key in `facts/data/versions.yaml`."""
    method: str
    version: str
    repo: str
    tag: str
    """The tag the objects were read at (the pin, unless the note says otherwise)."""
    location: str
    """The kustomization's directory or the chart's folder in `repo`."""
    objects: list[CatalogueObject]
    footprint: Footprint
    directory: str | None = None
    """Kustomize: what the program passes as `directory` (an upstream URL or a local overlay)."""
    chart: str | None = None
    release: str | None = None
    namespace: str | None = None
    values: dict[str, Any] | None = None
    installed_by_platform: bool = True
    note: str | None = None


@dataclass(frozen=True)
class Catalogue:
    installs: dict[str, Install]
    cluster_scoped_kinds: list[str]

    def namespaced(self, kind: str) -> bool:
        return kind not in self.cluster_scoped_kinds


def parse_quantity(value: Any, unit: str) -> float:
    """A Kubernetes quantity in millicores (`unit="cpu"`) or MiB (`unit="memory"`).

    Raises:
        OwnershipError: on a value that is not a quantity, naming it.
    """
    text = str(value).strip()
    match = re.fullmatch(r"([0-9.]+(?:e[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?", text)
    if not match:
        raise OwnershipError(f"'{text}' is not a Kubernetes quantity")
    number, suffix = float(match.group(1)), match.group(2) or ""
    factor = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
              "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}[suffix]
    amount = number * factor
    return amount * 1000 if unit == "cpu" else amount / 2**20


def footprint(objects: Iterable[dict[str, Any]]) -> Footprint:
    """The summed CPU and memory requests of the Deployments and StatefulSets in `objects`."""
    workloads = []
    for doc in objects:
        if doc.get("kind") not in WORKLOAD_KINDS:
            continue
        spec = doc.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        cpu = mem = 0.0
        bare = []
        for c in containers:
            requests = (c.get("resources") or {}).get("requests") or {}
            if not requests:
                bare.append(c["name"])
            cpu += parse_quantity(requests.get("cpu", 0), "cpu")
            mem += parse_quantity(requests.get("memory", 0), "memory")
        meta = doc["metadata"]
        workloads.append(Workload(doc["kind"], meta.get("namespace"), meta["name"], replicas,
                                  round(cpu * replicas), round(mem * replicas, 1), bare))
    workloads.sort(key=lambda w: (w.kind, w.namespace or "", w.name))
    return Footprint(sum(w.cpu_millicores for w in workloads),
                     round(float(sum(w.memory_mib for w in workloads)), 1),
                     sum(w.replicas for w in workloads), workloads)


def _object_order(obj: CatalogueObject) -> tuple[str, ...]:
    return (obj.kind, obj.group, obj.namespace or "", obj.name, obj.path)


def _catalogue_objects(built: Iterable[Built]) -> list[CatalogueObject]:
    return sorted({CatalogueObject(
        kind=b.doc["kind"], group=_group(b.doc["apiVersion"]),
        namespace=(b.doc.get("metadata") or {}).get("namespace"),
        name=b.doc["metadata"]["name"], repo=b.repo, tag=b.tag, path=b.path,
        hash_suffix=b.hash_suffix) for b in built}, key=_object_order)


def _crd_scopes(built: Iterable[Built]) -> set[str]:
    """Kinds that the CRDs among `built` declare cluster-scoped."""
    return {b.doc["spec"]["names"]["kind"] for b in built
            if b.doc["kind"] == "CustomResourceDefinition"
            and (b.doc.get("spec") or {}).get("scope") == "Cluster"}


def _kustomize_install(name: str, pin: Pin, mirrors: Path, overlay: bool) -> list[Built]:
    """What one kustomize pin builds: through its overlay in this repository, or upstream."""
    def resolve(ref: RemoteRef) -> Tree:
        return GitTree(mirror_dir(mirrors, ref.repo), ref.repo, ref.ref)

    if overlay and pin.overlay:
        return build_kustomization(DirTree(REPO_ROOT, LOCAL_REPO, "working tree"),
                                   pin.overlay, resolve)
    remote = parse_remote(pin.directory or "")
    if remote is None:
        raise OwnershipError(f"{pin.key}.directory: '{pin.directory}' is not a GitHub URL")
    return build_kustomization(resolve(remote), remote.path, resolve)


def _helm_install(name: str, pin: Pin, mirrors: Path, tags: dict[str, str]
                  ) -> tuple[list[Built], str]:
    """Render a pinned chart from its source at the tag; returns objects and the tag read."""
    from infra.charts import ChartError, render_templates

    source = CHART_SOURCES[pin.key]
    tag = tags.get(pin.key, source.tag(pin.version))
    tree = GitTree(mirror_dir(mirrors, source.repo), source.repo, tag)
    with tempfile.TemporaryDirectory() as tmp:
        chart_dir = tree.extract(source.path, Path(tmp))
        try:
            rendered = render_templates(chart_dir, source.values, release=RELEASE_PREFIX + name,
                                        namespace=source.namespace)
        except ChartError as err:
            raise OwnershipError(f"{pin.key}: {err}") from None
    chart_root = source.path.rsplit("/", 1)[0]
    return [Built(doc, source.repo, tag, f"{chart_root}/{template}")
            for template, doc in rendered], tag


def _install_name(pin_key: str) -> str:
    return pin_key.replace("_", "-")


def build_catalogue(mirrors: Path, tags: dict[str, str] | None = None) -> Catalogue:
    """Read every pinned install from the mirrors and catalogue what it creates.

    Args:
        mirrors: folder of bare mirrors, ``<owner>+<name>/repo`` per repository.
        tags: pin key → tag to read instead of the pin, for a pin whose tag the mirror lacks;
            the entry then says so in its note.
    """
    tags = tags or {}
    raw: dict[str, tuple[Pin, list[Built], dict[str, Any]]] = {}
    for key, pin in pins().items():
        name = _install_name(key)
        if pin.install == "kustomize":
            remote = parse_remote(pin.directory or "")
            assert remote is not None
            common = {"method": "kustomize", "repo": remote.repo, "tag": remote.ref}
            raw[name] = (pin, _kustomize_install(name, pin, mirrors, overlay=True), {
                **common, "location": pin.overlay or remote.path,
                "directory": pin.overlay or pin.directory,
                **({"repo": LOCAL_REPO, "tag": "working tree"} if pin.overlay else {})})
            if name in UPSTREAM_VARIANTS:
                raw[UPSTREAM_VARIANTS[name]] = (
                    pin, _kustomize_install(name, pin, mirrors, overlay=False),
                    {**common, "location": remote.path, "directory": pin.directory,
                     "installed_by_platform": False,
                     "note": f"{name} as upstream ships it, without the platform's overlay; "
                             "catalogued so that a preview bypassing the overlay is checked"})
        else:
            source = CHART_SOURCES[key]
            try:
                built, tag = _helm_install(name, pin, mirrors, tags)
                note = None if tag == source.tag(pin.version) else (
                    f"rendered from {source.repo} at {tag}: the mirror has no tag "
                    f"{pin.version}; regenerate once it does")
            except MissingTagError:
                built, tag = [], tags.get(key, source.tag(pin.version))
                note = (f"not rendered offline: the {source.repo} mirror has no tag {tag}; "
                        "no objects, no footprint until it is regenerated from one that has")
            raw[name] = (pin, built, {
                "method": "helm", "repo": source.repo, "tag": tag, "location": source.path,
                "chart": pin.chart, "release": RELEASE_PREFIX + name,
                "namespace": source.namespace, "values": source.values, "note": note})
    scoped = sorted(BUILTIN_CLUSTER_SCOPED.union(*(_crd_scopes(b) for _, b, _ in raw.values())))
    installs = {}
    for name, (pin, built, extra) in sorted(raw.items()):
        for b in built:
            meta = b.doc.setdefault("metadata", {})
            if b.doc["kind"] in scoped:
                meta.pop("namespace", None)
            elif extra["method"] == "helm" and not meta.get("namespace"):
                meta["namespace"] = extra["namespace"]  # helm.v4.Chart's release namespace
            elif not meta.get("namespace"):
                meta["namespace"] = "default"  # the provider's default namespace
        installs[name] = Install(name=name, pin=pin.key, version=pin.version,
                                 objects=_catalogue_objects(built),
                                 footprint=footprint(b.doc for b in built), **extra)
    return Catalogue(installs, scoped)


# --------------------------------------------------------------------------------------------
# The data file


HEADER = """\
# The Kubernetes objects each pinned upstream install creates, and its pods' requests.
#
# Generated by infra/ownership.py from the upstream repositories at the tags pinned in
# facts/data/versions.yaml, read from local bare git mirrors (<owner>+<name>/repo): kustomizations
# walked (resources, namespace, $patch: delete, generators), charts rendered with the values the
# platform installs them with. Every object names the repository, tag and path it came from.
# Do not edit by hand; when a pin moves, regenerate:
#
#   {command}
#
# `mlp preview` reads it to refuse an object declared by two owners; cost and capacity read the
# footprints (CPU in millicores, memory in MiB: replicas x the containers' requests).
"""


class _Row(dict):
    """A mapping written on one line of the data file (one object, one workload)."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Row, lambda dumper, row: dumper.represent_mapping(
    "tag:yaml.org,2002:map", row.items(), flow_style=True))


def _install_to_data(install: Install) -> dict[str, Any]:
    data = {k: v for k, v in asdict(install).items() if v is not None and k != "name"}
    data["objects"] = [_Row((k, v) for k, v in asdict(o).items()
                            if not (k == "hash_suffix" and not v) and v is not None)
                       for o in install.objects]
    data["footprint"]["workloads"] = [
        _Row((k, v) for k, v in asdict(w).items()
             if not (k == "containers_without_requests" and not v))
        for w in install.footprint.workloads]
    return data


def dump_catalogue(catalogue: Catalogue, command: str) -> str:
    """The data file's text: header, then installs sorted by name, objects sorted, one object
    per line."""
    body = {"cluster_scoped_kinds": catalogue.cluster_scoped_kinds,
            "installs": {name: _install_to_data(i)
                         for name, i in sorted(catalogue.installs.items())}}
    return HEADER.format(command=command) + "\n" + yaml.dump(
        body, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)


def parse_catalogue(data: dict[str, Any]) -> Catalogue:
    """The catalogue from the data file's mapping."""
    installs = {}
    for name, raw in data["installs"].items():
        fp = raw["footprint"]
        installs[name] = Install(
            name=name, **{k: v for k, v in raw.items() if k not in ("objects", "footprint")},
            objects=[CatalogueObject(**{"namespace": None, **o}) for o in raw["objects"]],
            footprint=Footprint(fp["cpu_millicores"], fp["memory_mib"], fp["pods"],
                                [Workload(**w) for w in fp["workloads"]]))
    return Catalogue(installs, list(data["cluster_scoped_kinds"]))


@cache
def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    """The committed catalogue, read once."""
    return parse_catalogue(yaml.safe_load(path.read_text()))


# --------------------------------------------------------------------------------------------
# The preview check


@dataclass(frozen=True)
class Owner:
    """Who declares an object: an install (with where upstream writes it) or our resource."""

    name: str
    where: str

    def __str__(self) -> str:
        return f"{self.name} ({self.where})"


@dataclass(frozen=True)
class Conflict:
    """One object with more than one owner."""

    kind: str
    group: str
    namespace: str | None
    name: str
    owners: tuple[Owner, ...]

    def __str__(self) -> str:
        group = f".{self.group}" if self.group else ""
        ident = f"{self.namespace}/{self.name}" if self.namespace else self.name
        owners = "; ".join(map(str, self.owners))
        return f"{self.kind}{group} {ident} has {len(self.owners)} owners: {owners}"


def _match_install(resource: Any, catalogue: Catalogue) -> Install:
    """The catalogue entry of an install resource in a preview.

    Raises:
        OwnershipError: when no entry fits (a moved pin, other values): regenerate.
    """
    inputs = resource.inputs
    fits: list[Install] = []
    if resource.type == DIRECTORY_TYPE:
        directory = str(inputs.get("directory", ""))
        local = Path(directory)
        if local.is_absolute():
            with contextlib.suppress(ValueError):  # a folder outside this repository
                directory = local.resolve().relative_to(REPO_ROOT.resolve()).as_posix()
        fits = [i for i in catalogue.installs.values() if i.directory == directory]
        what = f"directory {directory}"
    else:
        release = inputs.get("name") or resource.name
        fits = [i for i in catalogue.installs.values()
                if (i.chart, i.version, i.release, i.namespace, i.values) ==
                (inputs.get("chart"), inputs.get("version"), release, inputs.get("namespace"),
                 inputs.get("values") or {})]
        what = (f"chart {inputs.get('chart')} {inputs.get('version')} (release {release}, "
                f"namespace {inputs.get('namespace')}, values {json.dumps(inputs.get('values'))})")
    if len(fits) != 1:
        raise OwnershipError(f"{resource.name}: {what} is not in the ownership catalogue; "
                             f"regenerate it: {REFRESH_COMMAND}")
    return fits[0]


def _is_upstream_install(resource: Any) -> bool:
    """An install the catalogue describes: kustomize directories and charts not of this
    repository (ours are expanded object by object by the preview itself)."""
    from infra.charts import local_chart_dir

    if resource.type == DIRECTORY_TYPE:
        return True
    return resource.type == CHART_TYPE and isinstance(resource.inputs.get("chart"), str) \
        and local_chart_dir(resource.inputs["chart"]) is None


def _declared_object(resource: Any, catalogue: Catalogue
                     ) -> tuple[tuple[str, str, str | None, str], str] | None:
    """The object key of one of our own Kubernetes resources, with its type; None for what
    is not an object we own (patches, installs, components, cloud resources)."""
    parts = resource.type.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes" or not resource.custom:
        return None
    group_version, kind = parts[1], parts[2]
    if kind.endswith("Patch") or resource.type in (CHART_TYPE, DIRECTORY_TYPE) \
            or group_version.startswith(("kustomize", "helm.sh", "yaml")) \
            or group_version == "pulumi":
        return None
    meta = resource.inputs.get("metadata") or {}
    name = meta.get("name")
    if not isinstance(name, str):
        return None
    group = "" if group_version.startswith("core/") else group_version.rsplit("/", 1)[0]
    namespace = (meta.get("namespace") or "default") if catalogue.namespaced(kind) else None
    return (group, kind, namespace, name), resource.type


def find_conflicts(preview: Any, catalogue: Catalogue | None = None) -> list[Conflict]:
    """Every object of `preview` declared by two owners or more.

    Owners are the upstream installs the preview declares (their objects from the catalogue)
    and our own Kubernetes resources (including the objects of our local charts, which the
    preview expands). `*Patch` resources are not owners: they change an object in place.
    Generated names with a content hash are left out: nothing else can spell them.

    Raises:
        OwnershipError: an install the catalogue does not describe at its pin and values.
    """
    catalogue = catalogue or load_catalogue()
    owners: dict[tuple[str, str, str | None, str], list[Owner]] = defaultdict(list)
    for resource in preview.resources:
        if resource.type in (CHART_TYPE, DIRECTORY_TYPE) and _is_upstream_install(resource):
            install = _match_install(resource, catalogue)
            for obj in install.objects:
                if not obj.hash_suffix:
                    owners[obj.key()].append(Owner(
                        f"install {install.name} [{resource.name}]",
                        f"{obj.repo}@{obj.tag}:{obj.path}"))
            continue
        declared = _declared_object(resource, catalogue)
        if declared is not None:
            key, type_token = declared
            owners[key].append(Owner(f"resource {resource.name}", type_token))
    return [Conflict(kind=k[1], group=k[0], namespace=k[2], name=k[3], owners=tuple(o))
            for k, o in sorted(owners.items(), key=lambda kv: tuple(x or "" for x in kv[0]))
            if len(o) > 1]


def preview_footprint(preview: Any, catalogue: Catalogue | None = None) -> dict[str, Footprint]:
    """The footprint of each upstream install a preview declares, by install name."""
    catalogue = catalogue or load_catalogue()
    return {i.name: i.footprint for i in (
        _match_install(r, catalogue) for r in preview.resources
        if r.type in (CHART_TYPE, DIRECTORY_TYPE) and _is_upstream_install(r))}


# --------------------------------------------------------------------------------------------
# Command line


def _tag_overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, tag = item.partition("=")
        if not sep or key not in pins() or not tag:
            raise OwnershipError(f"--tag '{item}': expected PIN=TAG with PIN one of "
                                 f"{', '.join(sorted(pins()))}")
        out[key] = tag
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m infra.ownership refresh --mirrors DIR``: regenerate the catalogue."""
    parser = argparse.ArgumentParser(prog="python -m infra.ownership", description=__doc__
                                     .splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    refresh = sub.add_parser("refresh", help="regenerate infra/data/ownership.yaml")
    refresh.add_argument("--mirrors", type=Path, required=True,
                         help="folder of bare git mirrors, <owner>+<name>/repo each")
    refresh.add_argument("--tag", action="append", default=[], metavar="PIN=TAG",
                         help="read PIN at TAG, for a pinned tag the mirror lacks (noted)")
    refresh.add_argument("--out", type=Path, default=CATALOGUE_PATH)
    args = parser.parse_args(argv)
    try:
        if not args.mirrors.is_dir():
            raise OwnershipError(f"--mirrors: '{args.mirrors}' is not a folder")
        tags = _tag_overrides(args.tag)
        catalogue = build_catalogue(args.mirrors, tags)
    except OwnershipError as err:
        print_error(str(err))
        return 2
    command = REFRESH_COMMAND + "".join(f" --tag {k}={v}" for k, v in sorted(tags.items()))
    args.out.write_text(dump_catalogue(catalogue, command))
    for name, install in sorted(catalogue.installs.items()):
        fp = install.footprint
        print(f"{name}: {len(install.objects)} objects, {fp.pods} pods, "
              f"{fp.cpu_millicores}m CPU, {fp.memory_mib} MiB requested"
              + (f"  ({install.note})" if install.note else ""))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
