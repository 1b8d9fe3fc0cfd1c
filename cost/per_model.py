"""Cost per trained model, per tuning study and per million predictions, from a throughput.

A throughput (images/s in training, requests/s per serving node) turns into hours, and hours
into dollars at each option's hourly price. Every throughput says where it comes from:

- `measured`: a row of the benchmark results (`workloads/cifar10/benchmarks/results.yaml` for
  the CPU, `results-gpu.yaml` from `make bench-gpu` for a GPU), on the hardware it records;
- `estimated`: no measurement on that GPU yet, so the model's training FLOPs per image against
  the GPU's peak FLOP/s at a stated utilisation (`data/throughput.yaml`);
- `given`: `--throughput` / `--requests-per-s` on the command line.

Hourly prices come from the price snapshot through `cost.pricing.node_lines` and
`cost.pricing.vertex_lines`, the same arithmetic as every other bill: on-demand usage hours get
no sustained-use discount.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import yaml

from cost.catalog import PriceCatalog, PriceNotFound
from cost.pricing import Line, PricingError, gpu_name, node_lines, vertex_lines
from cost.scenario import Gpu

THROUGHPUT_FILE = Path(__file__).parent / "data" / "throughput.yaml"
RESULTS_FILE = (Path(__file__).parent.parent / "workloads" / "cifar10" / "benchmarks"
                / "results.yaml")
GPU_RESULTS_FILE = RESULTS_FILE.with_name("results-gpu.yaml")
"""Written only by a real GPU run of `make bench-gpu`; absent until a GPU has been measured."""
MILLION = Decimal(1_000_000)
SECONDS_PER_HOUR = Decimal(3600)
TERA = Decimal(10) ** 12

Kind = Literal["measured", "estimated", "given"]


class PerModelError(ValueError):
    """Bad input to a per-model estimate; the message names the field, value and what is
    allowed."""


@dataclass(frozen=True)
class Assumption:
    """One stated assumption: its value and where it comes from."""

    value: Decimal
    note: str


@dataclass(frozen=True)
class ModelSpec:
    """A model configuration and its forward FLOPs per image."""

    key: str
    architecture: str
    forward_flops: int
    width: float
    num_layers: int | None = None
    num_units: int | None = None

    @property
    def description(self) -> str:
        """The model as the benchmark results file names it."""
        if self.architecture == "vgg":
            return (f"vgg (num_layers {self.num_layers}, num_units {self.num_units}, "
                    f"width {self.width})")
        return f"{self.architecture} (width {self.width})"


@dataclass(frozen=True)
class GpuPeak:
    """Peak TFLOPS of a GPU by precision, with sources."""

    name: str
    tflops: dict[str, Decimal]
    sources: tuple[str, ...]
    note: str = ""

    def peak(self) -> tuple[str, Decimal]:
        """The precision mixed-float16 training uses on this GPU and its peak TFLOPS."""
        if "fp16" in self.tflops:
            return "fp16", self.tflops["fp16"]
        return "fp32", self.tflops["fp32"]


@dataclass(frozen=True)
class ThroughputData:
    """Everything `data/throughput.yaml` holds."""

    as_of: str
    train_images: int
    dataset_note: str
    models: dict[str, ModelSpec]
    gpus: dict[str, GpuPeak]
    assumptions: dict[str, Assumption]
    path: Path


@dataclass(frozen=True)
class Throughput:
    """A rate with its provenance: value per second, unit, kind and what it was measured on."""

    value: Decimal
    unit: str
    kind: Kind
    hardware: str
    basis: str

    def label(self) -> str:
        """One line naming the rate, whether it is measured, estimated or given, and where."""
        return f"{self.value:,.1f} {self.unit}, {self.kind} ({self.hardware}): {self.basis}"


@dataclass
class OptionCost:
    """One option (GKE on-demand, GKE spot, Vertex on-demand, Vertex spot) priced."""

    option: str
    train_hourly: Decimal | None
    serve_hourly: Decimal | None
    hours_per_model: Decimal | None = None
    per_model: Decimal | None = None
    per_study: Decimal | None = None
    per_million: Decimal | None = None
    notes: list[str] = field(default_factory=list)
    price_flags: list[str] = field(default_factory=list)


@dataclass
class PerModelResult:
    """The whole estimate: inputs, throughputs and each option's figures."""

    model: ModelSpec
    machine: str
    gpu: Gpu | None
    serving_machine: str
    epochs: int
    trials: int
    train_images: int
    overhead_hours: Decimal
    spot_rerun: Decimal
    target_p99_ms: Decimal
    training: Throughput
    serving: Throughput | None
    serving_note: str
    catalog: str
    options: list[OptionCost]
    assumptions: list[str]


def _dec(raw: Any, where: str) -> Decimal:
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise PerModelError(f"{where}: '{raw}' is not a number") from None
    if not value.is_finite() or value < 0:
        raise PerModelError(f"{where}: {raw} must be a finite number >= 0")
    return value


def gpu_peaks() -> dict[str, GpuPeak]:
    """Peak TFLOPS of every GPU of the hardware catalog that has them, with their sources."""
    from facts.hardware import catalog

    return {name: GpuPeak(name, {p: _dec(v, f"hardware.yaml accelerators.{name}.peak_tflops"
                                            f".{p}")
                                 for p, v in gpu.peak_tflops.items() if p in ("fp16", "fp32")},
                          gpu.peak_sources, gpu.peak_note)
            for name, gpu in catalog().accelerators.items() if gpu.peak_tflops}


def load_throughput_data(path: Path = THROUGHPUT_FILE) -> ThroughputData:
    """Read the data file of FLOPs, peaks and assumptions.

    Raises:
        PerModelError: naming the file and the field that is missing or malformed.
    """
    try:
        raw = yaml.safe_load(path.read_text())
        models = {
            str(k): ModelSpec(str(k), str(v["architecture"]), int(v["forward_flops"]),
                              float(v["width"]), v.get("num_layers"), v.get("num_units"))
            for k, v in raw["models"].items()}
        gpus = gpu_peaks()
        assumptions = {str(k): Assumption(_dec(v["value"], f"assumptions.{k}"), str(v["note"]))
                       for k, v in raw["assumptions"].items()}
        data = ThroughputData(str(raw["as_of"]), int(raw["dataset"]["train_images"]),
                              str(raw["dataset"]["note"]), models, gpus, assumptions, path)
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as err:
        if isinstance(err, PerModelError):
            raise PerModelError(f"{path}: {err}") from None
        raise PerModelError(f"{path}: cannot read: {type(err).__name__}: {err}") from None
    for key in ("utilisation", "training_flops_factor", "epochs", "trials", "overhead_hours",
                "spot_rerun", "target_p99_ms"):
        if key not in data.assumptions:
            raise PerModelError(f"{path}: assumptions.{key} is missing")
    return data


def load_results(path: Path = RESULTS_FILE) -> dict[str, Any]:
    """A benchmark results file as a mapping (empty if it is absent).

    Raises:
        PerModelError: naming the file when it cannot be read or is not a YAML mapping (a
            half-written file, say).
    """
    if not path.exists():
        return {}
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise PerModelError(f"{path}: cannot read benchmark results: {first}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PerModelError(f"{path}: benchmark results must be a YAML mapping, got "
                            f"{type(raw).__name__}")
    return raw


# --- arithmetic -------------------------------------------------------------------------------

def training_hours(epochs: int, images: int, images_per_s: Decimal,
                   overhead_hours: Decimal) -> Decimal:
    """Hours of one training job: epochs × images / throughput, plus the per-job overhead."""
    if images_per_s <= 0:
        raise PerModelError(f"throughput: {images_per_s} images/s must be greater than 0")
    return Decimal(epochs) * Decimal(images) / images_per_s / SECONDS_PER_HOUR + overhead_hours


def spot_hours(hours: Decimal, rerun: Decimal) -> Decimal:
    """Hours a spot job is billed: its hours plus the share re-run after preemptions."""
    return hours * (1 + rerun)


def usd_per_million(hourly: Decimal, requests_per_s: Decimal) -> Decimal:
    """Dollars per million predictions from a node's hourly price and its requests/s."""
    if requests_per_s <= 0:
        raise PerModelError(f"requests-per-s: {requests_per_s} must be greater than 0")
    return hourly / (requests_per_s * SECONDS_PER_HOUR) * MILLION


def estimated_images_per_s(forward_flops: int, factor: Decimal, peak_tflops: Decimal,
                           utilisation: Decimal, gpus: int = 1) -> Decimal:
    """Images/s from peak FLOP/s × utilisation over training FLOPs per image (× GPUs, assuming
    linear data-parallel scaling)."""
    return peak_tflops * TERA * utilisation * gpus / (Decimal(forward_flops) * factor)


# --- throughputs ------------------------------------------------------------------------------

def _bench_machine(results: dict[str, Any]) -> dict[str, Any]:
    machine = results.get("machine")
    return machine if isinstance(machine, dict) else {}


def measured_training(results: dict[str, Any], model: ModelSpec,
                      gpu: Gpu | None) -> Throughput | None:
    """The benchmark's steady-state training images/s for `model` on the same kind of hardware.

    A row counts for a CPU-only option when the benchmark machine had no GPU, and for a GPU
    option when it recorded that GPU type (`machine.gpu_type`) and count. Steady state is the
    rate after the first epoch (the first includes tracing and filling the cache, which the
    per-job overhead covers).
    """
    machine = _bench_machine(results)
    bench_gpus = int(machine.get("gpus") or 0)
    if gpu is None and bench_gpus:
        return None
    if gpu is not None and (bench_gpus != gpu.count
                            or machine.get("gpu_type") != gpu_name(gpu.type)):
        return None
    training = results.get("training") or {}
    for key, row in training.items():
        if not isinstance(row, dict) or row.get("model") != model.description:
            continue
        ours = row.get("ours") or {}
        rate = ours.get("images_per_s_after_first_epoch")
        if rate is None:
            continue
        hardware = (f"GPU: {bench_gpus} × {machine.get('gpu_type')}" if bench_gpus else
                    f"CPU: {machine.get('cpu', '?')}, {machine.get('usable_cpus', '?')} usable "
                    f"CPUs")
        return Throughput(_dec(rate, f"results.training.{key}"), "images/s", "measured",
                          hardware, f"results.yaml training.{key}.ours, after the first epoch, "
                          f"benchmark of {machine.get('date', '?')}")
    return None


def estimated_training(data: ThroughputData, model: ModelSpec, gpu: Gpu,
                       utilisation: Decimal) -> Throughput:
    """Images/s on a GPU from FLOPs per image and its peak at `utilisation`.

    Raises:
        PerModelError: if the GPU has no peak in the data file.
    """
    name = gpu_name(gpu.type)
    if name not in data.gpus:
        raise PerModelError(f"--gpu: '{gpu.type}' has no peak FLOP/s in {data.path.name}; "
                            f"known: {', '.join(sorted(data.gpus))}")
    peak = data.gpus[name]
    precision, tflops = peak.peak()
    factor = data.assumptions["training_flops_factor"].value
    rate = estimated_images_per_s(model.forward_flops, factor, tflops, utilisation, gpu.count)
    return Throughput(rate, "images/s", "estimated", f"GPU: {gpu.count} × {name}",
                      f"{tflops} TFLOPS {precision} peak × {utilisation} utilisation"
                      f"{f' × {gpu.count} GPUs' if gpu.count > 1 else ''} / ({factor} × "
                      f"{model.forward_flops:,} forward FLOPs per image); no GPU benchmark yet")


def measured_gpu_training(gpu_results: dict[str, Any], model: ModelSpec,
                          gpu: Gpu | None) -> Throughput | None:
    """The GPU benchmark's images/s for `model` as the trainer runs it (its row marked
    `trainer_default`: the default batch size and mixed_float16, no XLA), when the benchmark
    ran on `gpu`'s type and count."""
    machine = _bench_machine(gpu_results)
    if gpu is None or machine.get("gpu_type") != gpu_name(gpu.type) or int(
            machine.get("gpus") or 0) != gpu.count:
        return None
    training = gpu_results.get("training") or {}
    for key, section in training.items():
        if not isinstance(section, dict) or section.get("model") != model.description:
            continue
        for index, row in enumerate(section.get("runs") or []):
            if isinstance(row, dict) and row.get("trainer_default") and row.get("images_per_s"):
                return Throughput(
                    _dec(row["images_per_s"], f"results-gpu.training.{key}.runs[{index}]"),
                    "images/s", "measured", f"GPU: {gpu.count} × {machine.get('gpu_type')}",
                    f"results-gpu.yaml training.{key}, {row.get('precision')} at batch "
                    f"{row.get('batch_size')}, GPU benchmark of {machine.get('date', '?')}")
    return None


def measured_serving(results: dict[str, Any], target_p99_ms: Decimal
                     ) -> tuple[Throughput | None, str]:
    """The predictor's highest measured requests/s with one-image requests whose p99 meets the
    target (the benchmark's serving matrix); else why there is none."""
    serving = results.get("serving") or {}
    cells = ((serving.get("matrix") or {}).get("1_image_per_request") or {}
             if isinstance(serving, dict) else {})
    rows = [(key, cell["ours_kserve"]) for key, cell in cells.items()
            if isinstance(cell, dict) and isinstance(cell.get("ours_kserve"), dict)
            and "requests_per_s" in cell["ours_kserve"]]
    if not rows:
        return None, "no serving measurement in results.yaml; give --requests-per-s"
    p99 = {key: _dec(row.get("p99_ms"), f"results.serving.matrix.{key}.ours_kserve.p99_ms")
           for key, row in rows}
    meeting = [(key, row) for key, row in rows if p99[key] <= target_p99_ms]
    if not meeting:
        lowest = min(rows, key=lambda kv: p99[kv[0]])[0]
        return None, (f"the lowest measured p99, {p99[lowest]} ms ({lowest}), is above the "
                      f"target {target_p99_ms} ms: no measured rate meets it; give "
                      f"--requests-per-s")
    key, row = max(meeting, key=lambda kv: _dec(kv[1]["requests_per_s"], "requests_per_s"))
    machine = _bench_machine(results)
    return Throughput(_dec(row["requests_per_s"],
                           f"results.serving.matrix.{key}.ours_kserve.requests_per_s"),
                      "requests/s per node", "measured",
                      f"CPU: {machine.get('cpu', '?')}, {machine.get('usable_cpus', '?')} usable "
                      f"CPUs",
                      f"results.yaml serving.matrix.1_image_per_request.{key}.ours_kserve "
                      f"({serving.get('model', '?')}), p99 {p99[key]} ms ≤ target "
                      f"{target_p99_ms} ms; one predictor per node, not scaled to the node's "
                      f"vCPUs"), ""


# --- prices -----------------------------------------------------------------------------------

def _hourly(lines: list[Line]) -> tuple[Decimal, list[str]]:
    """Total of one hour's lines, and the non-verified prices they used."""
    flags = [f"{line.price.key} {line.price.status}" for line in lines
             if line.price is not None and line.price.flag]
    return sum((line.monthly for line in lines), Decimal(0)), flags


def gke_hourly(prices: PriceCatalog, machine: str, gpu: Gpu | None,
               pricing: str) -> tuple[Decimal, list[str]]:
    """One GKE node-hour (instance and GPUs, no sustained-use discount, no disk)."""
    return _hourly(node_lines(prices, machine, nodes=1, hours=Decimal(1), pricing=pricing,
                              gpu_type=gpu.type if gpu else None,
                              gpu_count=gpu.count if gpu else 0, sustained_use=False))


def vertex_hourly(prices: PriceCatalog, kind: str, machine: str,
                  gpu: Gpu | None) -> tuple[Decimal, list[str]]:
    """One Vertex node-hour of training or prediction at the snapshot's rates."""
    return _hourly(vertex_lines(prices, kind, kind, machine, gpu, Decimal(1)))


VERTEX_SPOT_REASON = "the price snapshot has no Vertex spot prediction rates"


def _price_or_reason(fn, *args) -> tuple[Decimal | None, list[str], str]:
    try:
        hourly, flags = fn(*args)
        return hourly, flags, ""
    except (PricingError, PriceNotFound) as err:
        return None, [], str(err)


def price_options(prices: PriceCatalog, machine: str, gpu: Gpu | None, serving_machine: str
                  ) -> list[OptionCost]:
    """Each option's hourly training and serving price (None with a note where not priced)."""
    rows = []
    for option, train_fn, serve_fn in (
            ("GKE on-demand", lambda: gke_hourly(prices, machine, gpu, "on-demand"),
             lambda: gke_hourly(prices, serving_machine, None, "on-demand")),
            ("GKE spot", lambda: gke_hourly(prices, machine, gpu, "spot"),
             lambda: gke_hourly(prices, serving_machine, None, "spot")),
            ("Vertex on-demand", lambda: vertex_hourly(prices, "training", machine, gpu),
             lambda: vertex_hourly(prices, "prediction", serving_machine, None)),
            ("Vertex spot", lambda: vertex_hourly(prices, "spot_training", machine, gpu),
             None)):
        train, train_flags, train_why = _price_or_reason(train_fn)
        serve, serve_flags, serve_why = (_price_or_reason(serve_fn) if serve_fn
                                         else (None, [], VERTEX_SPOT_REASON))
        row = OptionCost(option, train, serve, price_flags=sorted(set(train_flags + serve_flags)))
        row.notes += [f"training not priced: {train_why}"] if train_why else []
        row.notes += [f"serving not priced: {serve_why}"] if serve_why else []
        rows.append(row)
    return rows


def fill(row: OptionCost, training: Throughput, serving: Throughput | None, epochs: int,
         images: int, trials: int, overhead: Decimal, rerun: Decimal) -> OptionCost:
    """Hours and dollars per model, per study and per million predictions for one option."""
    if row.train_hourly is not None:
        hours = training_hours(epochs, images, training.value, overhead)
        if row.option.endswith("spot"):
            hours = spot_hours(hours, rerun)
        row.hours_per_model = hours
        row.per_model = hours * row.train_hourly
        row.per_study = row.per_model * trials
    if row.serve_hourly is not None and serving is not None:
        row.per_million = usd_per_million(row.serve_hourly, serving.value)
    return row


def per_model(prices: PriceCatalog, data: ThroughputData, results: dict[str, Any], *,
              model: str, machine: str, gpu: Gpu | None, serving_machine: str,
              gpu_results: dict[str, Any] | None = None,
              epochs: int | None = None, trials: int | None = None,
              throughput: Decimal | None = None, requests_per_s: Decimal | None = None,
              utilisation: Decimal | None = None, overhead_hours: Decimal | None = None,
              spot_rerun: Decimal | None = None, target_p99_ms: Decimal | None = None
              ) -> PerModelResult:
    """The per-model, per-study and per-million-predictions figures for every option.

    Options left None take the data file's assumption of the same name.

    Raises:
        PerModelError: for an unknown model, a GPU without peak data, or a CPU-only option
            with no measurement and no `throughput`.
    """
    if model not in data.models:
        raise PerModelError(f"--model: '{model}' is not one of {', '.join(sorted(data.models))}")
    spec = data.models[model]
    a = data.assumptions
    epochs = int(a["epochs"].value) if epochs is None else epochs
    trials = int(a["trials"].value) if trials is None else trials
    utilisation = a["utilisation"].value if utilisation is None else utilisation
    overhead = a["overhead_hours"].value if overhead_hours is None else overhead_hours
    rerun = a["spot_rerun"].value if spot_rerun is None else spot_rerun
    target = a["target_p99_ms"].value if target_p99_ms is None else target_p99_ms
    for name, value, low, high in (("--epochs", epochs, 1, 10_000),
                                   ("--trials", trials, 1, 10_000)):
        if not low <= value <= high:
            raise PerModelError(f"{name}: {value} is not allowed; use an integer in "
                                f"[{low}, {high}]")
    if not 0 < utilisation <= 1:
        raise PerModelError(f"--utilisation: {utilisation} is not allowed; use a share in (0, 1]")
    if not 0 <= rerun <= 10:
        raise PerModelError(f"--spot-rerun: {rerun} is not allowed; use a share in [0, 10]")
    if throughput is not None:
        training = Throughput(throughput, "images/s", "given", "--throughput",
                              "given on the command line")
    else:
        found = (measured_gpu_training(gpu_results or {}, spec, gpu)
                 or measured_training(results, spec, gpu))
        if found is None and gpu is None:
            raise PerModelError(f"--throughput: not given, and results.yaml has no CPU "
                                f"measurement of {spec.description} and CPUs have no peak to "
                                f"estimate from; give --throughput IMAGES_PER_S")
        if found is not None and gpu is None:
            found = replace(found, basis=f"{found.basis}; priced as {machine}, not scaled to "
                                          f"its vCPUs")
        training = found or estimated_training(data, spec, gpu, utilisation)  # type: ignore[arg-type]
    if requests_per_s is not None:
        serving, serving_note = (Throughput(requests_per_s, "requests/s per node", "given",
                                            "--requests-per-s", "given on the command line"), "")
    else:
        serving, serving_note = measured_serving(results, target)
        bench_model = str((results.get("serving") or {}).get("model", ""))
        if serving is not None and not bench_model.startswith(spec.description):
            serving = replace(serving, basis=f"{serving.basis}; measured with that model, not "
                                              f"{spec.description}")
    options = [fill(row, training, serving, epochs, data.train_images, trials, overhead, rerun)
               for row in price_options(prices, machine, gpu, serving_machine)]
    used = {"training_flops_factor", "utilisation"} if training.kind == "estimated" else set()
    used |= {"overhead_hours", "spot_rerun"} | ({"target_p99_ms"} if serving else set())
    stated = [f"{k} {a[k].value}: {a[k].note}" for k in sorted(used)
              if (k != "utilisation" or utilisation == a[k].value)]
    if training.kind == "estimated" and utilisation != a["utilisation"].value:
        stated.append(f"utilisation {utilisation}: given on the command line")
    stated.append(f"dataset {data.train_images:,} images: {data.dataset_note}")
    if gpu is not None and training.kind == "estimated":
        peak = data.gpus[gpu_name(gpu.type)]
        stated.append(f"{peak.name} peak sources: " + "; ".join(peak.sources))
    return PerModelResult(spec, machine, gpu, serving_machine, epochs, trials, data.train_images,
                          overhead, rerun, target, training, serving, serving_note,
                          prices.snapshot, options, stated)


def parse_number(text: str | None, option: str, *, zero: bool = False) -> Decimal | None:
    """A command-line number greater than 0, or at least 0 with `zero` (None passes through).

    Only plain decimal notation is taken: no `_` separators, `inf` or `nan`.

    Raises:
        PerModelError: naming the option, the value and what is allowed.
    """
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    low_ok = value >= 0 if zero and value.is_finite() else value.is_finite() and value > 0
    if not low_ok or not re.fullmatch(r"[0-9.eE+-]+", text):
        allowed = "a number >= 0" if zero else "a number greater than 0"
        raise PerModelError(f"{option}: '{text}' is not allowed; use {allowed}")
    return value


# --- output -----------------------------------------------------------------------------------

def _money(value: Decimal | None, places: int = 2) -> str:
    return "not priced" if value is None else f"{value:,.{places}f}"


def result_lines(r: PerModelResult) -> list[str]:
    """The estimate as text: inputs, throughputs with their labels, one line per option."""
    gpu = f" + {r.gpu.count} × {gpu_name(r.gpu.type)}" if r.gpu else " (no GPU)"
    out = [f"{r.model.key}: {r.model.description}, training on {r.machine}{gpu}, serving on "
           f"{r.serving_machine} (prices {r.catalog})",
           f"training throughput: {r.training.label()}",
           f"per model: {r.epochs} epochs × {r.train_images:,} images + {r.overhead_hours} h "
           f"overhead per job; spot adds {r.spot_rerun} of the hours as re-runs; per study: "
           f"{r.trials} trials"]
    out.append(f"serving throughput: {r.serving.label()}" if r.serving else
               f"serving throughput: none ({r.serving_note})")
    out.append(f"{'option':<17} {'USD/h train':>11} {'hours/model':>11} {'USD/model':>10} "
               f"{'USD/study':>10} {'USD/h serve':>11} {'USD/1M pred':>11}")
    for o in r.options:
        hours = "—" if o.hours_per_model is None else f"{o.hours_per_model:,.3f}"
        per_million = ("—" if o.serve_hourly is not None and r.serving is None
                       else _money(o.per_million, 4))
        out.append(f"{o.option:<17} {_money(o.train_hourly, 4):>11} {hours:>11} "
                   f"{_money(o.per_model):>10} {_money(o.per_study):>10} "
                   f"{_money(o.serve_hourly, 4):>11} {per_million:>11}")
    for o in r.options:
        out += [f"  {o.option}: {n}" for n in o.notes]
        if o.price_flags:
            out.append(f"  {o.option}: prices not verified: {', '.join(o.price_flags)}")
    out += [f"assumption: {s}" for s in r.assumptions]
    return out


def result_json(r: PerModelResult) -> dict[str, Any]:
    """The estimate as JSON (amounts as strings, unrounded hours and dollars)."""
    def tp(t: Throughput | None) -> dict[str, str] | None:
        return None if t is None else {"value": str(t.value), "unit": t.unit, "kind": t.kind,
                                       "hardware": t.hardware, "basis": t.basis}

    def s(v: Decimal | None) -> str | None:
        return None if v is None else str(v)

    return {"model": r.model.key, "description": r.model.description, "machine": r.machine,
            "gpu": None if r.gpu is None else {"type": r.gpu.type, "count": r.gpu.count},
            "serving_machine": r.serving_machine, "catalog": r.catalog, "epochs": r.epochs,
            "trials": r.trials, "train_images": r.train_images,
            "overhead_hours": str(r.overhead_hours), "spot_rerun": str(r.spot_rerun),
            "target_p99_ms": str(r.target_p99_ms), "training_throughput": tp(r.training),
            "serving_throughput": tp(r.serving), "serving_note": r.serving_note,
            "options": [{"option": o.option, "train_usd_per_hour": s(o.train_hourly),
                         "serve_usd_per_hour": s(o.serve_hourly),
                         "hours_per_model": s(o.hours_per_model),
                         "usd_per_model": s(o.per_model), "usd_per_study": s(o.per_study),
                         "usd_per_million_predictions": s(o.per_million), "notes": o.notes,
                         "prices_not_verified": o.price_flags} for o in r.options],
            "assumptions": r.assumptions}
