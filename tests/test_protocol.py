"""Wire format: frames, payloads and the value encoding, including hostile values."""

import io
import json
import os
import struct
import time
from collections import OrderedDict, namedtuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader import protocol
from grader.protocol import (
    ChannelClosed,
    FrameTimeout,
    Opaque,
    ProtocolError,
    TypedArray,
    decode_value,
    encode_value,
    pack_message,
    pytype_of,
    roundtrip,
    unpack_message,
)


def wire(obj):
    """Encode, send through a real payload, decode: what the trusted side would see."""
    value, arrays = encode_value(obj)
    meta, got_arrays = unpack_message(pack_message({"value": value}, arrays))
    return decode_value(meta["value"], got_arrays)


# --------------------------------------------------------------------------- plain values


def test_round_trip_of_every_plain_kind():
    Point = namedtuple("Point", "x y")
    value = {
        "none": None,
        "text": "héllo",
        "float": 1.5,
        "int": -3,
        "bool": True,
        "complex": 1 + 2j,
        "np_float": np.float32(2.5),
        "array": np.arange(6, dtype=np.int16).reshape(2, 3),
        "fortran": np.asfortranarray(np.ones((2, 3))),
        "empty": np.zeros((0, 3)),
        "tuple": (1.0, [2.0, None]),
        "point": Point(1, 2),
        "nested": {"a": {"b": [np.eye(2)]}},
        "ordered": OrderedDict(z=1),
    }
    got = wire(value)
    assert set(got) == set(value)
    assert got["none"] is None and got["text"] == "héllo"
    assert got["float"].pytype == "float" and got["float"].ndim == 0 and got["float"] == 1.5
    assert got["int"].pytype == "int" and got["int"] == -3
    assert got["bool"].pytype == "bool" and got["bool"].dtype == np.bool_
    assert got["complex"] == 1 + 2j
    assert got["np_float"].pytype == "numpy.float32" and got["np_float"].dtype == np.float32
    assert got["array"].pytype == "ndarray" and got["array"].dtype == np.int16
    np.testing.assert_array_equal(got["array"], value["array"])
    np.testing.assert_array_equal(got["fortran"], np.ones((2, 3)))
    assert got["empty"].shape == (0, 3)
    assert type(got["tuple"]) is tuple and type(got["tuple"][1]) is list
    assert got["tuple"][1][1] is None
    assert got["point"] == (1, 2) and type(got["point"]) is tuple
    np.testing.assert_array_equal(got["nested"]["a"]["b"][0], np.eye(2))
    assert got["ordered"] == {"z": 1}


def test_nan_and_inf_travel_as_data():
    got = wire(np.array([np.nan, np.inf, -np.inf]))
    assert np.isnan(got[0]) and got[1] == np.inf and got[2] == -np.inf
    assert np.isnan(wire(float("nan")))


def test_typed_arrays_tell_scalars_lists_and_arrays_apart():
    assert pytype_of(wire(1.0)) == "float"
    assert pytype_of(wire(np.float64(1.0))) == "numpy.float64"
    assert pytype_of(wire(np.array(1.0))) == "ndarray"
    assert pytype_of(wire([1.0, 2.0])) == "list"
    assert pytype_of(wire(None)) == "None"
    derived = wire(1.0) + 1  # arithmetic on a decoded value is a plain array again
    assert pytype_of(derived) == "ndarray"
    assert repr(wire(np.arange(2))) == "array([0, 1])"


def test_native_decoding_restores_python_and_numpy_scalars():
    value, arrays = encode_value({"f": 1.5, "i": 2, "b": False, "n": np.int32(4), "a": np.ones(2)})
    got = decode_value(value, arrays, native=True)
    assert type(got["f"]) is float and type(got["i"]) is int and type(got["b"]) is bool
    assert type(got["n"]) is np.int32
    assert type(got["a"]) is np.ndarray


def test_roundtrip_matches_the_wire():
    value = {"x": [1.0, np.arange(3)]}
    a, b = roundtrip(value), wire(value)
    assert pytype_of(a["x"][0]) == pytype_of(b["x"][0]) == "float"
    np.testing.assert_array_equal(a["x"][1], b["x"][1])


leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | hnp.arrays(
        hnp.scalar_dtypes().filter(lambda d: d.kind in "biufc"),
        hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
    )
)
plain_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4)
    | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _same(a, b):
    if isinstance(a, np.ndarray) or type(a) in (bool, int, float):
        b_array = np.asarray(b)
        a_array = np.asarray(a)
        assert b_array.dtype == a_array.dtype and b_array.shape == a_array.shape
        np.testing.assert_array_equal(b_array, a_array)
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, dict):
        assert set(a) == set(b)
        for key in a:
            _same(a[key], b[key])
    else:
        assert a == b


@settings(max_examples=60, deadline=None)
@given(plain_values)
def test_every_plain_value_survives_the_wire(value):
    _same(value, wire(value))
    value_json, arrays = encode_value(value)
    _same(value, decode_value(value_json, arrays, native=True))


# --------------------------------------------------------------------------- lying values


class AlwaysEqual:
    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


class RaisingArray:
    def __array__(self, *args, **kwargs):
        raise RuntimeError("no")

    def __len__(self):
        raise RuntimeError("no")


class HugeRepr:
    def __repr__(self):
        return "x" * 10_000_000


class RaisingRepr:
    def __repr__(self):
        raise SystemExit("repr exits")


class LyingSubclass(np.ndarray):
    @property
    def shape(self):
        return (1,)

    def __array__(self, *args, **kwargs):
        raise RuntimeError("no")

    def view(self, *args, **kwargs):
        raise RuntimeError("no")


class FakeClass:
    """Claims to be an ndarray through __class__ (isinstance believes it)."""

    @property
    def __class__(self):
        return np.ndarray


class LyingList(list):
    def __iter__(self):
        raise RuntimeError("no")

    def __len__(self):
        return 10**9


class LyingFloat(float):
    def __float__(self):
        raise RuntimeError("no")


def test_lying_objects_become_opaque_without_running_their_methods():
    got = wire(
        {
            "eq": AlwaysEqual(),
            "array": RaisingArray(),
            "huge": HugeRepr(),
            "raising": RaisingRepr(),
            "fake": FakeClass(),
            "float": LyingFloat(2.0),
            "gen": (i for i in range(10**12)),
            "objects": np.array([1, "a"], dtype=object),
            "strings": np.array(["a", "b"]),
            "dates": np.array(["2020-01-01"], dtype="datetime64[D]"),
            "int_keys": {1: 2},
            "big_int": 2**100,
            "bytes": b"abc",
            "func": len,
        }
    )
    for key, value in got.items():
        assert isinstance(value, Opaque), key
    assert got["eq"].pytype == "AlwaysEqual"
    assert got["gen"].pytype == "generator" and got["gen"].repr.startswith("<generator object")
    assert len(got["huge"].repr) <= protocol.REPR_CHARS
    assert "SystemExit" in got["raising"].repr
    assert got["fake"].pytype == "FakeClass"
    assert got["float"].pytype == "LyingFloat"
    assert got["objects"].pytype == "ndarray"
    assert got["int_keys"].pytype == "dict"


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_ndarray_subclass_sends_base_data_and_keeps_its_name():
    base = np.arange(4.0)
    sub = base.view(LyingSubclass)
    got = wire(sub)
    assert got.pytype == "LyingSubclass"
    assert type(got) is TypedArray and got.shape == (4,)
    np.testing.assert_array_equal(got, base)
    matrix = wire(np.matrix([[1, 2]]))
    assert matrix.pytype == "matrix" and matrix.shape == (1, 2)


def test_container_subclasses_are_read_through_the_builtin_methods():
    lying = LyingList([1.0, 2.0])
    got = wire(lying)
    assert type(got) is list and len(got) == 2 and float(got[1]) == 2.0


def test_depth_size_and_count_caps():
    deep = []
    for _ in range(10_000):
        deep = [deep]
    got = wire(deep)
    depth = 0
    while isinstance(got, list):
        got, depth = got[0], depth + 1
    assert isinstance(got, Opaque) and depth <= protocol.MAX_DEPTH + 1

    big = np.zeros(protocol.MAX_VALUE_BYTES // 8 + 1)
    got = wire({"big": big, "small": np.ones(2)})
    assert isinstance(got["big"], Opaque) and "too large" in got["big"].repr
    assert got["small"].shape == (2,)

    many = wire([None] * (protocol.MAX_NODES + 10))
    assert isinstance(many[-1], Opaque)

    long_text = wire("x" * (protocol.MAX_STR_CHARS + 1))
    assert isinstance(long_text, Opaque)


def test_self_referencing_list_terminates():
    loop = []
    loop.append(loop)
    got = wire(loop)
    assert isinstance(got, list)


# --------------------------------------------------------------------------- payloads


def _payload(header, body: bytes = b"") -> bytes:
    """A hand-made message: magic, header length, header JSON (or raw bytes), body."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return b"GRM1" + struct.pack(">I", len(text)) + text + body


def test_garbage_payloads_raise_protocol_error():
    good = pack_message({"a": 1}, {"x": np.ones(3)})
    assert unpack_message(_payload({"meta": {"a": 1}, "arrays": [["x", "<f8", [3], 24]]}, np.ones(3).tobytes()))[0] == {"a": 1}
    with pytest.raises(ProtocolError):
        unpack_message(b"garbage")
    with pytest.raises(ProtocolError):
        unpack_message(good[: len(good) // 2])
    with pytest.raises(ProtocolError, match="magic"):
        unpack_message(b"PK\x03\x04" + good[4:])
    # a .npz (the old format, which could carry pickles) is refused outright
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.frombuffer(b"{}", np.uint8), x=np.array([object()], dtype=object))
    with pytest.raises(ProtocolError):
        unpack_message(buffer.getvalue())
    # object, structured, sub-array and text dtypes are refused, however spelled
    for dtype in ("|O8", "|O", "O", "<U3", "|V8", "[('a', '<f8')]", "(2,)<f8", "<M8[s]", "f8"):
        with pytest.raises(ProtocolError, match="dtype"):
            unpack_message(_payload({"meta": {}, "arrays": [["x", dtype, [1], 8]]}, b"\0" * 8))
    # a header that claims far more data than the payload holds, or less
    with pytest.raises(ProtocolError, match="disagree"):
        unpack_message(_payload({"meta": {}, "arrays": [["x", "<f8", [10**9], 64]]}, b"\0" * 64))
    with pytest.raises(ProtocolError, match="more or less"):
        unpack_message(_payload({"meta": {}, "arrays": [["x", "<f8", [10**9], 8 * 10**9]]}, b"\0" * 64))
    with pytest.raises(ProtocolError, match="more or less"):
        unpack_message(_payload({"meta": {}, "arrays": [["x", "<f8", [1], 8]]}, b"\0" * 9))
    with pytest.raises(ProtocolError, match="header larger"):
        unpack_message(b"GRM1" + struct.pack(">I", 10**6) + b"{}")
    # bad shapes, sizes, names and entries
    for entry in (["x", "<f8", [-1], 8], ["x", "<f8", [True], 8], ["x", "<f8", 1, 8], ["x", "<f8", [1.0], 8],
                  ["x", "<f8", [1] * 65, 8], ["x", "<f8", [1], -8], [1, "<f8", [1], 8], ["x", "<f8", [1]], "x"):
        with pytest.raises(ProtocolError):
            unpack_message(_payload({"meta": {}, "arrays": [entry]}, b"\0" * 8))
    with pytest.raises(ProtocolError, match="twice"):
        unpack_message(_payload({"meta": {}, "arrays": [["x", "|u1", [1], 1]] * 2}, b"\0\0"))
    # meta that is not an object, deep JSON, bad UTF-8, missing meta or array list
    for header in ({"meta": [1], "arrays": []}, b'{"meta":' + b"[" * 100_000, b"\xff",
                   {"arrays": []}, {"meta": {}}, [1]):
        with pytest.raises(ProtocolError):
            unpack_message(_payload(header))


def test_payload_arrays_keep_dtype_shape_and_byte_order_and_own_their_memory():
    arrays = {"f": np.arange(6.0).reshape(2, 3).T, "b": np.array(True), "e": np.zeros((0, 3), ">i4"),
              "c": np.array(1 + 2j, np.complex64), "u": np.arange(5, dtype=np.uint16)[::2]}
    meta, got = unpack_message(pack_message({"k": "v"}, arrays))
    assert meta == {"k": "v"} and set(got) == set(arrays)
    for name, arr in arrays.items():
        assert got[name].dtype == arr.dtype and got[name].shape == arr.shape
        np.testing.assert_array_equal(got[name], arr)
        assert got[name].flags.writeable and got[name].flags.owndata
    with pytest.raises(ValueError):
        pack_message({}, {"x": np.array(["text"])})


def test_malformed_values_raise_protocol_error():
    for bad in ([], {"kind": "array", "ref": "missing"}, {"kind": "list", "items": 3},
                {"kind": "nope"}, {"kind": "dict", "items": []}, {"kind": "str", "value": 1}):
        with pytest.raises(ProtocolError):
            decode_value(bad, {})


# --------------------------------------------------------------------------- frames


def test_frames_over_a_pipe():
    read_fd, write_fd = os.pipe()
    try:
        protocol.send_message(write_fd, {"hello": "world"}, {"x": np.arange(3)})
        meta, arrays = protocol.recv_message(read_fd)
        assert meta == {"hello": "world"} and arrays["x"].tolist() == [0, 1, 2]

        os.write(write_fd, struct.pack(">I", protocol.MAX_FRAME + 1))
        with pytest.raises(ProtocolError, match="exceeds"):
            protocol.read_frame(read_fd)

        os.set_blocking(read_fd, False)
        started = time.monotonic()
        with pytest.raises(FrameTimeout):
            protocol.read_frame(read_fd, deadline=time.monotonic() + 0.2)
        assert time.monotonic() - started < 10  # returned at its deadline, not blocked (wide: a busy machine)

        os.write(write_fd, struct.pack(">I", 100) + b"short")
        os.close(write_fd)
        write_fd = None
        with pytest.raises(ChannelClosed):
            protocol.read_frame(read_fd, deadline=time.monotonic() + 1)
    finally:
        os.close(read_fd)
        if write_fd is not None:
            os.close(write_fd)


def test_write_to_a_closed_pipe_is_channel_closed():
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    try:
        with pytest.raises(ChannelClosed):
            protocol.write_frame(write_fd, b"x")
    finally:
        os.close(write_fd)


def test_student_text_cannot_drive_a_terminal():
    hostile = "a\x1b[2J\x1b[1Ab\rc\x07d\x85e\u202ef\u2066g\x00h\tkept\nkept"
    shown = protocol.printable(hostile)
    assert shown == "a\\x1b[2J\\x1b[1Ab\\rc\\x07d\\x85e\\u202ef\\u2066g\\x00h\tkept\nkept"
    assert protocol.printable("plain text, ünïcode and 😀 stay") == "plain text, ünïcode and 😀 stay"
    opaque = protocol.decode_value({"kind": "other", "pytype": "x\x1b", "repr": "<\x1b[31mred>"}, {})
    assert opaque == protocol.Opaque("x\\x1b", "<\\x1b[31mred>")
