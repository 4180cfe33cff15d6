"""Wire format between the trusted grader and the untrusted worker.

This module is imported on BOTH sides: by :mod:`grader.sandbox` in the trusted process and,
as a plain file copied next to the programs of ``grader/sandbox/inside/``, inside the sandbox.  It therefore imports only
the standard library and NumPy, and never the ``grader`` package.

Framing
    A frame is a 4-byte big-endian length followed by that many payload bytes.  Frames
    larger than :data:`MAX_FRAME` are refused.  Short reads (the other end died) raise
    :class:`ChannelClosed`; anything malformed raises :class:`ProtocolError`; running out
    of time raises :class:`FrameTimeout`.

Payload
    ``b"GRM1"``, a 4-byte big-endian header length, a UTF-8 JSON header ``{"meta": {...},
    "arrays": [[name, dtype.str, shape, nbytes], ...]}``, then the arrays' raw C-order bytes
    in that order.  Only numeric dtypes travel (kinds b, i, u, f, c; no object, structured
    or sub-array dtypes).  Reading never unpickles and never evaluates text: it refuses any
    other dtype, and any header whose shapes, dtypes and sizes do not add up to exactly the
    bytes that follow.  (Far cheaper than ``.npz``: no zip directory, no ``.npy`` header
    parsed with ``ast.literal_eval``.)

Values (:func:`encode_value` / :func:`decode_value`)
    ======================  ===============================================================
    Python value            JSON
    ======================  ===============================================================
    ``None``                ``{"kind": "none"}``
    ``str`` (exact type)    ``{"kind": "str", "value": "..."}`` (up to MAX_STR_CHARS)
    bool/int/float/complex  ``{"kind": "array", "ref": "a0", "pytype": "float"}`` (0-d)
    NumPy scalar            ``{"kind": "array", "ref": "a1", "pytype": "numpy.float64"}``
    numeric ``ndarray``     ``{"kind": "array", "ref": "a2", "pytype": "ndarray"}``
    ndarray subclass        same, with the subclass name as pytype (e.g. ``"matrix"``);
                            only the base array data travels
    tuple / list            ``{"kind": "tuple"|"list", "items": [...]}`` (+ ``"pytype"``
                            for subclasses such as namedtuples)
    dict with str keys      ``{"kind": "dict", "items": {key: ...}}``
    anything else           ``{"kind": "other", "pytype": "generator", "repr": "..."}``
    ======================  ===============================================================

    "Anything else" includes object/string/datetime arrays, subclasses of int/float,
    dicts with non-string keys, ints too large for int64, generators (never iterated),
    objects with ``__array__``, values nested deeper than :data:`MAX_DEPTH`, and arrays or
    items beyond the :data:`MAX_VALUE_BYTES` / :data:`MAX_ARRAYS` / :data:`MAX_NODES` budgets.  The encoder never calls a student object's
    own ``__eq__``, ``__len__``, ``__iter__``, ``__array__`` or ``__bool__``: containers are
    read through the builtin base-class methods, and the only student method ever called
    is ``__repr__`` (guarded and truncated to :data:`REPR_CHARS` characters).
    :func:`encode_value` never raises.

    :func:`decode_value` returns ``None``, strings, tuples, lists, dicts, :class:`Opaque` and, for
    arrays, :class:`TypedArray`: an ``ndarray`` subclass whose ``.pytype`` says what the
    worker saw (``"float"`` for a Python float, ``"numpy.float64"`` for ``np.float64``,
    ``"ndarray"`` for an array, ``"matrix"`` ...).  Scalars come back as 0-d arrays, so
    ``value.ndim == 0`` and ``value.pytype == "float"`` tell "returned a float" from
    "returned a 0-d array".  Only the decoded object itself carries the pytype: anything
    derived from it (slices, arithmetic results) reports ``"ndarray"``.  Use
    :func:`pytype_of` to name the type of any decoded value, e.g. to say "returned a list,
    expected a NumPy array".
"""

from __future__ import annotations

import json
import os
import re
import select
import struct
import time
from dataclasses import dataclass

import numpy as np

#: Largest frame either side accepts (a probe's reply, or a request's kwargs).
MAX_FRAME = 64 << 20
#: Budget of array bytes in one encoded value; arrays beyond it become Opaque.
MAX_VALUE_BYTES = 48 << 20
#: Deepest container nesting that is encoded; deeper values become Opaque.
MAX_DEPTH = 32
#: Most arrays (leaves) in one encoded value; later ones become Opaque.
MAX_ARRAYS = 100_000
#: Most nodes (containers and leaves) in one encoded value; later ones become Opaque.
MAX_NODES = 200_000
#: Longest string that travels as a string; longer ones become Opaque.
MAX_STR_CHARS = 100_000
#: Longest repr kept for an Opaque value.
REPR_CHARS = 200

_HEADER = struct.Struct(">I")
_MAGIC = b"GRM1"
#: dtype.str of a numeric array: byte order, kind (bool, int, uint, float, complex), item size.
_DTYPE_TEXT = re.compile(r"[<>|=][biufc][0-9]{1,2}")
_MAX_NDIM = 64
_NUMERIC_KINDS = frozenset("biufc")
_PY_SCALARS = (bool, int, float, complex)
_NUMPY_SCALARS = frozenset(
    t for t in set(np.sctypeDict.values()) if np.dtype(t).kind in _NUMERIC_KINDS
)


class ProtocolError(Exception):
    """The other side sent something that is not a valid frame or message."""


class ChannelClosed(ProtocolError):
    """The pipe closed before a whole frame arrived (the other side exited or died)."""


class FrameTimeout(TimeoutError):
    """No whole frame arrived (or could be sent) before the deadline."""


class FrameTooLarge(ProtocolError):
    """A frame announced more bytes than the reader accepts.  Only its 4-byte length has been
    read: the caller may :func:`skip_bytes` the ``size`` bytes that follow, or drop the channel."""

    def __init__(self, size: int, limit: int):
        super().__init__(f"frame of {size} bytes exceeds the limit of {limit}")
        self.size = size
        self.limit = limit


@dataclass(frozen=True)
class Opaque:
    """A returned value that cannot travel as data: its type name and a truncated repr."""

    pytype: str
    repr: str

    def __str__(self) -> str:
        return self.repr


class TypedArray(np.ndarray):
    """A decoded array that remembers the Python type the worker saw (``.pytype``)."""

    pytype: str = "ndarray"

    def __array_finalize__(self, obj):
        # Views and results derived from a decoded value are plain arrays again.
        self.pytype = "ndarray"

    def __repr__(self) -> str:
        return repr(self.view(np.ndarray))

    def __str__(self) -> str:
        return str(self.view(np.ndarray))


#: Characters that would act on a terminal or reorder text instead of showing: C0/C1
#: controls but newline and tab, DEL, and the Unicode bidi and zero-width format characters.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def printable(text: str) -> str:
    """``text`` with every control or bidi character written as an escape (``\\x1b``), so
    that student-controlled text (messages, printed output, reprs) shows as text in a
    terminal or report and cannot move the cursor, rewrite lines or reorder characters."""
    return _UNPRINTABLE.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def pytype_of(value) -> str:
    """Name of the type a decoded (or any plain) value had in the process that produced it."""
    if isinstance(value, (TypedArray, Opaque)):
        return value.pytype
    if value is None:
        return "None"
    return type(value).__name__


# --------------------------------------------------------------------------- values


def _safe_type_name(obj) -> str:
    try:
        name = type(obj).__name__
    except BaseException:  # a metaclass may make even this hostile
        return "?"
    return name[:100] if type(name) is str else "?"


def _safe_repr(obj) -> str:
    try:
        text = repr(obj)
    except BaseException as exc:  # student __repr__ may raise anything, even SystemExit
        return f"<{_safe_type_name(obj)} object; repr() raised {_safe_type_name(exc)}>"
    if type(text) is not str:
        return f"<{_safe_type_name(obj)} object>"
    if len(text) > REPR_CHARS:
        text = text[: REPR_CHARS - 3] + "..."
    return text


class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.nbytes = 0
        self.nodes = 0

    def other(self, obj, pytype: str | None = None, note: str | None = None) -> dict:
        return {
            "kind": "other",
            "pytype": pytype or _safe_type_name(obj),
            "repr": note if note is not None else _safe_repr(obj),
        }

    def array(self, arr: np.ndarray, pytype: str, obj) -> dict:
        if arr.dtype.kind not in _NUMERIC_KINDS or arr.dtype.fields is not None:
            return self.other(obj, pytype)
        if len(self.arrays) >= MAX_ARRAYS:
            return self.other(obj, pytype, f"<{pytype} not transferred: too many arrays>")
        if self.nbytes + arr.nbytes > MAX_VALUE_BYTES:
            return self.other(
                obj,
                pytype,
                f"<{pytype} of shape {arr.shape} and dtype {arr.dtype}: too large to transfer>",
            )
        ref = f"a{len(self.arrays)}"
        self.arrays[ref] = np.array(arr, copy=True)
        self.nbytes += arr.nbytes
        return {"kind": "array", "ref": ref, "pytype": pytype}

    def encode(self, obj, depth: int) -> dict:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            return {"kind": "other", "pytype": _safe_type_name(obj), "repr": "<too many items>"}
        if obj is None:
            return {"kind": "none"}
        cls = type(obj)
        if cls is str:
            if len(obj) > MAX_STR_CHARS:
                return self.other(obj, "str", f"<str of {len(obj)} characters>")
            return {"kind": "str", "value": obj}
        if cls in _PY_SCALARS:
            try:
                arr = np.asarray(obj)  # exact builtin types: no student code runs
            except (OverflowError, ValueError):
                return self.other(obj, cls.__name__, "<int too large for int64>")
            if arr.dtype.kind == "O":
                return self.other(obj, cls.__name__, "<int too large for int64>")
            return self.array(arr, cls.__name__, obj)
        if cls in _NUMPY_SCALARS:
            # Qualified: numpy.bool and Python bool must stay distinguishable.
            return self.array(np.asarray(obj), f"numpy.{cls.__name__}", obj)
        # issubclass on type(obj), never isinstance: isinstance trusts a forged __class__.
        if issubclass(cls, np.ndarray):
            # The base class's view: no subclass __array__/__array_finalize__/properties.
            return self.array(np.ndarray.view(obj, np.ndarray), _safe_type_name(obj), obj)
        if depth >= MAX_DEPTH:
            return self.other(obj, None, f"<{_safe_type_name(obj)} nested too deeply>")
        if issubclass(cls, (tuple, list)):
            base = tuple if issubclass(cls, tuple) else list
            items = [self.encode(item, depth + 1) for item in base.__iter__(obj)]
            out = {"kind": base.__name__, "items": items}
            if cls is not base:
                out["pytype"] = _safe_type_name(obj)
            return out
        if issubclass(cls, dict):
            pairs = list(dict.items(obj))
            if not all(type(key) is str for key, _ in pairs):
                return self.other(obj)
            out = {"kind": "dict", "items": {key: self.encode(v, depth + 1) for key, v in pairs}}
            if cls is not dict:
                out["pytype"] = _safe_type_name(obj)
            return out
        return self.other(obj)


def encode_value(obj) -> tuple[dict, dict[str, np.ndarray]]:
    """Encode ``obj`` as ``(json_obj, arrays)``; see the module docstring.  Never raises."""
    encoder = _Encoder()
    try:
        return encoder.encode(obj, 0), encoder.arrays
    except BaseException as exc:  # e.g. MemoryError, or a container mutated mid-encoding
        note = f"<{_safe_type_name(obj)} could not be encoded: {_safe_type_name(exc)}>"
        return {"kind": "other", "pytype": _safe_type_name(obj), "repr": note}, {}


def _native_array(arr: np.ndarray, pytype: str):
    """The value as the producing side had it, where that can be rebuilt from data alone."""
    if pytype in ("bool", "int", "float", "complex") and arr.ndim == 0:
        return arr.item()
    if pytype.startswith("numpy.") and arr.ndim == 0:
        return arr[()]
    return arr


def decode_value(json_obj, arrays: dict[str, np.ndarray], *, native: bool = False, _depth: int = 0):
    """Inverse of :func:`encode_value`; raises :class:`ProtocolError` on malformed input.

    By default arrays decode to :class:`TypedArray` (see the module docstring).  With
    ``native=True`` they decode to what the producer passed where data suffices: Python
    scalars, NumPy scalars and plain ndarrays (ndarray subclasses lose their class).  The
    worker decodes probe kwargs this way, so probes see the same types as on the trusted side.
    """
    if _depth > MAX_DEPTH + 1:
        raise ProtocolError("value nested too deeply")
    if type(json_obj) is not dict:
        raise ProtocolError("encoded value is not an object")
    kind = json_obj.get("kind")
    try:
        if kind == "none":
            return None
        if kind == "str":
            value = json_obj["value"]
            if type(value) is not str:
                raise ProtocolError("str value is not a string")
            return value
        if kind == "array":
            arr = np.asarray(arrays[json_obj["ref"]])
            pytype = str(json_obj.get("pytype", "ndarray"))
            if native:
                return _native_array(arr, pytype)
            typed = arr.view(TypedArray)
            typed.pytype = pytype
            return typed
        if kind in ("tuple", "list"):
            items = json_obj["items"]
            if type(items) is not list:
                raise ProtocolError(f"{kind} items are not a list")
            decoded = [decode_value(i, arrays, native=native, _depth=_depth + 1) for i in items]
            return tuple(decoded) if kind == "tuple" else decoded
        if kind == "dict":
            items = json_obj["items"]
            if type(items) is not dict:
                raise ProtocolError("dict items are not an object")
            return {
                str(key): decode_value(value, arrays, native=native, _depth=_depth + 1)
                for key, value in items.items()
            }
        if kind == "other":
            return Opaque(printable(str(json_obj.get("pytype", "?"))), printable(str(json_obj.get("repr", ""))))
    except (KeyError, TypeError) as exc:
        raise ProtocolError(f"malformed {kind} value: {exc!r}") from None
    raise ProtocolError(f"unknown value kind {kind!r}")


def roundtrip(obj):
    """``decode_value(*encode_value(obj))``: a trusted value exactly as a worker's would arrive,
    so a reference result and a student result can be compared like for like."""
    return decode_value(*encode_value(obj))


# --------------------------------------------------------------------------- messages


def pack_message(meta: dict, arrays: dict[str, np.ndarray] | None = None) -> bytes:
    """Serialise a JSON-able ``meta`` dict and named numeric arrays into one payload (see
    the module docstring).  Raises ``ValueError`` for a non-numeric array."""
    arrays = arrays or {}
    entries, blobs = [], []
    for name, value in arrays.items():
        arr = np.asarray(value)
        if arr.dtype.kind not in _NUMERIC_KINDS or arr.dtype.fields is not None or arr.dtype.subdtype:
            raise ValueError(f"array {name!r} has a non-numeric dtype {arr.dtype}")
        blob = arr.tobytes()  # C order, whatever the array's layout
        entries.append([str(name), arr.dtype.str, list(arr.shape), len(blob)])
        blobs.append(blob)
    header = json.dumps({"meta": meta, "arrays": entries}, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return b"".join([_MAGIC, _HEADER.pack(len(header)), header, *blobs])


def _array_entry(entry) -> tuple[str, np.dtype, tuple[int, ...], int]:
    """A validated ``[name, dtype, shape, nbytes]`` header entry."""
    if type(entry) is not list or len(entry) != 4:
        raise ProtocolError("bad array entry")
    name, dtype_text, shape, nbytes = entry
    if type(name) is not str or type(dtype_text) is not str or not _DTYPE_TEXT.fullmatch(dtype_text):
        raise ProtocolError(f"array entry with a bad name or dtype {str(dtype_text)[:40]!r}")
    dtype = np.dtype(dtype_text)
    if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject or dtype.fields is not None:
        raise ProtocolError(f"array {name[:40]!r} has a non-numeric dtype {dtype}")
    if type(shape) is not list or len(shape) > _MAX_NDIM or not all(type(d) is int and d >= 0 for d in shape):
        raise ProtocolError(f"array {name[:40]!r} has a bad shape")
    if type(nbytes) is not int or nbytes < 0:
        raise ProtocolError(f"array {name[:40]!r} has a bad size")
    count = 1
    for dim in shape:
        count *= dim
    if count * dtype.itemsize != nbytes:
        raise ProtocolError(f"array {name[:40]!r}: its shape and dtype disagree with its size")
    return name, dtype, tuple(shape), nbytes


def unpack_message(payload: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Inverse of :func:`pack_message`; raises :class:`ProtocolError` on anything malformed.
    Never unpickles: arrays are numeric data copied out of the payload."""
    try:
        if len(payload) < len(_MAGIC) + _HEADER.size or payload[: len(_MAGIC)] != _MAGIC:
            raise ProtocolError("not a grader message (bad magic)")
        (header_size,) = _HEADER.unpack_from(payload, len(_MAGIC))
        start = len(_MAGIC) + _HEADER.size
        if header_size > len(payload) - start:
            raise ProtocolError("message header larger than the payload")
        header = json.loads(payload[start : start + header_size].decode("utf-8"))
        if type(header) is not dict or type(header.get("arrays")) is not list:
            raise ProtocolError("message header is not a JSON object with an array list")
        meta = header.get("meta")
        if type(meta) is not dict:
            raise ProtocolError("message is not a JSON object")
        if len(header["arrays"]) > MAX_ARRAYS:
            raise ProtocolError("too many arrays in payload")
        entries = [_array_entry(entry) for entry in header["arrays"]]
        offset = start + header_size
        if sum(entry[3] for entry in entries) != len(payload) - offset:
            raise ProtocolError("arrays claim more or less data than the payload holds")
        arrays: dict[str, np.ndarray] = {}
        for name, dtype, shape, nbytes in entries:
            if name in arrays:
                raise ProtocolError(f"array {name[:40]!r} appears twice")
            count = nbytes // dtype.itemsize
            flat = np.frombuffer(payload, dtype=dtype, count=count, offset=offset) if count else np.empty(0, dtype)
            arrays[name] = flat.reshape(shape).copy()
            offset += nbytes
    except ProtocolError:
        raise
    except (Exception, RecursionError) as exc:  # json/numpy raise many types
        raise ProtocolError(f"unreadable payload ({type(exc).__name__}: {exc})"[:300]) from None
    return meta, arrays


def unpack_meta(payload: bytes) -> dict:
    """The JSON ``meta`` of a payload, without reading its arrays (cheap whatever their size);
    raises :class:`ProtocolError` if the header is malformed."""
    try:
        if len(payload) < len(_MAGIC) + _HEADER.size or payload[: len(_MAGIC)] != _MAGIC:
            raise ProtocolError("not a grader message (bad magic)")
        (header_size,) = _HEADER.unpack_from(payload, len(_MAGIC))
        start = len(_MAGIC) + _HEADER.size
        header = json.loads(payload[start : start + header_size].decode("utf-8"))
    except ProtocolError:
        raise
    except (Exception, RecursionError) as exc:
        raise ProtocolError(f"unreadable payload ({type(exc).__name__})") from None
    meta = header.get("meta") if type(header) is dict else None
    if type(meta) is not dict:
        raise ProtocolError("message is not a JSON object")
    return meta


# --------------------------------------------------------------------------- frames


def _wait(fd: int, events: int, deadline: float | None) -> None:
    if deadline is None:
        return
    poller = select.poll()
    poller.register(fd, events)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FrameTimeout("timed out")
        try:
            if poller.poll(remaining * 1000.0):
                return
        except InterruptedError:
            continue


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    chunks = []
    while size:
        _wait(fd, select.POLLIN, deadline)
        try:
            chunk = os.read(fd, min(size, 1 << 20))
        except BlockingIOError:
            continue
        if not chunk:
            raise ChannelClosed("the other side closed the channel")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None, max_size: int = MAX_FRAME) -> bytes:
    """Read one frame from ``fd``.  ``deadline`` is a ``time.monotonic()`` instant; with a
    deadline the fd should be non-blocking.  A frame longer than ``max_size`` is refused
    before any of its payload is read (FrameTooLarge).  Raises ChannelClosed, ProtocolError,
    FrameTimeout."""
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    if size > max_size:
        raise FrameTooLarge(size, max_size)
    return _read_exact(fd, size, deadline)


def skip_bytes(fd: int, size: int, deadline: float | None = None) -> None:
    """Read and discard ``size`` bytes (the payload of a refused frame), a chunk at a time, so
    that the channel can go on without ever holding the payload.  Raises ChannelClosed,
    FrameTimeout."""
    while size:
        _wait(fd, select.POLLIN, deadline)
        try:
            chunk = os.read(fd, min(size, 1 << 20))
        except BlockingIOError:
            continue
        if not chunk:
            raise ChannelClosed("the other side closed the channel")
        size -= len(chunk)


def value_bytes(value, _depth: int = 0) -> int:
    """About how many bytes a decoded value takes on the wire (array data, strings, a little
    per item), to compare a student's answer with the reference's.  Never raises; cheap on
    the small answers probes return."""
    if isinstance(value, np.ndarray):
        return value.nbytes + 64
    if isinstance(value, str):
        return len(value) + 16
    if isinstance(value, Opaque):
        return len(value.repr) + len(value.pytype) + 32
    if _depth > MAX_DEPTH:
        return 16
    if isinstance(value, (list, tuple)):
        return 16 + sum(value_bytes(item, _depth + 1) for item in value)
    if isinstance(value, dict):
        return 16 + sum(len(str(key)) + value_bytes(item, _depth + 1) for key, item in value.items())
    return 16


def write_frame(fd: int, payload: bytes, deadline: float | None = None) -> None:
    """Write one frame to ``fd``; raises ChannelClosed if the reader is gone."""
    if len(payload) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(payload)} bytes exceeds the limit of {MAX_FRAME}")
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:
        _wait(fd, select.POLLOUT, deadline)
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            raise ChannelClosed("the other side closed the channel") from None
        view = view[written:]


def send_message(fd: int, meta: dict, arrays=None, deadline: float | None = None) -> None:
    """Pack and write one message."""
    write_frame(fd, pack_message(meta, arrays), deadline)


def recv_message(fd: int, deadline: float | None = None, max_size: int = MAX_FRAME):
    """Read and unpack one message: ``(meta, arrays)``."""
    return unpack_message(read_frame(fd, deadline, max_size))
