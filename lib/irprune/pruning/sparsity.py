"""Sparsity, density and compression conversions: the ONE place they are defined.

"Sparsity" in this project is always the fraction of prunable weights that are zero; "density" is the kept
fraction, ``density = 1 - sparsity``.  Synaptic-Flow (``Experiments/singleshot.py``) calls the kept fraction
"sparsity" and the GraSP/SynFlow papers quote *compression* ``c`` with ``density = 10**(-c)`` (so c = 0.5, 1, 2
keep 31.6%, 10%, 1%); the *compression ratio* is ``1 / density`` (a 10x ratio keeps 10%).
"""

from __future__ import annotations

import math

from ..errors import ConfigError


def check_sparsity(value: float, name: str = "sparsity") -> float:
    """Return ``value`` as a float if ``0 <= value < 1``; otherwise raise :class:`ConfigError` naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(float(value)) \
            or not 0.0 <= float(value) < 1.0:
        raise ConfigError(f"{name} = {value!r} is out of range; expected a number with 0 <= {name} < 1 "
                          "(the fraction of prunable weights that are zero; 1 would remove every weight)")
    return float(value)


def density_from_sparsity(sparsity: float) -> float:
    """``density = 1 - sparsity``."""
    return 1.0 - check_sparsity(sparsity)


def sparsity_from_density(density: float) -> float:
    """``sparsity = 1 - density`` for ``0 < density <= 1``."""
    if not 0.0 < density <= 1.0:
        raise ConfigError(f"density = {density!r} is out of range; expected 0 < density <= 1")
    return 1.0 - density


def density_from_compression(compression: float) -> float:
    """GraSP/SynFlow compression notation: ``density = 10**(-compression)`` for ``compression >= 0``."""
    if compression < 0 or math.isnan(compression):
        raise ConfigError(f"compression = {compression!r} is out of range; expected compression >= 0 "
                          "(density = 10**-compression)")
    return 10.0 ** (-compression)


def compression_from_density(density: float) -> float:
    """Inverse of :func:`density_from_compression`: ``compression = -log10(density)``."""
    if not 0.0 < density <= 1.0:
        raise ConfigError(f"density = {density!r} is out of range; expected 0 < density <= 1")
    return -math.log10(density)


def sparsity_from_compression(compression: float) -> float:
    """``sparsity = 1 - 10**(-compression)``."""
    return 1.0 - density_from_compression(compression)


def compression_ratio(density: float) -> float:
    """Compression ratio ``1 / density`` (e.g. density 0.1 -> 10x)."""
    if not 0.0 < density <= 1.0:
        raise ConfigError(f"density = {density!r} is out of range; expected 0 < density <= 1")
    return 1.0 / density


def n_to_prune(sparsity: float, n: int) -> int:
    """Number of zeros a tensor group of ``n`` weights has at ``sparsity``: ``round(sparsity * n)`` (half up).

    This is the rounding every mask selection uses, so achieved sparsity is within half a weight of the target.
    """
    return int(math.floor(check_sparsity(sparsity) * n + 0.5))
