"""Parameter declarations: a method or detector declares each parameter once.

Widgets build their sliders from a :class:`Param`, the command line builds its options from it,
and the evaluation harness sweeps along it; so a new method gets all three for free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Param:
    """One tunable parameter: name, default, range (numbers) or choices (strings), meaning.

    A numeric parameter has ``low``, ``high`` and ``step``; its type is the default's type (int or
    float). A categorical one has ``choices``.
    """

    name: str
    default: float | int | str | bool
    help: str
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    choices: tuple = ()

    def __post_init__(self):
        if self.choices:
            if self.default not in self.choices:
                raise ValueError(f"{self.name}: default {self.default!r} not in {self.choices}")
        elif not isinstance(self.default, bool) and (
                self.low is None or self.high is None or not self.low <= self.default <= self.high):
            raise ValueError(f"{self.name}: numeric parameter needs low <= default <= high")

    def validate(self, value):
        """Return ``value`` converted to the parameter's type, or raise a clear ValueError.

        A numeric parameter takes numbers only: text (``"5"``) is refused rather than parsed, so a
        caller that reads text (the command line) converts it to a number first.
        """
        if self.choices:
            if value not in self.choices:
                raise ValueError(f"{self.name} must be one of {self.choices}, got {value!r}")
            return value
        if isinstance(self.default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{self.name} must be True or False, got {value!r}")
            return value
        kind = type(self.default)
        noun = "an int" if kind is int else "a float"
        if isinstance(value, (bool, str, bytes, bytearray)):
            raise ValueError(f"{self.name} must be {noun}, got {value!r}")
        try:
            converted = kind(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{self.name} must be {noun}, got {value!r}") from None
        if kind is int and converted != value:
            raise ValueError(f"{self.name} must be a whole number, got {value!r}")
        if not self.low <= converted <= self.high:
            raise ValueError(f"{self.name} must lie in [{self.low}, {self.high}], got {value!r}")
        return converted


def resolve(params: Sequence[Param], given: dict, owner: str) -> dict:
    """Defaults of ``params`` updated by ``given``, each validated; unknown names are an error."""
    known = {p.name: p for p in params}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f"{owner} has no parameter {', '.join(unknown)}; it takes {', '.join(known) or 'none'}")
    return {name: p.validate(given.get(name, p.default)) for name, p in known.items()}
