"""What evo controls in a target, said once when a run starts: adopted settings, a budget or seed evo cannot set,
and a metric that is not attested."""

from __future__ import annotations

from evo.evaluation.adopt import adopt
from evo.evaluation.target import TargetSpec


def run_budget(target: TargetSpec, seconds: float) -> float:
    """The budget a run really gets: the target's own where it fixes one evo cannot change."""
    return target.fixed_budget if target.fixed_budget is not None else seconds


def control_lines(target: TargetSpec, seconds: float) -> list[str]:
    """The lines a run starts with about its target (none for a target that reads evo's settings and attests)."""
    lines = []
    if target.adopted:
        lines.append(f"target {target.root} has no target.yaml; evo adopted it (`evo adopt` writes this down):")
        lines += [f"  {line}" for line in adopt(target.root).lines]
    if target.fixed_budget is not None and target.fixed_budget != seconds:
        lines.append(
            f"budget: the target fixes its own {target.fixed_budget:g} s, which evo cannot change: the run's budget is "
            f"{target.fixed_budget:g} s, not the configured {seconds:g} s"
        )
    if not target.seeded:
        lines.append(
            "seed: the target ignores EVO_SEED: re-runs differ only by nondeterminism, so calibration and "
            "confirmation measure less noise than different seeds would give"
        )
    if not target.metric.attested and not target.adopted:
        lines.append(unattested_line(target))
    return lines


def unattested_line(target: TargetSpec) -> str:
    return (
        f"WARNING: {target.metric.name} is read from what each candidate prints, not attested by locked code: a "
        "candidate can print any value (target.yaml: metric.attested with launch.evaluate or a prepare manifest)"
    )
