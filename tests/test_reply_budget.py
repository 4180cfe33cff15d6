"""The trusted side's budget: a submission cannot make the grader hold much more than an
honest one does.  Probes patched at import so that every reply carried ~48 MB once made the
trusted process peak at 1.27 GB for one grade (honest: ~50 MB): replies are now bounded per
probe (by the reference's answer) and in total, refused from their length before any
decoding, and large student answers are dropped from the records once compared."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from grader import protocol
from grader.checking import KEEP_FLOOR, CheckRecord, ProbeCall, StudentProbes, _drop_large_answers
from grader.results import Trace
from grader.sandbox import Limits, Sandbox

#: At import, every public probe is wrapped to return its real answer plus `PAD` float64s.
PADDING = '''
import sys as _sys, numpy as _np
_probes = _sys.modules.get("_grader_probes")
if _probes is not None:
    for _name, _fn in list(vars(_probes).items()):
        if callable(_fn) and not _name.startswith("_") and getattr(_fn, "__module__", "") == _probes.__name__:
            def _padded(*a, _fn=_fn, **k):
                return {"real": _fn(*a, **k), "pad": _np.ones(PAD)}
            setattr(_probes, _name, _padded)
'''

#: Grades with the real command line's code path and prints the process's own peak RSS (not
#: its sandbox workers', which RUSAGE_CHILDREN or wait4 would include) on stderr.
MEASURE = """
import resource, sys
from grader.cli import main
code = main(sys.argv[1:])
print("maxrss-kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def _reference_source() -> str:
    text = (ROOT / "solutions" / "optimizers" / "optimizers.py").read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if "# BEGIN SOLUTION" not in line
                     and "# END SOLUTION" not in line) + "\n"


def _grade_measured(path: Path) -> tuple[dict, int]:
    done = subprocess.run([sys.executable, "-c", MEASURE, "grade", "optimizers", str(path), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    peak = int(done.stderr.rsplit("maxrss-kib", 1)[1].split()[0])
    return json.loads(done.stdout), peak * 1024


@pytest.mark.slow
@pytest.mark.parametrize("megabytes", [12, 40])
def test_padded_replies_cost_the_trusted_process_no_more_than_twice_an_honest_grade(megabytes, tmp_path):
    """12 MB: below the cap for a probe the reference has not answered yet, so some are read,
    compared and dropped; 40 MB: every reply is refused unread.  Either way 0 points, a clear
    message, and a peak within twice the honest grade's (which it used to exceed tenfold).  (48 MB is
    the protocol's own cap on one value: larger ones travel as an opaque description.)"""
    honest, padded = tmp_path / "honest" / "optimizers.py", tmp_path / "padded" / "optimizers.py"
    for path in (honest, padded):
        path.parent.mkdir()
    honest.write_text(_reference_source())
    padded.write_text(_reference_source() + PADDING.replace("PAD", str(megabytes << 17)))
    honest_result, honest_peak = _grade_measured(honest)
    padded_result, padded_peak = _grade_measured(padded)
    assert honest_result["score"] == honest_result["max_score"] == 60.0
    assert padded_result["status"] == "graded" and padded_result["score"] < 60.0
    outputs = "\n".join(test["output"] for test in padded_result["tests"])
    assert "was not read: this test's answer needs far less" in outputs
    assert padded_peak < 2 * honest_peak, (padded_peak >> 20, honest_peak >> 20)


# --------------------------------------------------------------------------- the sandbox's side

PROBES = '''
import numpy as np

def array(mod, size):
    return np.ones(size)
'''


@pytest.fixture
def probes(tmp_path) -> Path:
    path = tmp_path / "probes.py"
    path.write_text(PROBES)
    return path


def test_a_reply_beyond_its_allowance_is_refused_unread_and_the_worker_goes_on(probes, monkeypatch):
    unpacked = []
    original = protocol.unpack_message
    monkeypatch.setattr(protocol, "unpack_message", lambda payload: unpacked.append(len(payload)) or original(payload))
    with Sandbox("x = 1\n", "student", probes, Limits(isolation="rlimits")) as sandbox:
        refused = sandbox.run_probe("array", {"size": 1 << 20}, group="f", max_reply_bytes=1 << 20)
        assert refused.status == "error" and refused.exc_type == "ResultTooLarge"
        assert "(8.0 MB) was not read" in refused.message and "at most 1.0 MB" in refused.message
        assert max(unpacked) < 1 << 10  # only the small start-up messages: the reply was never decoded
        worker = sandbox._workers[0]
        fine = sandbox.run_probe("array", {"size": 100}, group="f", max_reply_bytes=1 << 20)
        assert fine.status == "ok" and np.array_equal(fine.value, np.ones(100))
        assert sandbox._workers[0] is worker  # refused, not restarted


def test_a_worker_that_relays_a_long_reply_anyway_is_still_refused_by_length(probes, monkeypatch):
    """The worker is told each reply's limit and does not relay a longer one; but student code
    runs in it and may ignore that: the trusted side refuses by the frame's length alone."""
    original = protocol.send_message

    def without_limit(fd, meta, arrays=None, deadline=None):
        return original(fd, {key: value for key, value in meta.items() if key != "max_reply"}, arrays, deadline)

    monkeypatch.setattr(protocol, "send_message", without_limit)
    with Sandbox("x = 1\n", "student", probes, Limits(isolation="rlimits")) as sandbox:
        refused = sandbox.run_probe("array", {"size": 1 << 20}, group="f", max_reply_bytes=1 << 20)
        assert refused.status == "error" and refused.exc_type == "ResultTooLarge"
        assert "(8.0 MB) was not read" in refused.message and "at most 1.0 MB" in refused.message
        worker = sandbox._workers[0]
        assert sandbox.run_probe("array", {"size": 100}, group="f", max_reply_bytes=1 << 20).status == "ok"
        assert sandbox._workers[0] is worker  # read past in chunks, not restarted


def test_the_replies_of_one_submission_are_bounded_in_total(probes):
    with Sandbox("x = 1\n", "student", probes, Limits(isolation="rlimits", reply_bytes=3 << 20)) as sandbox:
        answers = [sandbox.run_probe("array", {"size": 1 << 17}) for _ in range(4)]  # 1 MiB each
    assert [a.status for a in answers] == ["ok", "ok", "error", "error"]
    assert "may add up to 3.0 MB" in answers[2].message


def test_the_allowance_follows_the_reference_answer():
    calls = []
    probes = StudentProbes(lambda *args: calls.append(args) or type("O", (), {"status": "ok", "value": 1.0})(),
                           reply_allowance=(1000, 16, 5000))
    probes.probe("run")
    probes.note_reference_answer("run", np.ones(100))  # 800 bytes of data
    probes.probe("run")
    assert calls[0][4] == 5000 and calls[1][4] == 1000 + 16 * (800 + 64)
    plain = []
    StudentProbes(lambda *args: plain.append(args) or type("O", (), {"status": "ok", "value": 1.0})()).probe("run")
    assert len(plain[0]) == 4  # without an allowance, runners keep their four arguments


def test_large_student_answers_are_dropped_once_compared_small_ones_kept():
    student = StudentProbes(lambda *args: None)
    student.note_reference_answer("run", np.ones(10))
    big, small = np.ones(KEEP_FLOOR), np.ones(10)  # KEEP_FLOOR float64s: 8x the floor in bytes
    record = CheckRecord(nodeid="n", function="f", weight=1.0, title="t", visibility="visible",
                         probe_calls=[ProbeCall("run", {}, "ok", big), ProbeCall("run", {}, "ok", small)],
                         traces=[Trace("a", big, small), Trace("b", small, small)])
    _drop_large_answers(record, student)
    assert isinstance(record.probe_calls[0].value, protocol.Opaque)
    assert "not kept after the comparison" in record.probe_calls[0].value.repr
    assert record.probe_calls[1].value is small
    assert record.traces[0].student is None and record.traces[1].student is small
