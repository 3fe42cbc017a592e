"""Static check: does the package use only rclpy APIs that ROS 2 Humble's rclpy has?

Everything Humble offers is derived by parsing Humble's rclpy source (../shared/rclpy-humble: modules, the names
they define or import, classes with their bases followed inside the rclpy tree, signatures, return annotations);
nothing is a hand-written list of names. The package's own source is parsed with ``ast`` and checked for:

- ``import rclpy.x`` / ``from rclpy.x import Y``: the module exists in Humble and defines or imports ``Y``;
- ``rclpy.x.y`` attribute chains and ``SomeRclpyClass.ATTR``: the name exists there;
- methods called on ``self`` (and ``super()``) in classes deriving from an rclpy class, when the package's class
  does not define them, and methods called on objects whose rclpy type is known (an annotation such as
  ``node: Node``, a constructor ``SingleThreadedExecutor(...)``, or the return annotation of an rclpy call such as
  ``rclpy.create_node`` or ``node.create_publisher``): the method exists on Humble's class or its bases;
- keyword arguments (and the number of positional ones) of every call that resolves to an rclpy function, method
  or constructor: Humble's signature accepts them.

A name is reported missing only where the class's bases are all inside rclpy (or ``object``/``Generic``): a class
with an outside base (an ``IntEnum``) may get the name from there.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT_MODULE = "rclpy"
NEUTRAL_BASES = frozenset({"object", "typing.Generic", "typing.Protocol"})


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


# ------------------------------------------------------------------------------------------------ Humble's rclpy
@dataclass(frozen=True)
class Symbol:
    """Something a dotted name resolves to: an rclpy module, class, function, other value, or a non-rclpy name."""

    kind: str  # module | class | function | value | external
    name: str  # dotted: rclpy.node.Node, rclpy.node.Node.create_timer, typing.Generic
    module: str = ""  # the rclpy module that defines it (class, function, value)
    node: ast.AST | None = field(default=None, compare=False, hash=False)


@dataclass
class HumbleModule:
    name: str
    is_package: bool
    runtime: dict[str, ast.AST | tuple[str, str]]  # name -> ClassDef/FunctionDef/("import", dotted)/("alias", expr)
    typing_only: dict[str, tuple[str, str]]  # names imported under `if TYPE_CHECKING:`


def absolute_module(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of a relative import ``from {'.' * level}{target} import ...`` written in ``module``."""
    if level == 0:
        return target or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class HumbleRclpy:
    """Humble's rclpy source tree (the folder that holds rclpy's ``__init__.py``), parsed on demand."""

    def __init__(self, package_dir: Path) -> None:
        if not (package_dir / "__init__.py").is_file():
            raise FileNotFoundError(f"{package_dir} is not the rclpy package folder (no __init__.py)")
        self.package_dir = package_dir
        self._modules: dict[str, HumbleModule | None] = {}

    def module(self, name: str) -> HumbleModule | None:
        if name not in self._modules:
            self._modules[name] = self._load(name)
        return self._modules[name]

    def _load(self, name: str) -> HumbleModule | None:
        if name != ROOT_MODULE and not name.startswith(ROOT_MODULE + "."):
            return None
        relative = Path(*name.split(".")[1:])
        package = self.package_dir / relative / "__init__.py"
        path = package if package.is_file() else (self.package_dir / relative).with_suffix(".py")
        if not path.is_file() or path == self.package_dir.with_suffix(".py"):
            return None
        tree = ast.parse(path.read_text(), str(path))
        module = HumbleModule(name, path.name == "__init__.py", {}, {})
        self._collect(tree.body, module, module.runtime)
        return module

    def _collect(self, body: list[ast.stmt], module: HumbleModule, into: dict) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                into[stmt.name] = stmt
            elif isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    if alias.asname:
                        into[alias.asname] = ("import", alias.name)
                    else:
                        top = alias.name.partition(".")[0]
                        into[top] = ("import", top)
            elif isinstance(stmt, ast.ImportFrom):
                source = absolute_module(module.name, module.is_package, stmt.level, stmt.module)
                for alias in stmt.names:
                    if alias.name != "*":
                        into[alias.asname or alias.name] = ("import", f"{source}.{alias.name}")
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    if isinstance(target, ast.Name) and stmt.value is not None:
                        into[target.id] = ("alias", stmt.value)
            elif isinstance(stmt, ast.If):
                self._collect(stmt.body, module, module.typing_only if _is_type_checking(stmt.test) else into)
                self._collect(stmt.orelse, module, into)
            elif isinstance(stmt, ast.Try):
                for block in (stmt.body, *(h.body for h in stmt.handlers), stmt.orelse, stmt.finalbody):
                    self._collect(block, module, into)

    # ---------------------------------------------------------------------------------------------- resolution
    def lookup(self, dotted: str, _depth: int = 0) -> Symbol | None:
        """What ``dotted`` is in Humble's rclpy; None when it does not exist there (only for rclpy names)."""
        if _depth > 20:
            return Symbol("value", dotted)
        if dotted != ROOT_MODULE and not dotted.startswith(ROOT_MODULE + "."):
            return Symbol("external", dotted)
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):  # the longest prefix that is a module
            if self.module(".".join(parts[:cut])) is not None:
                break
        else:
            return None
        symbol = Symbol("module", ".".join(parts[:cut]))
        for name in parts[cut:]:
            symbol = self.member(symbol, name, _depth + 1)
            if symbol is None or symbol.kind in ("value", "external"):
                return symbol
        return symbol

    def member(self, owner: Symbol, name: str, _depth: int = 0) -> Symbol | None:
        if owner.kind == "module":
            module = self.module(owner.name)
            assert module is not None
            if name in module.runtime:
                return self._binding(module, name, module.runtime[name], _depth)
            if self.module(f"{owner.name}.{name}") is not None:
                return Symbol("module", f"{owner.name}.{name}")
            return None
        if owner.kind == "class":
            found = self.class_members(owner)
            if name in found.names:
                return found.names[name]
            return None if found.complete else Symbol("value", f"{owner.name}.{name}")
        return Symbol("value", f"{owner.name}.{name}")

    def _binding(self, module: HumbleModule, name: str, binding: object, depth: int) -> Symbol | None:
        dotted = f"{module.name}.{name}"
        if isinstance(binding, ast.ClassDef):
            return Symbol("class", dotted, module.name, binding)
        if isinstance(binding, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return Symbol("function", dotted, module.name, binding)
        kind, target = binding  # type: ignore[misc]
        if kind == "import":
            return self.lookup(target, depth) if self.module(target) is None else Symbol("module", target)
        resolved = self.resolve_expr(module, target, depth)  # an alias such as `Node = LifecycleNode`
        return resolved or Symbol("value", dotted, module.name)

    def resolve_expr(self, module: HumbleModule, expr: ast.AST, depth: int = 0) -> Symbol | None:
        """A Name/Attribute (or a string annotation) written in ``module``, resolved; None if not a known symbol."""
        chain = annotation_chain(expr)
        if chain is None:
            return None
        head, _, rest = chain.partition(".")
        binding = module.runtime.get(head) or module.typing_only.get(head)
        if binding is None:
            return Symbol("external", chain) if head in ("object",) else None
        symbol = self._binding(module, head, binding, depth + 1)
        for name in rest.split(".") if rest else []:
            if symbol is None or symbol.kind in ("value", "external"):
                return symbol
            symbol = self.member(symbol, name, depth + 1)
        return symbol

    @dataclass
    class Members:
        names: dict[str, Symbol]
        complete: bool  # every base inside rclpy (or neutral): a name not in ``names`` does not exist
        mro: list[Symbol]  # the class and its rclpy bases, in lookup order

    @cache  # noqa: B019 (one HumbleRclpy per test session)
    def class_members(self, cls: Symbol) -> HumbleRclpy.Members:
        module = self.module(cls.module)
        assert module is not None and isinstance(cls.node, ast.ClassDef)
        names: dict[str, Symbol] = {}
        for stmt in cls.node.body:
            for name, node in _class_body_names(stmt):
                kind = "function" if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else "value"
                kind = "class" if isinstance(node, ast.ClassDef) else kind
                names.setdefault(name, Symbol(kind, f"{cls.name}.{name}", cls.module, node))
        for attr in _self_attributes(cls.node):
            names.setdefault(attr, Symbol("value", f"{cls.name}.{attr}", cls.module))
        complete, mro = True, [cls]
        for base in cls.node.bases:
            target = base.value if isinstance(base, ast.Subscript) else base
            resolved = self.resolve_expr(module, target)
            if resolved is not None and resolved.kind == "class":
                inherited = self.class_members(resolved)
                for name, symbol in inherited.names.items():
                    names.setdefault(name, symbol)
                complete = complete and inherited.complete
                mro += [s for s in inherited.mro if s not in mro]
            elif resolved is None or resolved.name not in NEUTRAL_BASES:
                complete = False
        return HumbleRclpy.Members(names, complete, mro)

    def return_class(self, function: Symbol) -> Symbol | None:
        """The rclpy class a function's return annotation names (``-> Publisher``, ``-> 'Node'``), if any."""
        node = function.node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.returns is None:
            return None
        module = self.module(function.module)
        assert module is not None
        resolved = self.resolve_expr(module, node.returns)
        return resolved if resolved is not None and resolved.kind == "class" else None

    def constructor_rejects(self, cls: Symbol, keywords: list[str]) -> list[str]:
        """The keywords that constructing ``cls`` does not take.

        ``__new__`` (``Clock``) and ``__init__`` both see the arguments: a keyword must suit each that the class or
        its bases define. For each, the first definition up the bases decides; where that has ``**kwargs``
        (``LifecycleNode`` passes them on to ``Node``), the keywords of every definition up the bases count, and
        any keyword where every definition has ``**kwargs`` (``QoSProfile``).
        """
        members = self.class_members(cls)
        if not members.complete:
            return []
        constraints: list[set[str] | None] = []  # None: takes any keyword
        for dunder in ("__new__", "__init__"):
            defs = [
                s
                for owner in members.mro
                for s in owner.node.body  # type: ignore[union-attr]
                if isinstance(s, ast.FunctionDef) and s.name == dunder
            ]
            if not defs:
                continue
            if defs[0].args.kwarg is None:
                constraints.append(keyword_names(defs[0]))
            elif all(d.args.kwarg is not None for d in defs):
                constraints.append(None)
            else:
                constraints.append(set().union(*(keyword_names(d) for d in defs)))
        if not constraints:
            constraints.append(set())  # object() takes no keyword
        return [k for k in keywords if any(names is not None and k not in names for names in constraints)]


def _class_body_names(stmt: ast.stmt) -> Iterator[tuple[str, ast.AST]]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        yield stmt.name, stmt
    elif isinstance(stmt, ast.Assign):
        for target in stmt.targets:
            if isinstance(target, ast.Name):
                yield target.id, stmt
    elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        yield stmt.target.id, stmt


def _self_attributes(cls: ast.ClassDef) -> set[str]:
    """``self.x = ...`` names assigned in the class's methods (instance attributes may hold callables)."""
    found = set()
    for node in ast.walk(cls):
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        for target in targets:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
                found.add(target.attr)
    return found


def annotation_chain(expr: ast.AST) -> str | None:
    """``dotted_name`` of a Name/Attribute, or of the expression inside a string annotation; None otherwise."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        try:
            expr = ast.parse(expr.value, mode="eval").body
        except SyntaxError:
            return None
    return dotted_name(expr)


def dotted_name(expr: ast.AST) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        head = dotted_name(expr.value)
        return None if head is None else f"{head}.{expr.attr}"
    return None


def keyword_names(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    return {a.arg for a in (*function.args.args, *function.args.kwonlyargs)}


def is_static(function: ast.AST) -> bool:
    return isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
        dotted_name(d) == "staticmethod" for d in function.decorator_list
    )


def signature_problems(
    function: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call, bound: bool, what: str
) -> list[str]:
    """What of ``call`` ``function``'s signature does not accept (``bound``: its first parameter is self/cls)."""
    problems = []
    args = function.args
    if args.kwarg is None:
        allowed = keyword_names(function)
        problems += [
            f"{what}() has no keyword {k.arg!r} in Humble" for k in call.keywords if k.arg and k.arg not in allowed
        ]
    if args.vararg is None and not any(isinstance(a, ast.Starred) for a in call.args):
        positional = len(args.posonlyargs) + len(args.args) - (1 if bound else 0)
        if len(call.args) > positional:
            problems.append(f"{what}() takes {positional} positional arguments in Humble, {len(call.args)} given")
    return problems


# ------------------------------------------------------------------------------------------------ the package
@dataclass
class PackageClass:
    module: str
    node: ast.ClassDef
    bases: list[ast.expr]


@dataclass
class Source:
    module: str  # dotted module name, e.g. stdc_ros.node.main
    path: str
    tree: ast.Module
    is_package: bool
    imports: dict[str, str] = field(default_factory=dict)  # local name -> dotted target


class Checker:
    """Check a set of package modules against Humble's rclpy; ``findings`` lists what Humble lacks."""

    def __init__(self, humble: HumbleRclpy, sources: list[Source]) -> None:
        self.humble = humble
        self.sources = sources
        self.findings: list[Finding] = []
        self.checked: set[str] = set()  # the rclpy names whose calls were checked (to show the check is not vacuous)
        self.classes: dict[str, PackageClass] = {}
        for source in sources:
            source.imports = self._imports(source)
            for stmt in source.tree.body:
                if isinstance(stmt, ast.ClassDef):
                    self.classes[f"{source.module}.{stmt.name}"] = PackageClass(source.module, stmt, stmt.bases)
        self.by_module = {s.module: s for s in sources}

    def run(self) -> list[Finding]:
        for source in self.sources:
            self._check_imports(source)
            attributes = _ModuleVisitor(self, source, None).collect_attributes()
            _ModuleVisitor(self, source, attributes).visit(source.tree)
        unique = {(f.path, f.line, f.message): f for f in self.findings}
        return sorted(unique.values(), key=lambda f: (f.path, f.line, f.message))

    def report(self, source: Source, node: ast.AST, message: str) -> None:
        self.findings.append(Finding(source.path, getattr(node, "lineno", 0), message))

    # ---------------------------------------------------------------------------------------------- imports
    def _imports(self, source: Source) -> dict[str, str]:
        imports: dict[str, str] = {}
        for node in ast.walk(source.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        imports[alias.asname] = alias.name
                    else:
                        imports[alias.name.partition(".")[0]] = alias.name.partition(".")[0]
            elif isinstance(node, ast.ImportFrom):
                base = absolute_module(source.module, source.is_package, node.level, node.module)
                for alias in node.names:
                    if alias.name != "*":
                        imports[alias.asname or alias.name] = f"{base}.{alias.name}"
        return imports

    def _check_imports(self, source: Source) -> None:
        for node in ast.walk(source.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if is_rclpy(alias.name) and self.humble.module(alias.name) is None:
                        self.report(source, node, f"import {alias.name}: no such module in Humble's rclpy")
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and is_rclpy(node.module):
                if self.humble.module(node.module) is None:
                    self.report(source, node, f"from {node.module} import ...: no such module in Humble's rclpy")
                    continue
                for alias in node.names:
                    if alias.name != "*" and self.humble.lookup(f"{node.module}.{alias.name}") is None:
                        self.report(source, node, f"from {node.module} import {alias.name}: not in Humble's rclpy")

    # ---------------------------------------------------------------------------------------------- classes
    def package_class(self, source: Source, expr: ast.AST) -> str | None:
        chain = dotted_name(expr)
        if chain is None:
            return None
        if f"{source.module}.{chain}" in self.classes:
            return f"{source.module}.{chain}"
        target = source.imports.get(chain.partition(".")[0])
        if target and "." not in chain and target in self.classes:
            return target
        return None

    def resolve(self, source: Source, expr: ast.AST) -> Symbol | None:
        """An expression naming an rclpy module/class/function through the source's imports."""
        chain = annotation_chain(expr)
        if chain is None:
            return None
        head, _, rest = chain.partition(".")
        target = source.imports.get(head)
        if target is None or not is_rclpy(target):
            return None
        return self.humble.lookup(f"{target}.{rest}" if rest else target)

    def rclpy_bases(self, qualname: str) -> tuple[list[Symbol], set[str], bool]:
        """(rclpy classes among a package class's bases, names the package defines on it, all bases known)."""
        cls = self.classes[qualname]
        source = self.by_module[cls.module]
        defined = {name for stmt in cls.node.body for name, _ in _class_body_names(stmt)} | _self_attributes(cls.node)
        bases: list[Symbol] = []
        known = True
        for base in cls.bases:
            base = base.value if isinstance(base, ast.Subscript) else base
            inner = self.package_class(source, base)
            if inner is not None:
                more, names, inner_known = self.rclpy_bases(inner)
                bases += more
                defined |= names
                known = known and inner_known
                continue
            symbol = self.resolve(source, base)
            if symbol is not None and symbol.kind == "class":
                bases.append(symbol)
            elif dotted_name(base) not in ("object", "Generic"):
                known = False
        return bases, defined, known

    def package_init(self, qualname: str) -> ast.FunctionDef | None:
        """The ``__init__`` a package class (or its first package base that has one) defines."""
        cls = self.classes[qualname]
        for stmt in cls.node.body:
            if isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
                return stmt
        source = self.by_module[cls.module]
        for base in cls.bases:
            inner = self.package_class(source, base)
            if inner is not None:
                return self.package_init(inner)
        return None

    def method_on(self, classes: list[Symbol], name: str) -> tuple[Symbol | None, bool]:
        """(the member ``name`` of the first of ``classes`` that has it, whether all of them are complete)."""
        complete = True
        for cls in classes:
            members = self.humble.class_members(cls)
            if name in members.names:
                return members.names[name], True
            complete = complete and members.complete
        return None, complete


def is_rclpy(dotted: str) -> bool:
    return dotted == ROOT_MODULE or dotted.startswith(ROOT_MODULE + ".")


# A value the visitor tracks: an rclpy object of a known class, or a package class instance (``self``).
@dataclass(frozen=True)
class Instance:
    cls: Symbol


@dataclass(frozen=True)
class SelfOf:
    qualname: str
    is_super: bool = False


_UNKNOWN = object()


class _Scope:
    def __init__(self, parent: _Scope | None) -> None:
        self.parent = parent
        self.names: dict[str, object] = {}

    def get(self, name: str) -> object:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None

    def assign(self, name: str, value: object) -> None:
        if value is None or (name in self.names and self.names[name] not in (None, value)):
            value = _UNKNOWN  # unknown, or two different types over the function: stop checking it
        self.names[name] = value


class _ModuleVisitor(ast.NodeVisitor):
    """Walks one module in source order, tracking variable types, and checks calls and attribute chains."""

    def __init__(self, checker: Checker, source: Source, attributes: dict[tuple[str, str], object] | None) -> None:
        self.checker, self.source, self.humble = checker, source, checker.humble
        self.collecting = attributes is None
        self.attributes: dict[tuple[str, str], object] = {} if attributes is None else attributes
        self.scope = _Scope(None)
        self.module_scope = self.scope
        self.current_class: str | None = None

    def collect_attributes(self) -> dict[tuple[str, str], object]:
        self.visit(self.source.tree)
        return {k: v for k, v in self.attributes.items() if v is not _UNKNOWN}

    def report(self, node: ast.AST, message: str) -> None:
        if not self.collecting:
            self.checker.report(self.source, node, message)

    # ---------------------------------------------------------------------------------------------- scopes
    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in (*node.bases, *node.decorator_list):
            self.visit(expr)
        outer_class, outer_scope = self.current_class, self.scope
        qualname = f"{self.source.module}.{node.name}"
        self.current_class = qualname if qualname in self.checker.classes else None
        self.scope = _Scope(self.module_scope)
        for stmt in node.body:
            self.visit(stmt)
        self.current_class, self.scope = outer_class, outer_scope

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for expr in node.decorator_list:
            self.visit(expr)
        in_class = self.current_class is not None and node in self._class_body()
        outer = self.scope
        self.scope = _Scope(self.module_scope if in_class else outer)
        params = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        for index, arg in enumerate(params):
            if index == 0 and in_class and not is_static(node):
                self.scope.names[arg.arg] = SelfOf(self.current_class)  # type: ignore[arg-type]
            else:
                self.scope.assign(arg.arg, self.annotation_type(arg.annotation))
        outer_class = self.current_class
        if not in_class:
            self.current_class = outer_class if self.scope.get("self") else None
        for stmt in node.body:
            self.visit(stmt)
        self.scope, self.current_class = outer, outer_class

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        outer = self.scope
        self.scope = _Scope(outer)
        for arg in node.args.args:
            self.scope.assign(arg.arg, None)
        self.visit(node.body)
        self.scope = outer

    def _class_body(self) -> list[ast.stmt]:
        assert self.current_class is not None
        return self.checker.classes[self.current_class].node.body

    # ---------------------------------------------------------------------------------------------- types
    def annotation_type(self, annotation: ast.AST | None) -> object:
        if annotation is None:
            return None
        if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):  # X | None
            sides = [s for s in (annotation.left, annotation.right) if not _is_none(s)]
            return self.annotation_type(sides[0]) if len(sides) == 1 else None
        if isinstance(annotation, ast.Subscript) and dotted_name(annotation.value) in ("Optional", "typing.Optional"):
            return self.annotation_type(annotation.slice)
        symbol = self.checker.resolve(self.source, annotation)
        return Instance(symbol) if symbol is not None and symbol.kind == "class" else None

    def assign(self, target: ast.AST, value: object) -> None:
        if isinstance(target, ast.Name):
            self.scope.assign(target.id, value)
        elif (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and isinstance(self.scope.get(target.value.id), SelfOf)
            and self.collecting
        ):
            key = (self.scope.get(target.value.id).qualname, target.attr)  # type: ignore[union-attr]
            if value is None or (key in self.attributes and self.attributes[key] != value):
                value = _UNKNOWN
            self.attributes[key] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self.assign(element, None)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            pairs = [(target, node.value)]
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs = list(zip(target.elts, node.value.elts))
            for name, value in pairs:
                if not _is_none(value):  # `x = None` then `x = Node(...)` keeps the type
                    self.assign(name, self.value_of(value))
            self.visit(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        self.assign(node.target, self.annotation_type(node.annotation))  # a non-rclpy annotation: not tracked
        self.visit(node.target)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self.assign(node.target, None)
        for stmt in (*node.body, *node.orelse):
            self.visit(stmt)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self.assign(item.optional_vars, None)
        for stmt in node.body:
            self.visit(stmt)

    visit_AsyncWith = visit_With

    def value_of(self, expr: ast.AST) -> object:
        """The tracked type of an expression: Instance, SelfOf, an rclpy Symbol, or None."""
        if isinstance(expr, ast.Name):
            value = self.scope.get(expr.id)
            if value is _UNKNOWN:
                return None
            return value if value is not None else self.checker.resolve(self.source, expr)
        if isinstance(expr, ast.Attribute):
            owner = self.value_of(expr.value)
            if isinstance(owner, SelfOf) and not owner.is_super:
                return self.attributes.get((owner.qualname, expr.attr))
            if isinstance(owner, Symbol) and owner.kind in ("module", "class"):
                return self.humble.member(owner, expr.attr)
            return None
        if isinstance(expr, ast.Call):
            if isinstance(expr.func, ast.Name) and expr.func.id == "super" and self.current_class:
                return SelfOf(self.current_class, is_super=True)
            own = self.checker.package_class(self.source, expr.func)
            if own is not None:  # an instance of the package's class (a node): its methods are checked like self's
                return SelfOf(own)
            target = self.call_target(expr)
            if target is None:
                return None
            if target.kind == "class":
                return Instance(target)
            returned = self.humble.return_class(target)
            return Instance(returned) if returned is not None else None
        return None

    # ---------------------------------------------------------------------------------------------- checks
    def call_target(self, call: ast.Call) -> Symbol | None:
        """The rclpy function/method/class a call reaches (checking it on the way), or None if not rclpy's."""
        target = self._call_target(call)
        if target is not None and not self.collecting:
            self.checker.checked.add(target.name)
        return target

    def _call_target(self, call: ast.Call) -> Symbol | None:
        func = call.func
        own = self.checker.package_class(self.source, func)
        if own is not None:
            self.package_constructor(call, own)
            return None
        if isinstance(func, ast.Attribute):
            owner = self.value_of(func.value)
            if isinstance(owner, SelfOf):
                return self.self_method(call, owner, func.attr)
            if isinstance(owner, Instance):
                return self.method(call, [owner.cls], func.attr, f"{owner.cls.name}.{func.attr}")
        symbol = self.value_of(func) if isinstance(func, (ast.Name, ast.Attribute)) else None
        if not isinstance(symbol, Symbol):
            return None
        if symbol.kind == "function" and isinstance(symbol.node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # Reached through a class (Time.from_msg): bound only when a classmethod.
            in_class = symbol.name.count(".") > symbol.module.count(".") + 1
            bound = in_class and any(dotted_name(d) == "classmethod" for d in symbol.node.decorator_list)
            for problem in signature_problems(symbol.node, call, bound, symbol.name):
                self.report(call, problem)
        elif symbol.kind == "class":
            for keyword in self.humble.constructor_rejects(symbol, [k.arg for k in call.keywords if k.arg]):
                self.report(call, f"{symbol.name}() has no keyword {keyword!r} in Humble")
        return symbol

    def package_constructor(self, call: ast.Call, qualname: str) -> None:
        """Keywords a package class does not name itself go on, through its ``**kwargs``, to its rclpy base."""
        bases, _, known = self.checker.rclpy_bases(qualname)
        if not bases or not known:
            return
        init = self.checker.package_init(qualname)
        if init is not None and init.args.kwarg is None:
            return
        own = keyword_names(init) if init is not None else set()
        passed = [k.arg for k in call.keywords if k.arg and k.arg not in own]
        for keyword in self.humble.constructor_rejects(bases[0], passed):
            self.report(call, f"{qualname}() passes keyword {keyword!r} to {bases[0].name}, which Humble's lacks")

    def self_method(self, call: ast.Call, owner: SelfOf, name: str) -> Symbol | None:
        bases, defined, known = self.checker.rclpy_bases(owner.qualname)
        if not bases or (name in defined and not owner.is_super):
            return None
        if owner.is_super and name in defined and name not in _own_names(self.checker.classes[owner.qualname]):
            return None  # defined by a package base class
        if not known:
            return None
        return self.method(call, bases, name, f"{bases[0].name}.{name}")

    def method(self, call: ast.Call, classes: list[Symbol], name: str, what: str) -> Symbol | None:
        found, complete = self.checker.method_on(classes, name)
        if found is None:
            if complete and not (name.startswith("__") and name.endswith("__")):
                self.report(call, f"{what}: no such method in Humble's rclpy ({classes[0].name} and its bases)")
            return None
        if found.kind == "function" and isinstance(found.node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for problem in signature_problems(found.node, call, not is_static(found.node), found.name):
                self.report(call, problem)
        return found

    def visit_Call(self, node: ast.Call) -> None:
        self.call_target(node)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        owner = self.value_of(node.value)
        if (
            isinstance(owner, Symbol)
            and owner.kind in ("module", "class")
            and self.humble.member(owner, node.attr) is None
        ):
            self.report(node, f"{owner.name}.{node.attr}: not in Humble's rclpy")
        self.generic_visit(node)


def _is_none(expr: ast.AST | None) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is None


def _own_names(cls: PackageClass) -> set[str]:
    return {name for stmt in cls.node.body for name, _ in _class_body_names(stmt)}


# ------------------------------------------------------------------------------------------------ entry points
def load_sources(package_dir: Path, root: Path) -> list[Source]:
    """Every module of a package folder, named as imported from ``root`` (the folder that holds the package)."""
    sources = []
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_package else parts)
        sources.append(Source(module, str(path.relative_to(root)), ast.parse(path.read_text(), str(path)), is_package))
    return sources


def check_sources(humble: HumbleRclpy, sources: list[Source]) -> list[Finding]:
    return Checker(humble, sources).run()


def check_snippet(humble: HumbleRclpy, code: str, module: str = "snippet") -> list[Finding]:
    """Check one module's source text (for tests of the checker itself)."""
    return check_sources(humble, [Source(module, f"{module}.py", ast.parse(code), False)])
