"""Comparisons for checks, in the student's terms (after PrairieLearn's code_feedback):
a returned value is examined in a fixed order (None, not an array, shape, dtype, values)
and the first problem becomes the message, naming the variable, the inputs, what was
expected and what came back.

Every comparison notes its tolerance on the running check (`TOLERANCES`), so diagnosis can
later compare mutants with the student's behaviour within the check's own tolerance.
"""
from __future__ import annotations

import contextvars
from typing import Any, Mapping

import numpy as np

#: list of (rtol, atol) of the comparisons made by the check that is running, or None.
TOLERANCES: contextvars.ContextVar[list | None] = contextvars.ContextVar("grader_tolerances", default=None)


class CheckFailure(AssertionError):
    """A check's verdict that the student's answer is wrong; str() is the feedback."""


def _note_tolerance(rtol: float, atol: float) -> None:
    noted = TOLERANCES.get()
    if noted is not None:
        noted.append((float(rtol), float(atol)))


#: Arrays longer than this are summarised (their first and last rows) in feedback.
SHOW_LIMIT = 12
#: A multi-line value whose rows would run past this column (after its label) starts on the
#: line below its label instead (feedback is read in 100-column terminals, indented).
MAX_LABELLED_WIDTH = 88


def show(value: Any, limit: int = SHOW_LIMIT, precision: int | None = None) -> str:
    """A readable rendering of a value for feedback. Numbers keep the digits needed to redo
    the computation by hand: each float as Python's repr (the shortest text that reads back
    as the same number), or `precision` digits after the point when given. An array of two
    or more dimensions keeps one row per line."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return _number(value.item(), precision)
        mode = {"floatmode": "unique"} if precision is None else {"precision": precision, "floatmode": "maxprec"}
        text = np.array2string(value, threshold=limit, edgeitems=3, separator=", ", max_line_width=10**6, **mode)
        return "\n".join(line for line in text.split("\n") if line.strip())
    if isinstance(value, (list, tuple)) and len(value) > limit:
        inner = ", ".join(show(v, precision=precision) for v in value[:3])
        return f"[{inner}, ... ({len(value)} items)]"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(show(v, precision=precision) for v in value)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    if isinstance(value, float):
        return _number(value, precision)
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _number(value: Any, precision: int | None) -> str:
    if isinstance(value, float) and precision is not None and np.isfinite(value):
        return np.format_float_positional(value, precision=precision, trim="-") if abs(value) < 1e16 else repr(value)
    return repr(value)


def labelled(label: str, text: str) -> str:
    """`label` followed by a value's text; the value's further lines (rows of an array) line
    up under its first, or start on their own lines when the label is long."""
    lines = text.split("\n")
    if len(lines) == 1:
        return label + text
    if len(label) + max(len(line) for line in lines) > MAX_LABELLED_WIDTH:
        indent = " " * (len(label) - len(label.lstrip()) + 4)
        return label.rstrip() + "\n" + "\n".join(indent + line for line in lines)
    pad = " " * len(label)
    return label + lines[0] + "".join("\n" + pad + line for line in lines[1:])


def digits_to_tell_apart(want: np.ndarray, got: np.ndarray, wrong: np.ndarray) -> int:
    """Digits after the point at which the wrong values of `got` visibly differ from `want`
    (at least 6, at most 17): expected and got never look the same in feedback."""
    for digits in range(6, 18):
        if np.any(np.round(want[wrong], digits) != np.round(got[wrong], digits)):
            return digits
    return 17


def type_name(value: Any) -> str:
    pytype = getattr(value, "pytype", None)
    if isinstance(pytype, str):
        return pytype
    if isinstance(value, np.ndarray):
        return "NumPy array"
    return type(value).__name__


def format_inputs(inputs: Mapping[str, Any] | None) -> str:
    if not inputs:
        return ""
    lines = [labelled(f"  {key} = ", show(np.asarray(val) if isinstance(val, (list, tuple)) and val
                                            and all(isinstance(v, (int, float)) for v in val) else val))
             for key, val in inputs.items()]
    return "Inputs:\n" + "\n".join(lines) + "\n"


def _fail(message: str, inputs: Mapping[str, Any] | None) -> None:
    raise CheckFailure(format_inputs(inputs) + message)


def as_numeric_array(got: Any, *, name: str, inputs: Mapping[str, Any] | None = None) -> np.ndarray:
    """`got` as a numeric array, or a CheckFailure saying why it is not one. Lists and tuples
    of numbers are accepted (any correct implementation gets full marks)."""
    if got is None:
        _fail(f"{name} is None: did you forget a `return`?", inputs)
    if isinstance(got, np.ndarray):
        array = got
    elif isinstance(got, (list, tuple)):
        try:
            array = np.asarray([np.asarray(item) for item in got])
        except (ValueError, TypeError):
            _fail(f"{name} is a {type(got).__name__} that is not a rectangular array of numbers: {show(got)}", inputs)
    else:
        _fail(f"{name} is a {type_name(got)}, expected a NumPy array of numbers: {show(got)}", inputs)
    if array.dtype.kind not in "biuf":
        _fail(f"{name} has dtype {array.dtype}, expected real numbers (float64)", inputs)
    return array


def expect_array(got: Any, want: Any, *, name: str, rtol: float = 1e-7, atol: float = 1e-10,
                 inputs: Mapping[str, Any] | None = None) -> np.ndarray:
    """Fail unless `got` is a numeric array of `want`'s shape whose values are close
    (|got - want| <= atol + rtol * |want|, NaN never matches)."""
    _note_tolerance(rtol, atol)
    want = np.asarray(want, dtype=float)
    array = as_numeric_array(got, name=name, inputs=inputs)
    if array.shape != want.shape:
        _fail(f"{name} has shape {array.shape}, expected shape {want.shape}", inputs)
    array = array.astype(float)
    # The common case first, on plain arrays: np.isclose's own test (|got - want| <= atol +
    # rtol * |want|, with want finite), elementwise the same, at a third of its cost.
    plain = array.view(np.ndarray)
    if np.isfinite(want).all() and (np.abs(plain - want) <= atol + rtol * np.abs(want)).all():
        return array
    close = np.isclose(array, want, rtol=rtol, atol=atol)
    if close.all():
        return array
    bad = np.argwhere(~close)
    where = tuple(int(i) for i in bad[0])
    at = f" at index {where}" if where else ""
    detail = f"{int((~close).sum())} of {close.size} values differ" if close.size > 1 else "the value differs"
    if np.isnan(array).any() and not np.isnan(want).any():
        reason = f"{name} contains NaN{at} (overflow or a division by zero?)"
    elif np.isinf(array).any() and not np.isinf(want).any():
        reason = f"{name} contains inf{at} (an overflow?)"
    else:
        # Every digit (repr): the two numbers shown really differ.
        reason = f"{name} is wrong{at}: expected {float(want[where])!r}, got {float(array[where])!r}"
    with np.errstate(invalid="ignore"):
        digits = digits_to_tell_apart(want, array, ~close & np.isfinite(array) & np.isfinite(want))
    _fail(f"{reason}; {detail} (tolerance rtol={rtol:g}, atol={atol:g}).\n"
          + labelled(f"Expected {name} = ", show(want, precision=digits)) + "\n"
          + labelled(f"Got      {name} = ", show(array, precision=digits)), inputs)


def expect_scalar(got: Any, want: float, *, name: str, rtol: float = 1e-7, atol: float = 1e-10,
                  inputs: Mapping[str, Any] | None = None) -> float:
    """Fail unless `got` is one real number close to `want` (a 0-d or size-1 array counts)."""
    array = as_numeric_array(got, name=name, inputs=inputs)
    if array.size != 1:
        _fail(f"{name} has shape {array.shape}, expected a single number", inputs)
    expect_array(array.reshape(()), np.asarray(want), name=name, rtol=rtol, atol=atol, inputs=inputs)
    return float(array.reshape(()))


def expect_tuple(got: Any, length: int, *, name: str, parts: str = "",
                 inputs: Mapping[str, Any] | None = None) -> tuple:
    """Fail unless `got` is a tuple (or list) of `length` items; returns it as a tuple."""
    if not isinstance(got, (tuple, list)) or isinstance(got, np.ndarray):
        what = f" {parts}" if parts else ""
        _fail(f"{name} should return a tuple{what} of {length} values, but returned a {type_name(got)}: {show(got)}", inputs)
    if len(got) != length:
        what = f" {parts}" if parts else ""
        _fail(f"{name} should return {length} values{what}, but returned {len(got)}", inputs)
    return tuple(got)


def expect_true(condition: bool, message: str, inputs: Mapping[str, Any] | None = None) -> None:
    if not condition:
        _fail(message, inputs)


def expect_dict(got: Any, want: Mapping[str, Any], keys, *, name: str, rtol: float = 1e-7, atol: float = 1e-10,
                inputs: Mapping[str, Any] | None = None) -> dict:
    """Fail unless `got` is a dict holding every one of `keys`, each value as `want`'s (as
    `expect_array` compares, the key named in the message); returns it."""
    expect_true(isinstance(got, dict), f"{name} must return a dict with keys {', '.join(keys)}; "
                f"it returned {type_name(got)}", inputs)
    missing = [key for key in keys if key not in got]
    expect_true(not missing, f"{name} returned a dict without the key(s) {', '.join(missing)}", inputs)
    for key in keys:
        expect_array(got[key], want[key], name=f"{name}[{key!r}]", rtol=rtol, atol=atol, inputs=inputs)
    return got

