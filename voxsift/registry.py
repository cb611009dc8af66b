"""One small registry mechanism for every kind a config can name.

A kind (a curate step, a teacher, an enhancer, an embedder, a selector method, an adapter, an
export) is declared once and registered under its name in the registry of its sort. The config's
choices come from :meth:`Registry.names`, and an unknown name is refused with the list of choices
(:class:`UnknownKind`, a ``ValueError``, so a pydantic validator reports it under the field).

An entry may be registered as a :class:`Lazy` reference, ``"package.module:attribute"``, that is
imported the first time the entry is looked up: listing the names (``voxsift --help``, the
config's checks) then imports nothing heavy. This module imports nothing but the standard library.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownKind(ValueError):
    """A name no kind of this sort is registered under; the message lists the choices."""

    def __init__(self, sort: str, name: object, choices: tuple[str, ...]):
        listed = ", ".join(repr(choice) for choice in choices) or "(none registered)"
        super().__init__(f"unknown {sort} {name!r}; choose one of {listed}")
        self.sort, self.name, self.choices = sort, name, choices


class Lazy:
    """An object named by ``"package.module:attribute[.attribute]"``, imported on first use.

    Calling it calls the object, so a lazy class or function stands in for the real one; it
    pickles as its name.
    """

    def __init__(self, target: str):
        module, colon, attribute = target.partition(":")
        if not module or not colon or not attribute:
            raise ValueError(f"Lazy needs 'package.module:attribute', got {target!r}")
        self.target = target
        self._object: Any = None

    def resolve(self) -> Any:
        if self._object is None:
            module, _, attribute = self.target.partition(":")
            found: Any = importlib.import_module(module)
            for part in attribute.split("."):
                found = getattr(found, part)
            self._object = found
        return self._object

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        return {"target": self.target, "_object": None}

    def __repr__(self) -> str:
        return f"Lazy({self.target!r})"


class Registry(Generic[T]):
    """Kinds of one sort by name, in registration order (the order choices are listed in).

    ``sort`` names the sort in messages, e.g. ``"selector method"``.
    """

    def __init__(self, sort: str):
        self.sort = sort
        self._entries: dict[str, T | Lazy] = {}

    def add(self, name: str, entry: T | Lazy, *, before: str | None = None) -> T | Lazy:
        """Register ``entry`` as ``name`` (last, or just ahead of ``before``); returns it."""
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.sort} needs a non-empty name, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.sort} {name!r} is already registered")
        if before is None:
            self._entries[name] = entry
            return entry
        if before not in self._entries:
            raise UnknownKind(self.sort, before, self.names())
        entries = list(self._entries.items())
        at = [n for n, _ in entries].index(before)
        self._entries = dict([*entries[:at], (name, entry), *entries[at:]])
        return entry

    def register(self, name: str, *, before: str | None = None) -> Callable[[T], T]:
        """Decorator form of :meth:`add`: ``@REGISTRY.register("name")`` over a function."""

        def decorate(entry: T) -> T:
            self.add(name, entry, before=before)
            return entry

        return decorate

    def remove(self, name: str) -> None:
        """Unregister ``name`` (a test's toy kind); an unknown name is an UnknownKind."""
        if name not in self._entries:
            raise UnknownKind(self.sort, name, self.names())
        del self._entries[name]

    @contextlib.contextmanager
    def added(self, name: str, entry: T | Lazy, *, before: str | None = None) -> Iterator[T]:
        """``name`` registered for the duration of a ``with`` block only."""
        self.add(name, entry, before=before)
        try:
            yield self.get(name)
        finally:
            self.remove(name)

    def check(self, name: str) -> str:
        """``name`` when it is registered, else UnknownKind listing the choices; imports nothing."""
        if name not in self._entries:
            raise UnknownKind(self.sort, name, self.names())
        return name

    def get(self, name: str) -> T:
        """The kind registered as ``name`` (a lazy entry is imported now)."""
        entry = self._entries.get(self.check(name))
        if isinstance(entry, Lazy):
            entry = entry.resolve()
            self._entries[name] = entry
        return entry

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """(name, kind) pairs in order; lazy entries are imported."""
        return [(name, self.get(name)) for name in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.sort!r}: {', '.join(self._entries)})"
