"""The compilation report (report.json) as typed sections: one declaration of every key.

Each step that measures something returns its own section type; `nmc.api` assembles them into a
`Report`. The JSON written is exactly these dictionaries (sorted keys), so report.json stays
byte-identical for the same input. docs/ and the CLI summary read the same names.
"""

from __future__ import annotations

from typing import Any, TypedDict


class SnnSection(TypedDict):
    """Size of the model at the snn level."""

    populations: int
    neurons: int
    synapses: int


class _GroupRequired(TypedDict):
    layer: str
    mode: str  # spike | psum | integrate
    neurons: int
    synapses: int
    max_fan_in: int
    weight_error: float | None  # relative weight error of reduce-precision (None: float group)
    partial_sums_per_neuron: float  # partial-sum units (all levels of its tree) per neuron of this layer


class GroupRow(_GroupRequired, total=False):
    # a group adding direct (graded) host inputs to other inputs: the largest |weight| its graded synapses keep
    graded_input_levels: int


class LeakRow(TypedDict):
    """A population whose decay the chip cannot hold exactly: the model's beta and the chip's
    (`V -= (V * decay_mult) >> decay_shift`; decay_mult 1: the shift leak)."""

    layer: str
    beta: float
    realised_beta: float
    decay_shift: int
    decay_mult: int


class CoreSection(TypedDict):
    """The chip-constrained network (after reduce-precision)."""

    groups: list[GroupRow]
    leak_rounding: list[LeakRow]  # populations whose beta the chip rounds (empty: every decay exact)
    neurons: int
    synapses: int
    partial_sum_groups: int
    relay_groups: int
    latency_ticks: int


class _Agreement(TypedDict):
    spike_agreement: float
    decision_agreement: float
    samples: int


class ConversionSection(TypedDict):
    """A converted ANN: the SNN as converted (unquantized, on the core interpreter) against the float ANN, on the
    calibration samples the quantization check uses; the compile is refused below MIN_DECISION_AGREEMENT."""

    decision_agreement: float
    samples: int


class QuantizationSection(_Agreement, total=False):
    """Agreement of the quantized network with its reference on calibration samples: the unquantized network, or
    after --finetune the fine-tuned model as it was trained (quantization-aware), which the gate then uses. The
    first two fields below are written only after --finetune."""

    reference: str  # what decision_agreement compares the chip's decisions with
    unquantized_decision_agreement: float  # the chip against the unquantized fine-tuned SNN
    # when the gate refuses and the chip rounds some beta: the unquantized network at the chip's betas against itself
    leak_decision_agreement: float


class Utilisation(TypedDict):
    neurons: float
    axons: float
    synapses: float


class LowerBound(TypedDict):
    """Cores no partition can go below (docs/mapping.md), and which limit the mapping fills most."""

    cores: int
    by_limit: dict[str, int]  # neurons, synapses, axons
    ratio: float  # cores used / bound
    binding_limit: str
    binding_utilisation: float
    why: str


class _MappingRequired(TypedDict):
    cores_used: int
    mesh: list[int]
    utilisation: Utilisation
    traffic_per_tick: float
    traffic_unit: str
    average_hops: float
    peak_link_load: float
    routing_entries_max: int
    partition: str
    placement: str
    lower_bound: LowerBound


class MappingSection(_MappingRequired, total=False):
    board: dict[str, Any]  # a board of chips: chips used, chip-to-chip link loads (passes/board.py)


class BinarySection(TypedDict):
    file: str
    bytes: int


class NeuroBenchWorkload(TypedDict):
    """NeuroBench's workload metrics of the snn-level model on the calibration data (nmc/neurobench.py)."""

    activation_sparsity: float
    synaptic_operations: dict[str, float]  # Effective_MACs, Effective_ACs, Dense: per sample
    membrane_updates: float  # per sample, membranes compared before the reset (as NeuroBench sees snnTorch's)
    samples: int


class NeuroBenchAnn(TypedDict):
    """NeuroBench's metrics of the float ANN a converted model was (one pass; MACs), on the calibration data."""

    activation_sparsity: float
    synaptic_operations: dict[str, float]
    samples: int


class NeuroBenchSection(TypedDict, total=False):
    footprint_bytes: int  # float32 synaptic weights and biases
    footprint_with_neurons_bytes: int  # and per neuron: threshold, membrane (and beta for a LIF), float32
    chip_memory_bits: int
    connection_sparsity: float
    model: NeuroBenchWorkload  # with calibration data
    ann: NeuroBenchAnn  # a converted ANN, with calibration data


class EnergyBreakdown(TypedDict):
    synaptic: float
    neuron: float
    spikes: float
    routing: float
    static: float


class EventCounts(TypedDict):
    """What the energy model multiplies, per inference: each count times its constant of the chip's `cost`
    section (energy_synop_pj, energy_neuron_update_pj, energy_spike_pj, energy_hop_pj; static_power_mw_per_core
    times core_seconds)."""

    synaptic_events: float
    neuron_updates: float
    spikes: float
    packet_hops: float
    core_seconds: float


class ChipRunSection(TypedDict):
    """The chip simulator on the calibration samples: latency, energy, activity."""

    latency_ticks: int
    inference_ticks: int
    inference_seconds: float
    energy_per_inference_uj: float
    energy_breakdown_uj: EnergyBreakdown
    events_per_inference: EventCounts
    area_mm2: float
    activation_sparsity: float
    dense_synops_per_sample: int
    effective_synops_per_sample: float
    measured_on_samples: int


class FinetuneAccuracy(TypedDict, total=False):
    """On the held-back slice; `chip` only for --target chip."""

    float: float
    before: float
    after: float
    chip: float


class FinetuneSection(TypedDict):
    """nmc-compile --finetune (docs/finetune.md)."""

    samples: dict[str, int]  # train, held_back
    epochs: int
    seed: int
    device: str
    constraints: list[str]
    accuracy: FinetuneAccuracy
    accuracy_meaning: str
    thresholds: dict[str, float]


class TnnLayerRow(TypedDict):
    columns: int
    synapses: int
    neurons: int
    k: int
    response: str  # rnl | snl


class TnnSection(TypedDict):
    """A TNN column network (docs/tnn.md): its shape and its mapping."""

    time_bits: int
    weight_bits: int
    encoder: dict[str, Any]  # the binary's META.encoder
    layers: list[TnnLayerRow]
    columns: int
    cores_used: int
    synapses: int
    neurons: int
    traffic_lines_per_sample: float
    average_hops: float
    gamma_cycle_ticks: int


class TnnCheckSection(TypedDict):
    """The binary on the simulator against the torch TNN, on the calibration series."""

    samples: int
    identical_spike_times: bool


class Report(TypedDict, total=False):
    """report.json. Always present: model, chip, notes, files; a crossbar network's ticks, encoding, snn;
    a TNN column network's kind ("tnn") and tnn."""

    model: str
    kind: str  # "tnn" for TNN column networks (absent: crossbar)
    tnn: TnnSection
    check: TnnCheckSection
    forecast: dict[str, Any]  # --forecast: predicted cells, area, leakage, slack (docs/tnn-hardware.md)
    chip: dict[str, Any]  # Chip.to_json(): the parsed description and its hash
    ticks: int
    encoding: str
    encoding_chosen: str  # "by the chip" (no --encoding: the chip's default) or "given"
    snn: SnnSection
    core: CoreSection
    conversion: ConversionSection
    quantization: QuantizationSection
    mapping: MappingSection
    pipeline: str  # the pass pipeline, replayable with nmc-opt -p
    binary: BinarySection
    neurobench: NeuroBenchSection
    chip_run: ChipRunSection
    finetune: FinetuneSection
    verilog: dict[str, Any]  # see docs/verilog.md
    synthesis: dict[str, Any]  # yosys numbers, see docs/verilog.md
    notes: list[str]
    notes_plot: str
    notes_testbench: str
    files: list[str]
