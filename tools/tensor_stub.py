"""Write ``src/ember/autograd/tensor.pyi``: the Tensor class as it stands once ``import ember`` has run.

Tensor's operators and most of its methods are installed by the functions layer
(``ember/functions/tensor_methods.py``), so an editor or a type checker reading ``tensor.py`` alone cannot see
them. The stub lists every member Tensor holds at run time, with the signature and return type of the
function behind it and the first paragraph of its docstring.

    python tools/tensor_stub.py           # rewrite the stub
    python tools/tensor_stub.py --check   # exit 1 if the stub is out of date

``tests/autograd/test_tensor_stub.py`` runs the check.
"""
from __future__ import annotations

import argparse
import ast
import builtins
import inspect
import keyword
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STUB = ROOT / "src" / "ember" / "autograd" / "tensor.pyi"
WIDTH = 120
INDENT = "    "

# Python's own entries of a class namespace: not members a user calls. ``__slotnames__`` is the cache that
# ``copy``/``pickle`` add once a Tensor has been copied (matplotlib's ``plot`` copies its inputs).
INTERNAL = {"__module__", "__qualname__", "__doc__", "__dict__", "__slots__", "__weakref__", "__annotations__",
            "__firstlineno__", "__static_attributes__", "__annotate__", "__annotate_func__", "__slotnames__"}
# Where each name an annotation may use comes from (Tensor itself is defined by the stub).
IMPORTS = {
    "Any": "from typing import Any",
    "Callable": "from collections.abc import Callable",
    "Iterable": "from collections.abc import Iterable",
    "Iterator": "from collections.abc import Iterator",
    "Sequence": "from collections.abc import Sequence",
    "np": "import numpy as np",
    "Device": "from ..backend.device import Device",
    "Function": "from .function import Function",
    "TensorHookHandle": "from .hooks import TensorHookHandle",
    "builtins": "import builtins",
}
# Members whose signature Python cannot report (slot wrappers taken from object): name -> return annotation.
FIXED = {"__hash__": "int"}
# object's rich comparisons return bool; Tensor's return Tensors, as PyTorch's do.
OVERRIDES = {"__eq__", "__ne__"}


def render() -> str:
    """The stub's text, from the Tensor class of the running ``ember``."""
    sys.path.insert(0, str(ROOT / "src"))
    import ember  # noqa: F401 - installs the functions layer's methods on Tensor
    from ember.autograd import tensor as tensor_module

    tensor_class = tensor_module.Tensor
    member_names = set(vars(tensor_class))
    used_names: set[str] = set()

    def annotation(text: str) -> str:
        """``text`` with builtins that Tensor's members shadow in the class body (``bool``, ``int``, ...)
        qualified as ``builtins.X``; every other name must come from IMPORTS or builtins."""
        def qualify(match: re.Match) -> str:
            name = match.group(0)
            root = name.split(".")[0]
            if name in member_names and hasattr(builtins, name):
                used_names.add("builtins")
                return f"builtins.{name}"
            if root == "Tensor" or root in IMPORTS or hasattr(builtins, root) or keyword.iskeyword(root):
                used_names.add(root)
                return name
            raise ValueError(f"tensor stub: annotation {text!r} names {root!r}; add it to IMPORTS in {__file__}")

        return re.sub(r"\b[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", qualify, text)

    def default(value) -> str:
        """A default that reads back as a literal (numbers, strings, None, True) as itself, any other as ``...``."""
        text = repr(value)
        try:
            return text if ast.literal_eval(text) == value else "..."
        except (ValueError, SyntaxError):
            return "..."

    def signature(name: str, function, method: bool = True) -> str:
        """``def name(self, ...) -> R: ...`` for ``function`` bound as a method named ``name`` (or, with
        ``method=False``, for a module-level function, its first parameter kept)."""
        parameters = list(inspect.signature(function).parameters.values())
        returned = inspect.signature(function).return_annotation
        if returned is inspect.Signature.empty:
            if name != "__init__":
                raise ValueError(f"tensor stub: {function.__module__}.{function.__qualname__} has no return "
                                 "annotation; annotate it in the source")
            returned = "None"
        parts = []
        keyword_only_started = False
        for index, parameter in enumerate(parameters):
            if method and index == 0:  # the tensor the method is called on, whatever the function names it
                parts.append("self")
                continue
            if parameter.kind is parameter.POSITIONAL_ONLY:
                raise ValueError(f"tensor stub: {name} has positional-only parameters; teach render() about them")
            text = parameter.name
            if parameter.kind is parameter.VAR_POSITIONAL:
                text = "*" + text
                keyword_only_started = True
            elif parameter.kind is parameter.VAR_KEYWORD:
                text = "**" + text
            elif parameter.kind is parameter.KEYWORD_ONLY and not keyword_only_started:
                parts.append("*")
                keyword_only_started = True
            if parameter.annotation is not inspect.Parameter.empty:
                text += ": " + annotation(str(parameter.annotation))
            if parameter.default is not inspect.Parameter.empty:
                separator = " = " if parameter.annotation is not inspect.Parameter.empty else "="
                text += separator + default(parameter.default)
            parts.append(text)
        result = annotation(str(returned))
        ignore = "  # type: ignore[override]" if name in OVERRIDES else ""
        one_line = f"def {name}({', '.join(parts)}) -> {result}: ...{ignore}"
        if len(INDENT + one_line) <= WIDTH:
            return one_line
        lines = [f"def {name}("] + [f"{INDENT}{part}," for part in parts] + [f") -> {result}: ...{ignore}"]
        return "\n".join(lines)

    def summary(obj) -> str | None:
        doc = obj.__doc__ and inspect.cleandoc(obj.__doc__)  # its own docstring, not one inherited from object
        if not doc:
            return None
        paragraph = " ".join(doc.split("\n\n")[0].split())
        return paragraph.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')

    def with_doc(definition: str, obj) -> list[str]:
        """``definition`` (ending in ``: ...``), with the docstring's first paragraph as its body."""
        lines = definition.split("\n")
        doc = summary(obj)
        if doc is None:
            return lines
        last = lines[-1]
        assert last.endswith(": ...") or "# type: ignore" in last
        head, _, comment = last.partition("  # ")
        lines[-1] = head[: -len(" ...")] + (f"  # {comment}" if comment else "")
        wrapped = textwrap.wrap(f'"""{doc}"""', WIDTH - 2 * len(INDENT), break_long_words=False,
                                break_on_hyphens=False)
        return lines + [INDENT + line for line in wrapped]

    own: list[str] = []
    installed: list[str] = []
    # The slots, as the class annotates them.
    for name, text in tensor_class.__annotations__.items():
        own.append(f"{name}: {annotation(str(text))}")
    for name, value in vars(tensor_class).items():
        if name in INTERNAL or name in tensor_class.__annotations__:
            continue
        target = own
        if isinstance(value, property):
            getter = value.fget
            if getter.__module__ != tensor_module.__name__:
                target = installed
            target.append("")
            target.append("@property")
            target.extend(with_doc(signature(name, getter), getter))
            if value.fset is not None:  # a settable property (``t.data = other``)
                target.append("")
                target.append(f"@{name}.setter")
                target.append(signature(name, value.fset))
        elif isinstance(value, classmethod):
            target.append("")
            target.append("@classmethod")
            target.extend(with_doc(signature(name, value.__func__).replace("(self", "(cls", 1), value.__func__))
        elif inspect.isfunction(value):
            if value.__module__ != tensor_module.__name__:
                target = installed
            target.append("")
            target.extend(with_doc(signature(name, value), value))
        elif name in FIXED:
            target.append("")
            target.append(f"def {name}(self) -> {annotation(FIXED[name])}: ...")
        elif value is None or isinstance(value, (int, float, str)):
            target.append(f"{name}: {annotation(type(value).__name__) if value is not None else 'None'}")
        else:
            raise ValueError(f"tensor stub: Tensor.{name} is a {type(value).__name__}; teach render() about it")

    functions = []
    for name, value in vars(tensor_module).items():
        if inspect.isfunction(value) and value.__module__ == tensor_module.__name__:
            functions.append("")
            functions.append("")
            functions.extend(with_doc(signature(name, value, method=False), value))

    header = [
        "# Generated by tools/tensor_stub.py from the Tensor class once `import ember` has run: do not edit.",
        "# Tensor's operators and most of its methods are installed by the functions layer",
        "# (ember/functions/tensor_methods.py); this stub lets editors and type checkers see them.",
        "from __future__ import annotations",
        "",
    ]
    needed = {IMPORTS[name] for name in used_names if name in IMPORTS}
    in_order = sorted(needed, key=lambda line: (line.startswith("from"), line))
    groups = [  # the standard library, NumPy, Ember
        [line for line in in_order if "numpy" not in line and not line.startswith("from .")],
        [line for line in in_order if "numpy" in line],
        [line for line in in_order if line.startswith("from .")],
    ]
    imports = "\n\n".join("\n".join(group) for group in groups if group).split("\n")
    body = [
        "",
        "",
        "class Tensor:",
        *[INDENT + line if line else "" for line in _docstring_lines(tensor_class)],
        *[INDENT + line if line else "" for line in own],
        "",
        f"{INDENT}# Installed by the functions layer (ember/functions/tensor_methods.py).",
        *[INDENT + line if line else "" for line in installed[1:]],
        *functions,
    ]
    return "\n".join(header + imports + body) + "\n"


def _docstring_lines(cls) -> list[str]:
    doc = inspect.getdoc(cls) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    return textwrap.wrap(f'"""{first}"""', WIDTH - len(INDENT), break_long_words=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the stub differs from what Tensor holds")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = STUB.read_text() if STUB.exists() else ""
        if current != text:
            print(f"{STUB.relative_to(ROOT)} is out of date: run python tools/tensor_stub.py", file=sys.stderr)
            return 1
        return 0
    STUB.write_text(text)
    print(f"wrote {STUB.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
