"""The preview JSON contract as a schema, checked before `policies/` or `cost/` read a file.

A saved preview is input from outside: anyone can hand `mlp policy check` or `mlp cost stack` a
file. The schema pins what readers rely on — the shape of the file and of each resource, and, for
the inputs that pricing and policies read as numbers, that counts are non-negative integers of the
width the Google and Kubernetes APIs use — so that a wrong type is one line naming its JSON path
instead of a traceback, a negative price or a policy fooled by a negative count. Everything else
in `inputs` stays free-form, and a value may always be the unknown-at-preview marker.

What `mlp preview --json` writes is exactly what validates here (the shipped stacks' previews are
tested); fields readers do not know are ignored, as before.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)

from facts.preview_wire import SCHEMA_VERSION, UNKNOWN
from facts.stacks import StackNameError, check_stack_name
from facts.text import shown

INT32_MAX = 2**31 - 1
"""Node, GPU and replica counts and disk sizes are int32 in the GKE and Kubernetes APIs."""
INT64_MAX = 2**63 - 1

KUBERNETES_COUNTS: dict[str, int] = {
    "replicas": INT32_MAX, "minReplicas": INT32_MAX, "maxReplicas": INT32_MAX,
    "parallelism": INT32_MAX, "completions": INT32_MAX, "backoffLimit": INT32_MAX,
    "ttlSecondsAfterFinished": INT32_MAX, "activeDeadlineSeconds": INT64_MAX,
    "maxTrialCount": INT32_MAX, "parallelTrialCount": INT32_MAX,
    "maxFailedTrialCount": INT32_MAX,
}
"""Fields of Kubernetes objects (and the Katib and KServe kinds) that policies read as counts,
anywhere they appear in an object, with the largest value the API accepts."""


def _or_unknown(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Any typed field may instead hold the unknown-at-preview marker."""
    return value if value == UNKNOWN else handler(value)


Maybe = WrapValidator(_or_unknown)
Count = Annotated[StrictInt, Field(ge=0, le=INT32_MAX), Maybe]
Text = Annotated[StrictStr, Maybe]
Flag = Annotated[StrictBool, Maybe]


class _Inputs(BaseModel):
    """Inputs keep every field they have; only the named ones are typed."""

    model_config = ConfigDict(extra="allow")


class _Autoscaling(_Inputs):
    minNodeCount: Count | None = None
    maxNodeCount: Count | None = None
    totalMinNodeCount: Count | None = None
    totalMaxNodeCount: Count | None = None


class _Accelerator(_Inputs):
    type: Text | None = None
    count: Count | None = None


class _NodeConfig(_Inputs):
    machineType: Text | None = None
    diskSizeGb: Count | None = None
    diskType: Text | None = None
    spot: Flag | None = None
    preemptible: Flag | None = None
    guestAccelerators: Annotated[list[_Accelerator], Maybe] | None = None


class NodePoolInputs(_Inputs):
    """What cost pricing and the GPU and cost policies read from a node pool."""

    name: Text | None = None
    location: Text | None = None
    nodeLocations: Annotated[list[Text], Maybe] | None = None
    nodeCount: Count | None = None
    initialNodeCount: Count | None = None
    autoscaling: Annotated[_Autoscaling, Maybe] | None = None
    nodeConfig: Annotated[_NodeConfig, Maybe] | None = None


class ClusterInputs(_Inputs):
    name: Text | None = None
    location: Text | None = None
    initialNodeCount: Count | None = None


class EndpointInputs(_Inputs):
    name: Text | None = None
    displayName: Text | None = None


INPUT_SCHEMAS: dict[str, type[_Inputs]] = {
    "gcp:container/nodePool:NodePool": NodePoolInputs,
    "gcp:container/cluster:Cluster": ClusterInputs,
    "gcp:vertex/aiEndpoint:AiEndpoint": EndpointInputs,
}


class ResourceEntry(BaseModel):
    """One resource of `resources`; the optional fields default as `load_preview` always did."""

    model_config = ConfigDict(extra="ignore")

    urn: Annotated[StrictStr, Field(min_length=1)]
    type: Annotated[StrictStr, Field(min_length=1)]
    name: StrictStr
    parent: StrictStr | None = None
    inputs: dict[StrictStr, Any]
    depends_on: list[StrictStr] = []
    protect: StrictBool = False
    custom: StrictBool = True
    ignore_changes: list[Annotated[StrictStr, Field(min_length=1)]] = []
    delete_before_replace: StrictBool = False
    retain_on_delete: StrictBool = False


class PreviewFile(BaseModel):
    """The top level of a preview JSON file."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Literal[SCHEMA_VERSION] = SCHEMA_VERSION  # type: ignore[valid-type]
    stack: StrictStr
    project: Annotated[StrictStr, Field(min_length=1)]
    resources: list[ResourceEntry]
    outputs: dict[StrictStr, Any]

    @field_validator("stack")
    @classmethod
    def _stack(cls, value: str) -> str:
        try:
            return check_stack_name(value)
        except StackNameError as err:
            raise ValueError(str(err).removeprefix(f"stack name {value!r} is not valid; ")
                             ) from None


class PreviewSchemaError(ValueError):
    """A preview that breaks the contract; the message is one line naming the JSON path."""


def _json_path(loc: tuple[int | str, ...], root: str = "") -> str:
    out = root
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "(top level)"


def _first(err: ValidationError, root: str = "") -> str:
    """The first error as `path: value is not valid; reason`, counting the rest."""
    errors = err.errors()
    e = errors[0]
    value = "<missing>" if e["type"] == "missing" else shown(e.get("input"))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    reason = e["msg"].removeprefix("Value error, ")
    return f"{_json_path(tuple(e['loc']), root)}: {value} is not valid; {reason}{more}"


def _kubernetes_counts(inputs: dict[str, Any], root: str) -> str | None:
    """The first count field of a Kubernetes object that is not a count, as an error line."""
    stack: list[tuple[Any, str]] = [(inputs, root)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            at = f"{path}.{key}"
            limit = KUBERNETES_COUNTS.get(key)
            if limit is not None and value != UNKNOWN and not (
                    type(value) is int and 0 <= value <= limit):
                return (f"{at}: {shown(value)} is not valid; a count: an integer from 0 to "
                        f"{limit}")
            stack.append((value, at))
    return None


def check_preview(raw: Any) -> PreviewFile:
    """Validate parsed preview JSON against the contract.

    Raises:
        PreviewSchemaError: the first problem, as one line naming its JSON path.
    """
    try:
        preview = PreviewFile.model_validate(raw)
    except ValidationError as err:
        raise PreviewSchemaError(_first(err)) from None
    for i, resource in enumerate(preview.resources):
        root = f"resources[{i}].inputs"
        schema = INPUT_SCHEMAS.get(resource.type)
        if schema is not None:
            try:
                schema.model_validate(resource.inputs)
            except ValidationError as err:
                raise PreviewSchemaError(_first(err, root)) from None
        if isinstance(resource.inputs.get("apiVersion"), str) and \
                isinstance(resource.inputs.get("kind"), str):
            problem = _kubernetes_counts(resource.inputs, root)
            if problem:
                raise PreviewSchemaError(problem)
    return preview
