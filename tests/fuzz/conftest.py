"""Hypothesis profiles for the fuzz suite.

``default`` keeps the whole directory well under a minute (it runs in ``make test``);
``long`` (``make fuzz``, or ``--hypothesis-profile=long``) draws many more examples.
``FUZZ_SCALE`` in the environment multiplies the example counts of the raw-socket edge run,
which does not go through hypothesis.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    "print_blob": True,
}

settings.register_profile("default", max_examples=60, **_COMMON)
settings.register_profile("long", max_examples=2000, **_COMMON)
