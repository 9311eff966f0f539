"""Sparsity schedules: pure functions, formula and citation in each docstring."""

from __future__ import annotations


from ..errors import ConfigError
from .sparsity import check_sparsity


def _check_steps(start: int, end: int, frequency: int) -> None:
    if frequency < 1:
        raise ConfigError(f"frequency = {frequency} is out of range; expected an integer >= 1")
    if end < start:
        raise ConfigError(f"end_step = {end} is before start_step = {start}; expected start_step <= end_step")
    if (end - start) % frequency:
        raise ConfigError(f"end_step - start_step = {end - start} is not a multiple of frequency = {frequency}; "
                          "choose end_step = start_step + n * frequency (Zhu & Gupta's t0 + n*dt)")


def cubic_sparsity(step: int, initial: float, final: float, start: int, end: int, frequency: int) -> float:
    """Gradual pruning schedule of Zhu & Gupta (2017), "To prune, or not to prune", Eq. 1.

    ``s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n*dt))**3`` for ``t`` in ``{t0, t0+dt, ..., t0+n*dt}``, with
    ``t0 = start``, ``n*dt = end - start``, ``dt = frequency``.  Between update steps the sparsity of the last
    update holds; before ``start`` it is 0 (no pruning yet), after ``end`` it is ``s_f``.
    """
    check_sparsity(initial, "initial_sparsity")
    check_sparsity(final, "final_sparsity")
    _check_steps(start, end, frequency)
    if step < start:
        return 0.0
    if end == start or step >= end:
        return final
    t = start + ((step - start) // frequency) * frequency
    return final + (initial - final) * (1.0 - (t - start) / (end - start)) ** 3


def is_update_step(step: int, start: int, end: int, frequency: int) -> bool:
    """True at the schedule's update steps ``t0, t0+dt, ..., t0+n*dt``."""
    _check_steps(start, end, frequency)
    return start <= step <= end and (step - start) % frequency == 0


def gmp_steps(total_steps: int, start_frac: float, end_frac: float, updates: int) -> tuple[int, int, int]:
    """The update steps of GMP's cubic schedule (Zhu & Gupta 2017, Eq. 1: ``t0``, ``t0 + nΔt``, ``Δt``) inside a
    training run of ``total_steps`` optimizer steps: ``(t0, t0 + nΔt, Δt)``.

    ``t0 = ⌊start_frac·T⌋``, ``Δt = max(1, ⌊(⌊end_frac·T⌋ - t0) / updates⌋)``, ``n = updates``: ``updates + 1``
    mask updates, the first at ``t0``.  Step ``t`` is the mask update after optimizer step ``t``; step 0 is before
    the first optimizer step (the convention of :class:`irprune.pruning.cell.TrainHooks`).
    """
    if total_steps < 0 or updates < 1 or not 0.0 <= start_frac < end_frac <= 1.0:
        raise ConfigError(f"GMP schedule over {total_steps} steps with start_frac = {start_frac}, end_frac = "
                          f"{end_frac}, updates = {updates}: expected steps >= 0, updates >= 1 and "
                          "0 <= start_frac < end_frac <= 1")
    start = int(start_frac * total_steps)
    span = max(1, int(end_frac * total_steps) - start)
    frequency = max(1, span // updates)
    return start, start + updates * frequency, frequency


def exponential_density(round_k: int, rounds: int, final_density: float) -> float:
    """SynFlow's iterative schedule (Tanaka et al., 2020, Algorithm 1): density after round k of n is
    ``final_density ** (k / n)`` (compression raised exponentially), k = 1..n."""
    if rounds < 1 or not 1 <= round_k <= rounds:
        raise ConfigError(f"round {round_k} of {rounds}: expected rounds >= 1 and 1 <= round <= rounds")
    if not 0.0 < final_density <= 1.0:
        raise ConfigError(f"density = {final_density!r} is out of range; expected 0 < density <= 1")
    return final_density ** (round_k / rounds)


def imp_sparsity(round_k: int, rate: float) -> float:
    """Iterative magnitude pruning (Frankle & Carbin, 2019): pruning ``rate`` of the remaining weights each
    round leaves density ``(1 - rate)**k`` after ``k`` rounds, i.e. sparsity ``1 - (1 - rate)**k``."""
    check_sparsity(rate, "per_round_rate")
    if round_k < 0:
        raise ConfigError(f"round = {round_k}; expected >= 0")
    return 1.0 - (1.0 - rate) ** round_k


__all__ = ["cubic_sparsity", "is_update_step", "gmp_steps", "exponential_density", "imp_sparsity"]
