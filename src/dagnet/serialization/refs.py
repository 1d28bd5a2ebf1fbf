"""References to activations in saved files: by registered name or ``module:qualname``, never imported.

:func:`_ref` names an activation for a file; :class:`Refs` turns the names of
a file back into activations, looking them up among dagnet's own (and
``torch.nn``'s activation classes) or in the ``custom_objects`` the caller
passes, and calling nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from torch import nn

from ..activations.combine import resolve_combine
from ..activations.registry import resolve_activation
from ..errors import FileFormatError

__all__ = ["Refs", "activation_ref", "custom_objects_by_name", "known_objects", "qualified_name"]


def qualified_name(obj: Any) -> str | None:
    """``'module:qualname'`` of a class or function, or None if it has no importable name."""
    target = type(obj) if isinstance(obj, nn.Module) else obj
    module, qualname = getattr(target, "__module__", None), getattr(target, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    return f"{module}:{qualname}"


def activation_ref(obj: Any, where: str, modules: list) -> Any:
    """A name for an activation: its registered name, or 'module:qualname'."""
    if obj is None or isinstance(obj, str):
        return obj
    name = qualified_name(obj)
    if name is None:
        raise ValueError(
            f"Cannot save the activation {obj!r} of {where}: it has no importable name "
            "(a lambda or a local function). Define it at module level."
        )
    if isinstance(obj, nn.Module):  # index None: a module no node uses (e.g. on an input)
        index = next((i for i, m in enumerate(modules) if m is obj), None)
        return {"module": name, "index": index}
    return {"callable": name}


def known_objects() -> dict[str, Any]:
    """The activations a file may name without the caller passing them: dagnet's own and torch.nn's."""
    from ..activations import functional, modules
    from ..activations.registry import _FUNCTIONS

    objects = [
        *_FUNCTIONS.values(),
        *(getattr(functional, n) for n in functional.__all__),
        *(getattr(modules, n) for n in modules.__all__),
        *(getattr(nn.modules.activation, n) for n in nn.modules.activation.__all__),
    ]
    return {name: obj for obj in objects if (name := qualified_name(obj)) is not None}


def custom_objects_by_name(custom_objects: Mapping[str, Any] | Iterable[Any] | None) -> dict[str, Any]:
    if custom_objects is None:
        return {}
    if isinstance(custom_objects, Mapping):
        items = dict(custom_objects)
    else:
        items = {}
        for obj in custom_objects:
            name = qualified_name(obj)
            if name is None:
                raise ValueError(
                    f"custom_objects: {obj!r} has no importable name; pass a dict {{'module:qualname': obj}} instead."
                )
            items[name] = obj
    for name, obj in items.items():
        if not isinstance(name, str) or name.count(":") != 1:
            raise ValueError(
                f"custom_objects: the key {name!r} must be a 'module:qualname' string, "
                "as in the error message that asked for it."
            )
        if not callable(obj):
            raise TypeError(f"custom_objects[{name!r}] must be a class or a function, got {obj!r}.")
    return items


class Refs:
    """Turns the references of a file into activations, without importing anything."""

    def __init__(self, path, custom: dict[str, Any]):
        self.path, self.custom, self.known = path, custom, known_objects()
        self.modules: dict = {}  # saved module index -> the one instance shared by its nodes

    def fresh(self) -> Refs:
        """The same look-ups, for another network (whose module indices are its own)."""
        other = Refs.__new__(Refs)
        other.path, other.custom, other.known, other.modules = self.path, self.custom, self.known, {}
        return other

    def bad(self, what: str) -> FileFormatError:
        return FileFormatError(f"{self.path} is not a valid dagnet network file: {what}.", self.path)

    def __call__(self, ref: Any, where: str, kind: str = "activation") -> Any:
        if ref is None:
            return None
        if isinstance(ref, str):
            try:
                (resolve_activation if kind == "activation" else resolve_combine)(ref)
            except ValueError as e:
                raise FileFormatError(
                    f"{self.path}: the {kind} of {where} cannot be used: {e} If it is "
                    "a name you register with dagnet.activations.register_activation, "
                    "register it before loading.",
                    self.path,
                ) from None
            return ref
        is_module = isinstance(ref, dict) and set(ref) == {"module", "index"}
        if not (is_module or (isinstance(ref, dict) and set(ref) == {"callable"})):
            raise self.bad(f"the {kind} of {where} is {ref!r}, neither a name nor a reference")
        name = ref["module"] if is_module else ref["callable"]
        if not isinstance(name, str) or name.count(":") != 1:
            raise self.bad(f"the {kind} of {where} refers to {name!r}, not to a 'module:qualname'")
        obj = self.custom.get(name, self.known.get(name))
        if obj is None:
            kw = "{" + repr(name) + ": " + name.split(":")[1].split(".")[-1] + "}"
            raise FileFormatError(
                f"{self.path}: the {kind} of {where} is {name!r}, which is not one of dagnet's own. Loading "
                f"imports and calls nothing else; if you trust this file, pass the object yourself: "
                f"dagnet.load(path, custom_objects={kw}).",
                self.path,
            )
        if not is_module:
            return obj
        index = ref["index"]
        if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
            raise self.bad(f"the {kind} of {where} must be an nn.Module class, but {name!r} is {obj!r}")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
            raise self.bad(f"the {kind} of {where} has the module index {index!r}")
        if index is not None and index in self.modules:  # one instance per saved module, shared as before
            return self.modules[index]
        try:
            module = obj()
        except Exception as e:
            raise FileFormatError(
                f"{self.path}: the {kind} {name!r} of {where} cannot be built with no "
                f"arguments ({type(e).__name__}: {e}).",
                self.path,
            ) from e
        if index is not None:
            self.modules[index] = module
        return module
