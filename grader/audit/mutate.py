"""First-order mutants of a reference module: one plausible student mistake at a time.

`generate_mutants(source, functions)` parses the reference, walks the code between
`# BEGIN SOLUTION` and `# END SOLUTION` of each named top-level function, and applies every
operator of `OPERATORS` wherever it fits. Each mutant is the WHOLE module text with one edit
(so the loader accepts it as a submission as it is), the edited lines rewritten and the rest
of the file byte for byte the reference's. Mutants whose code is identical (as an AST) to
another's are kept once.

The operators are the mistakes a TA sees in this kind of assignment, not the generic ones of
mutation-testing tools: a flipped sign, a swapped operator or operands or arguments, an
off-by-one in a range, a slice or a step counter, a dropped term or factor, `+=` vs `=`, `//`
vs `/`, a wrong axis or a dropped transpose, mean vs sum, the square root dropped or a term
moved out of it (eps outside the square root), a changed constant, `<` vs `<=`, two
statements swapped, a counter that is never incremented, and near-equal batches
(`np.array_split`) or a dropped remainder instead of full batches plus a remainder.

Why not mutmut or cosmic-ray as a library: cosmic-ray's operators work on parso trees through
its own `Operator` protocol, session database and runner, and mutmut 3's operators are an
internal part of its libcst-based runner (it rewrites whole files into "trampolines"); neither
exposes "the mutants of this function as module texts". Their operators are also generic
(every binary operator replaced by every other, string and keyword mutations, `break` vs
`continue`), which would mostly produce mistakes no student makes and leave out the
domain ones above (axis, mean vs sum, eps outside the square root, array_split). The few
operators here are written on the standard library's `ast`, with no dependency.

Which names are step counters (for `t + 1` / `t - 1`): loop variables of `for ... in
range(...)`, names incremented with `+= 1`, names used as an exponent or as an operand of
`//` or `%`, and parameters called `t`, `step`, `epoch` or `iteration` (the lecture's
notation for a step number; a heuristic, not an assignment's name).
"""
from __future__ import annotations

import ast
import copy
import difflib
from dataclasses import dataclass
from typing import Callable, Iterator

from grader.stubs import solution_blocks
from grader.errors import UsageError

#: Every operator: its name -> the mistake it models (shown in the audit's report).
OPERATORS: dict[str, str] = {
    "flipped_sign": "a sign flipped: -x as x, a + b as a - b and back, += as -=",
    "swapped_operator": "* and / swapped, ** written as *",
    "floor_division": "// written as / or / as //",
    "swapped_operands": "the operands of -, /, //, %, ** or @ swapped",
    "swapped_arguments": "two neighbouring arguments of a call (or values of a returned tuple) swapped",
    "off_by_one": "an off-by-one in a range's bounds, a slice bound or a step counter (t + 1, t - 1)",
    "dropped_term": "a term of a sum or difference left out",
    "dropped_factor": "a factor, divisor or exponent left out",
    "accumulate_vs_assign": "+= written as = (no accumulation) or = as += (accumulating a fresh value)",
    "sqrt_dropped": "the square root left out (np.sqrt(x) or x ** 0.5 as x)",
    "term_outside_call": "a term moved out of a function call: sqrt(v + eps) as sqrt(v) + eps",
    "constant": "a constant changed: 0 <-> 1, 1 -> 2, others -> 1",
    "comparison": "< and <= (or > and >=) swapped",
    "axis": "a wrong axis: axis=0 and axis=1 swapped or dropped, a transpose .T dropped",
    "mean_sum": "mean and sum swapped",
    "array_split": "batches made with np.array_split (near-equal sizes) or without the last partial batch",
    "swapped_statements": "two neighbouring statements in the wrong order",
    "dropped_statement": "an increment or accumulation (x += ...) left out",
}

COUNTER_PARAMETERS = frozenset({"t", "step", "epoch", "iteration"})
_NON_COMMUTATIVE = (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult)
_UNARY_NUMERIC_CALLS = frozenset({"sqrt", "exp", "log", "log1p", "expm1"})
_SIMPLE_STATEMENTS = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr)


class MutationError(UsageError, ValueError):
    """The reference cannot be mutated (no such function, broken markers); one line."""


@dataclass(frozen=True)
class GeneratedMutant:
    """One mutant: `source` is the whole module with one mistake in `function`."""

    key: str  # "<function>.<operator>.<n>", stable while the reference does not change
    function: str
    operator: str
    description: str  # "`old` -> `new`", the edit in the code's own terms
    line: int  # where in the reference the edit is
    source: str
    mistaken: str = ""  # the mutant's code at the edit (the `new` of the description)

    def diff(self, reference: str, name: str = "reference.py") -> str:
        """The unified diff from the reference to this mutant."""
        return "".join(difflib.unified_diff(reference.splitlines(keepends=True), self.source.splitlines(keepends=True),
                                            fromfile=name, tofile=f"{self.key}.py", n=2))


Edit = tuple[ast.AST, ast.AST]  # (node of the reference, its replacement)


@dataclass
class _Context:
    function: ast.FunctionDef
    counters: frozenset[str]
    numpy: str | None  # the module's name for numpy ("np"), if it imports it
    parents: dict[int, ast.AST]  # id(node) -> its parent node


# --- the operators: each yields (edits, description) for one node -------------------------

def _binop(left, op, right) -> ast.BinOp:
    return ast.BinOp(left=left, op=op, right=right)


def _one(value) -> ast.Constant:
    return ast.Constant(value=value)


def flipped_sign(node, ctx) -> Iterator[tuple[list[Edit], str]]:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield [(node, node.operand)], ""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        yield [(node, _binop(node.left, ast.Sub() if isinstance(node.op, ast.Add) else ast.Add(), node.right))], ""
    if isinstance(node, ast.AugAssign) and isinstance(node.op, (ast.Add, ast.Sub)):
        flipped = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
        yield [(node, ast.AugAssign(target=node.target, op=flipped, value=node.value))], ""


def swapped_operator(node, ctx):
    if isinstance(node, ast.BinOp):
        swap = {ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Pow: ast.Mult}.get(type(node.op))
        if swap:
            yield [(node, _binop(node.left, swap(), node.right))], ""


def floor_division(node, ctx):
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.FloorDiv)):
        other = ast.FloorDiv() if isinstance(node.op, ast.Div) else ast.Div()
        yield [(node, _binop(node.left, other, node.right))], ""


def swapped_operands(node, ctx):
    if isinstance(node, ast.BinOp) and isinstance(node.op, _NON_COMMUTATIVE):
        yield [(node, _binop(node.right, node.op, node.left))], ""


def swapped_arguments(node, ctx):
    if isinstance(node, ast.Call) and _call_name(node) != "range":
        args = node.args
        for i in range(len(args) - 1):
            if isinstance(args[i], ast.Starred) or isinstance(args[i + 1], ast.Starred):
                continue
            if ast.dump(args[i]) == ast.dump(args[i + 1]):
                continue
            swapped = list(args)
            swapped[i], swapped[i + 1] = args[i + 1], args[i]
            yield [(node, ast.Call(func=node.func, args=swapped, keywords=node.keywords))], ""
    if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
        items = node.value.elts
        for i in range(len(items) - 1):
            swapped = list(items)
            swapped[i], swapped[i + 1] = items[i + 1], items[i]
            yield [(node, ast.Return(value=ast.Tuple(elts=swapped, ctx=ast.Load())))], ""


def off_by_one(node, ctx):
    def shifted(expr):
        if isinstance(expr, ast.Constant) and type(expr.value) is int:
            return [_one(expr.value + 1), _one(expr.value - 1)]
        return [_binop(expr, ast.Add(), _one(1)), _binop(expr, ast.Sub(), _one(1))]

    if isinstance(node, ast.Call) and _call_name(node) == "range":
        for arg in node.args:
            for new in shifted(arg):
                yield [(arg, new)], "range: "
    if isinstance(node, ast.Slice):
        for bound in (node.lower, node.upper):
            if bound is not None:
                for new in shifted(bound):
                    yield [(bound, new)], "slice: "
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in ctx.counters:
        parent = ctx.parents.get(id(node))
        in_range = isinstance(parent, ast.Call) and _call_name(parent) == "range" and node in parent.args
        if not in_range and not (isinstance(parent, ast.Call) and parent.func is node):
            for new in shifted(node):
                yield [(node, new)], "counter: "


def dropped_term(node, ctx):
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        yield [(node, node.left)], ""
        yield [(node, node.right)], ""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
        yield [(node, node.left)], ""
        yield [(node, ast.UnaryOp(op=ast.USub(), operand=node.right))], ""


def dropped_factor(node, ctx):
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        yield [(node, node.left)], ""
        yield [(node, node.right)], ""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Pow)):
        yield [(node, node.left)], ""


def accumulate_vs_assign(node, ctx):
    if isinstance(node, ast.AugAssign):
        yield [(node, ast.Assign(targets=[node.target], value=node.value, type_comment=None))], ""
    if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in _bound_before(node, ctx) and not _is_conversion_of(node.value, node.targets[0].id)):
        yield [(node, ast.AugAssign(target=node.targets[0], op=ast.Add(), value=node.value))], ""


def sqrt_dropped(node, ctx):
    if isinstance(node, ast.Call) and _call_name(node) == "sqrt" and len(node.args) == 1 and not node.keywords:
        yield [(node, node.args[0])], ""
    if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and isinstance(node.right, ast.Constant)
            and node.right.value == 0.5):
        yield [(node, node.left)], ""


def term_outside_call(node, ctx):
    if (isinstance(node, ast.Call) and _call_name(node) in _UNARY_NUMERIC_CALLS and len(node.args) == 1
            and isinstance(node.args[0], ast.BinOp) and isinstance(node.args[0].op, (ast.Add, ast.Sub))):
        inner = node.args[0]
        yield [(node, _binop(ast.Call(func=node.func, args=[inner.left], keywords=node.keywords), inner.op,
                             inner.right))], ""


def constant(node, ctx):
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = node.value
        kind = type(value)
        targets = [1] if value == 0 else [0, 2] if value == 1 else [1]
        for target in targets:
            yield [(node, _one(kind(target)))], ""


def comparison(node, ctx):
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        swap = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}.get(type(node.ops[0]))
        if swap:
            yield [(node, ast.Compare(left=node.left, ops=[swap()], comparators=node.comparators))], ""


def axis(node, ctx):
    if isinstance(node, ast.Call):
        for number, keyword in enumerate(node.keywords):
            if keyword.arg != "axis":
                continue
            others = [k for k in node.keywords if k is not keyword]
            yield [(node, ast.Call(func=node.func, args=node.args, keywords=others))], ""
            if isinstance(keyword.value, ast.Constant) and keyword.value.value in (0, 1):
                changed = list(node.keywords)
                changed[number] = ast.keyword(arg="axis", value=_one(1 - keyword.value.value))
                yield [(node, ast.Call(func=node.func, args=node.args, keywords=changed))], ""
    if isinstance(node, ast.Attribute) and node.attr == "T" and isinstance(node.ctx, ast.Load):
        yield [(node, node.value)], ""


def mean_sum(node, ctx):
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("sum", "mean"):
        other = "mean" if node.func.attr == "sum" else "sum"
        func = ast.Attribute(value=node.func.value, attr=other, ctx=ast.Load())
        yield [(node, ast.Call(func=func, args=node.args, keywords=node.keywords))], ""


def array_split(node, ctx):
    """[seq[s : s + size] for s in range(0, n, size)] -> near-equal batches, or full batches only."""
    if not (isinstance(node, ast.ListComp) and len(node.generators) == 1):
        return
    loop = node.generators[0]
    element = node.elt
    if not (isinstance(loop.target, ast.Name) and not loop.ifs and isinstance(loop.iter, ast.Call)
            and _call_name(loop.iter) == "range" and len(loop.iter.args) == 3
            and isinstance(element, ast.Subscript) and isinstance(element.slice, ast.Slice)):
        return
    start, n, size = loop.iter.args
    bounds = element.slice
    var = loop.target.id
    if not (isinstance(start, ast.Constant) and start.value == 0 and isinstance(bounds.lower, ast.Name)
            and bounds.lower.id == var and bounds.step is None and isinstance(bounds.upper, ast.BinOp)
            and isinstance(bounds.upper.op, ast.Add) and isinstance(bounds.upper.left, ast.Name)
            and bounds.upper.left.id == var and ast.dump(bounds.upper.right) == ast.dump(size)):
        return
    if ctx.numpy:
        count = ast.UnaryOp(op=ast.USub(), operand=_binop(ast.UnaryOp(op=ast.USub(), operand=n), ast.FloorDiv(), size))
        split = ast.Call(func=ast.Attribute(value=ast.Name(id=ctx.numpy, ctx=ast.Load()), attr="array_split",
                                            ctx=ast.Load()), args=[element.value, count], keywords=[])
        yield [(node, ast.Call(func=ast.Name(id="list", ctx=ast.Load()), args=[split], keywords=[]))], "near-equal batches: "
    full_only = _binop(n, ast.Sub(), _binop(n, ast.Mod(), size))
    yield [(n, full_only)], "the last partial batch dropped: "


def swapped_statements(node, ctx):
    for field in ("body", "orelse"):
        block = getattr(node, field, None)
        if not isinstance(block, list):
            continue
        for first, second in zip(block, block[1:]):
            if (isinstance(first, _SIMPLE_STATEMENTS) and isinstance(second, _SIMPLE_STATEMENTS)
                    and not _is_docstring(first) and ast.dump(first) != ast.dump(second)):
                yield [(first, second), (second, first)], ""


def dropped_statement(node, ctx):
    if isinstance(node, ast.AugAssign):
        yield [(node, ast.Pass())], ""


_OPERATOR_FUNCTIONS: dict[str, Callable] = {
    "flipped_sign": flipped_sign, "swapped_operator": swapped_operator, "floor_division": floor_division,
    "swapped_operands": swapped_operands, "swapped_arguments": swapped_arguments, "off_by_one": off_by_one,
    "dropped_term": dropped_term, "dropped_factor": dropped_factor, "accumulate_vs_assign": accumulate_vs_assign,
    "sqrt_dropped": sqrt_dropped, "term_outside_call": term_outside_call, "constant": constant,
    "comparison": comparison, "axis": axis, "mean_sum": mean_sum, "array_split": array_split,
    "swapped_statements": swapped_statements, "dropped_statement": dropped_statement,
}
assert set(_OPERATOR_FUNCTIONS) == set(OPERATORS)


# --- helpers --------------------------------------------------------------------------------

def _call_name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) and isinstance(
        statement.value.value, str)


def _is_conversion_of(value: ast.AST, name: str) -> bool:
    """`x = np.asarray(x, ...)`, `x = float(x)`: a conversion, where += is no plausible mistake."""
    return (isinstance(value, ast.Call) and bool(value.args) and isinstance(value.args[0], ast.Name)
            and value.args[0].id == name)


def _bound_before(node: ast.Assign, ctx: _Context) -> set[str]:
    function = ctx.function
    names = {a.arg for a in function.args.args + function.args.kwonlyargs}
    for other in ast.walk(function):
        if isinstance(other, (ast.Assign, ast.AugAssign)) and other.lineno < node.lineno:
            for target in (other.targets if isinstance(other, ast.Assign) else [other.target]):
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        if isinstance(other, ast.For) and other.lineno < node.lineno:
            names.update(n.id for n in ast.walk(other.target) if isinstance(n, ast.Name))
    return names


def _counters(function: ast.FunctionDef) -> frozenset[str]:
    names = {a.arg for a in function.args.args if a.arg in COUNTER_PARAMETERS}
    for node in ast.walk(function):
        if isinstance(node, ast.For) and isinstance(node.iter, ast.Call) and _call_name(node.iter) == "range":
            names.update(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
        if (isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and isinstance(node.value, ast.Constant)
                and node.value.value == 1):
            names.add(node.target.id)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and isinstance(node.right, ast.Name):
            names.add(node.right.id)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.FloorDiv, ast.Mod)):
            names.update(side.id for side in (node.left, node.right) if isinstance(side, ast.Name))
    return frozenset(names)


def _numpy_name(tree: ast.Module) -> str | None:
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "numpy":
                    return alias.asname or "numpy"
    return None


def _parents(function: ast.FunctionDef) -> dict[int, ast.AST]:
    parents: dict[int, ast.AST] = {}
    for node in ast.walk(function):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    return parents


# --- applying an edit -----------------------------------------------------------------------

def _apply_text(lines: list[bytes], edits: list[Edit], parenthesise: bool) -> str:
    """The module text with each edit's node replaced by its replacement's source."""
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    text = b"".join(lines)
    spans = []
    for target, replacement in edits:
        start = starts[target.lineno - 1] + target.col_offset
        end = starts[target.end_lineno - 1] + target.end_col_offset
        new = _unparse(replacement, target)
        if parenthesise and isinstance(replacement, ast.expr) and not isinstance(
                replacement, (ast.Name, ast.Constant, ast.Call, ast.Attribute, ast.Subscript)):
            new = f"({new})"
        spans.append((start, end, new.encode()))
    for start, end, new in sorted(spans, reverse=True):
        text = text[:start] + new + text[end:]
    return text.decode("utf-8")


def _expected_function(function: ast.FunctionDef, edits: list[Edit]) -> ast.FunctionDef:
    """The function's AST with the edits applied (what the mutant's text must parse to)."""
    originals = list(ast.walk(function))
    index = {id(node): number for number, node in enumerate(originals)}
    mutated = copy.deepcopy(function)
    copies = list(ast.walk(mutated))
    parents = {}
    for node in copies:
        for field, value in ast.iter_fields(node):
            if isinstance(value, ast.AST):
                parents[id(value)] = (node, field, None)
            elif isinstance(value, list):
                for position, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        parents[id(item)] = (node, field, position)
    for target, replacement in edits:
        node = copies[index[id(target)]]
        parent, field, position = parents[id(node)]
        new = copy.deepcopy(replacement)
        if position is None:
            setattr(parent, field, new)
        else:
            getattr(parent, field)[position] = new
    return mutated


def _render(source_lines: list[bytes], function: ast.FunctionDef, edits: list[Edit]) -> tuple[str, str] | None:
    """(module text, dump of the mutated function), or None if no text parses to the edit."""
    expected = ast.dump(_expected_function(function, edits))
    for parenthesise in (False, True):
        text = _apply_text(source_lines, edits, parenthesise)
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        found = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function.name), None)
        if found is not None and ast.dump(found) == expected:
            return text, expected
    return None


def _unparse(replacement: ast.AST, target: ast.AST) -> str:
    """Source of a replacement node (a copy gets the target's position: unparse wants one)."""
    return ast.unparse(ast.fix_missing_locations(ast.copy_location(copy.deepcopy(replacement), target)))


def _describe(edits: list[Edit], prefix: str) -> str:
    target, replacement = edits[0]
    old, new = ast.unparse(target), _unparse(replacement, target)
    if isinstance(target, ast.stmt) and len(edits) == 2:
        return f"{prefix}swapped `{_short(old)}` and `{_short(new)}`"
    return f"{prefix}`{_short(old)}` -> `{_short(new)}`"


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- the generator --------------------------------------------------------------------------

def generate_mutants(source: str, functions: list[str], operators: list[str] | None = None,
                     origin: str = "<reference>") -> list[GeneratedMutant]:
    """Every first-order mutant of `functions` (top-level functions of `source`), edits
    confined to their solution blocks, in function then code order. Raises MutationError for
    a function the module does not define with a solution block."""
    tree = ast.parse(source, filename=origin)
    try:
        blocks = solution_blocks(source, origin)
    except ValueError as exc:
        raise MutationError(str(exc)) from None
    defined = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    chosen = [_OPERATOR_FUNCTIONS[name] for name in (operators or OPERATORS)]
    lines = source.encode("utf-8").splitlines(keepends=True)
    numpy = _numpy_name(tree)
    mutants: list[GeneratedMutant] = []
    seen: set[str] = {ast.dump(node) for node in defined.values()}
    for name in functions:
        function = defined.get(name)
        if function is None:
            raise MutationError(f"{origin}: no top-level function {name!r}")
        inside = [(b, e) for b, e in blocks if function.lineno <= b <= function.end_lineno]
        if not inside:
            raise MutationError(f"{origin}: {name} has no # BEGIN SOLUTION block")
        ctx = _Context(function=function, counters=_counters(function), numpy=numpy, parents=_parents(function))

        def within(node: ast.AST) -> bool:
            return any(b < node.lineno and node.end_lineno < e for b, e in inside)

        counts: dict[str, int] = {}
        nodes = sorted((n for n in ast.walk(function) if hasattr(n, "lineno")), key=lambda n: (n.lineno, n.col_offset))
        for operator, operate in zip(operators or OPERATORS, chosen):
            for node in nodes:
                for edits, prefix in operate(node, ctx):
                    if not all(hasattr(t, "lineno") and within(t) for t, _ in edits):
                        continue
                    rendered = _render(lines, function, edits)
                    if rendered is None or rendered[1] in seen:
                        continue
                    seen.add(rendered[1])
                    counts[operator] = counts.get(operator, 0) + 1
                    mutants.append(GeneratedMutant(
                        key=f"{name}.{operator}.{counts[operator]}", function=name, operator=operator,
                        description=_describe(edits, prefix), line=edits[0][0].lineno, source=rendered[0],
                        mistaken=_short(_unparse(edits[0][1], edits[0][0]))))
    return mutants


def spread(mutants: list[GeneratedMutant], limit: int | None) -> list[GeneratedMutant]:
    """At most `limit` mutants, taken round-robin over functions and, within a function, over
    operators, so that a small sample still covers every function and operator; all of them
    when `limit` is None."""
    if limit is None or limit >= len(mutants):
        return list(mutants)
    per_function: dict[str, dict[str, list[GeneratedMutant]]] = {}
    for mutant in mutants:
        per_function.setdefault(mutant.function, {}).setdefault(mutant.operator, []).append(mutant)
    queues = [_round_robin(list(groups.values())) for groups in per_function.values()]
    chosen = _round_robin(queues)[:limit]
    order = {id(m): n for n, m in enumerate(mutants)}
    return sorted(chosen, key=lambda m: order[id(m)])


def _round_robin(queues: list[list]) -> list:
    """The first item of each queue, then the second of each, and so on."""
    return [queue[n] for n in range(max(map(len, queues), default=0)) for queue in queues if n < len(queue)]
