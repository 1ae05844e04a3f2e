"""The seed policy: which seed a run's hidden cases are drawn from, decided in one place.

Every random thing the grader does (hidden cases, the statistical checks' draws) follows from
this seed, and every result records it, so a regrade with the recorded seed is identical.
"""

from __future__ import annotations

import secrets

SELF_CHECK = 0  # a student's check has public cases only, which never depend on the seed


def choose(
    requested: int | None, configured: int | None, stored: int | None = None, *, public_only: bool = False
) -> int:
    """The seed asked for (`--seed`), else the one a resumed batch stored (all its results must
    share one), else the course's `seed`, else a fresh random one; `public_only` is the student's
    check, which has no hidden cases."""
    if public_only:
        return SELF_CHECK
    for seed in (requested, stored, configured):
        if seed is not None:
            return int(seed)
    return secrets.randbelow(2**31)
