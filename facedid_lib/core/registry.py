"""One registry for every kind of named thing: methods, attacks, detectors, recognizers, providers,
metrics.

A :class:`Registry` maps a name to an entry. Adding an entry is one registration (as a decorator
or a call); a duplicate name is refused; an entry that lives in a module of its own can be
registered *lazily* by the module's import path and is imported when first asked for; an unknown
name raises :class:`UnknownName` (both a ``KeyError`` and a ``ValueError``) whose message lists the
known names. The command line, the widgets, the benchmark, the harness and the book all list and
look up entries here, so they pick up a new one by themselves.

Keys are lowercase kebab-case (``"k-same-pixel"``, ``"hog"``, ``"model-a"``); a display title and
other spellings users typed before (``"Model A"``, ``"C&W"``) are accepted as aliases. (Providers
are the exception: their keys are the keyword arguments that hand them to a method, so they are
Python identifiers such as ``"attribute_autoencoder"``.)

>>> colours = Registry("colour")
>>> @colours.register("dark-red", aliases=("Dark Red",))
... def dark_red():
...     return (139, 0, 0)
>>> colours["Dark Red"] is dark_red, colours.names()
(True, ('dark-red',))
>>> colours["blue"]
Traceback (most recent call last):
...
facedid_lib.core.registry.UnknownName: unknown colour 'blue'; known: dark-red
>>> colours.lazy("navy", "facedid_lib.nowhere", aliases=("Navy",))  # listed now, imported when asked for
>>> colours.names(), colours.canonical("Navy"), "navy" in colours
(('dark-red', 'navy'), 'navy', True)
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any, Callable


class UnknownName(KeyError, ValueError):
    """An unknown registry name: a ``KeyError`` for mappings, a ``ValueError`` for callers that
    validate arguments; its message lists the known names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(MutableMapping):
    """Named entries of one kind, with aliases and lazy entries.

    Iterating, ``len``, :meth:`names`, ``.items()`` and ``.values()`` see the keys only, in order
    of first registration (a lazy entry keeps its place once it is imported); look-ups, ``in`` and
    :meth:`canonical` also accept the aliases. ``.items()`` and ``.values()`` import the lazy
    entries.

    Parameters
    ----------
    kind : what the entries are, for messages (``"method"``, ``"detector"``).
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._order: dict[str, None] = {}  # every key, registered or lazy, in order of first registration
        self._entries: dict[str, Any] = {}
        self._lazy: dict[str, str] = {}
        self._aliases: dict[str, str] = {}

    # registration ---------------------------------------------------------------------------------
    def _check_names(self, name: str, aliases: tuple[str, ...]) -> tuple[str, ...]:
        """``aliases`` without repeats or ``name`` itself; a TypeError for a name that is not a
        non-empty string, a ValueError for a name or alias that another key already uses."""
        if isinstance(aliases, str):
            raise TypeError(f"aliases must be a tuple of names, got the string {aliases!r}")
        for n in (name, *aliases):
            if not isinstance(n, str) or not n:
                raise TypeError(f"a {self.kind} name must be a non-empty string, got {n!r}")
        aliases = tuple(a for a in dict.fromkeys(aliases) if a != name)
        if name in self._aliases:
            raise ValueError(f"{name!r} is already an alias of the {self.kind} {self._aliases[name]!r}")
        for alias in aliases:
            owner = self._aliases.get(alias, alias if alias in self._order else None)
            if owner is not None and owner != name:
                raise ValueError(f"the {self.kind} alias {alias!r} is already taken by {owner!r}")
        return aliases

    def register(self, name: str, entry: Any = None, *, aliases: tuple[str, ...] = ()) -> Any:
        """Register ``entry`` under ``name`` (and ``aliases``); without ``entry``, a decorator.

        A name or alias that is already taken is refused with a ``ValueError``; a name declared
        by :meth:`lazy` is the one exception (its module registers it when imported).
        """
        aliases = self._check_names(name, aliases)
        if name in self._entries:
            raise ValueError(f"a {self.kind} named {name!r} is already registered")

        def add(entry):
            if name in self._entries:  # registered between the decorator's creation and its call
                raise ValueError(f"a {self.kind} named {name!r} is already registered")
            self._lazy.pop(name, None)
            self._order[name] = None
            self._entries[name] = entry
            for alias in aliases:
                self._aliases[alias] = name
            return entry

        return add if entry is None else add(entry)

    def lazy(self, name: str, module: str, *, aliases: tuple[str, ...] = ()) -> None:
        """Say that importing ``module`` registers ``name``: it is listed now (and its
        ``aliases`` resolve now), the module is imported when the entry is first asked for."""
        aliases = self._check_names(name, aliases)
        if name in self._order:
            raise ValueError(f"a {self.kind} named {name!r} is already registered")
        self._order[name] = None
        self._lazy[name] = module
        for alias in aliases:
            self._aliases[alias] = name

    # look-up --------------------------------------------------------------------------------------
    def canonical(self, name: str) -> str:
        """The registry key that ``name`` (a key or an alias) stands for."""
        if isinstance(name, str):
            if name in self._order:
                return name
            if name in self._aliases:
                return self._aliases[name]
        message = f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}"
        if isinstance(name, str):  # the same name in other letter case, or a close one; keys first
            close = [s for group in (self._order, self._aliases) for s in group if s.casefold() == name.casefold()]
            for group in (self._order, self._aliases):
                close += difflib.get_close_matches(name, group, n=1)
            if close:
                message += f" (did you mean {close[0]!r}?)"
        raise UnknownName(message)

    def aliases(self, name: str) -> tuple[str, ...]:
        """The aliases of the entry ``name`` (a key or an alias), in order of registration."""
        key = self.canonical(name)
        return tuple(a for a, k in self._aliases.items() if k == key)

    def __getitem__(self, name: str) -> Any:
        key = self.canonical(name)
        if key not in self._entries:
            module = self._lazy[key]
            importlib.import_module(module)
            if key not in self._entries:
                raise RuntimeError(f"importing {module} did not register the {self.kind} {key!r}")
        return self._entries[key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._order or name in self._aliases)

    def names(self) -> tuple[str, ...]:
        """Every key, in order of first registration (lazy ones included, not imported)."""
        return tuple(self._order)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._order)

    # plain-mapping edits (tests replace an entry for a while with ``monkeypatch.setitem``) --------
    def __setitem__(self, name: str, entry: Any) -> None:
        """Replace the entry ``name`` (a key or an alias), or add a new key, without the duplicate check."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        key = self._aliases.get(name, name)
        self._lazy.pop(key, None)
        self._order[key] = None
        self._entries[key] = entry

    def __delitem__(self, name: str) -> None:
        """Remove the entry ``name`` (a key or an alias) with its aliases."""
        key = self.canonical(name)
        del self._order[key]
        self._entries.pop(key, None)
        self._lazy.pop(key, None)
        for alias in [a for a, k in self._aliases.items() if k == key]:
            del self._aliases[alias]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.names())})"


def decorator(registry: Registry, name: str, make: Callable[[Any], Any], aliases: tuple[str, ...] = ()):
    """A decorator that registers ``make(fn)`` under ``name``, and returns ``fn`` unchanged."""

    def decorate(fn):
        registry.register(name, make(fn), aliases=aliases)
        return fn

    return decorate


__all__ = ["Registry", "UnknownName", "decorator"]
