"""nmc's passes, registered lazily (one module per pass, kebab name = lit test name)."""

from collections.abc import Callable

from xdsl.passes import ModulePass


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    def snn_to_core() -> type[ModulePass]:
        from nmc.passes.snn_to_core import SnnToCorePass

        return SnnToCorePass

    def decompose_fan_in() -> type[ModulePass]:
        from nmc.passes.decompose_fan_in import DecomposeFanInPass

        return DecomposeFanInPass

    def decompose_fan_out() -> type[ModulePass]:
        from nmc.passes.decompose_fan_out import DecomposeFanOutPass

        return DecomposeFanOutPass

    def delay_relays() -> type[ModulePass]:
        from nmc.passes.delay_relays import DelayRelaysPass

        return DelayRelaysPass

    def reduce_precision() -> type[ModulePass]:
        from nmc.passes.reduce_precision import ReducePrecisionPass

        return ReducePrecisionPass

    def check_constraints() -> type[ModulePass]:
        from nmc.passes.check_constraints import CheckConstraintsPass

        return CheckConstraintsPass

    def partition_cores() -> type[ModulePass]:
        from nmc.passes.partition_cores import PartitionCoresPass

        return PartitionCoresPass

    def place_cores() -> type[ModulePass]:
        from nmc.passes.place_cores import PlaceCoresPass

        return PlaceCoresPass

    def route() -> type[ModulePass]:
        from nmc.passes.route import RoutePass

        return RoutePass

    return {
        "snn-to-core": snn_to_core,
        "decompose-fan-in": decompose_fan_in,
        "decompose-fan-out": decompose_fan_out,
        "delay-relays": delay_relays,
        "reduce-precision": reduce_precision,
        "check-constraints": check_constraints,
        "partition-cores": partition_cores,
        "place-cores": place_cores,
        "route": route,
    }
