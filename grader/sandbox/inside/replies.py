"""Inside the sandbox: what a reply says about an exception, in the student's terms only
(their frames, clipped text; never a path or frame of ours)."""
import os
import traceback


MESSAGE_CHARS = 2000


LINE_CHARS = 200


FRAMES_KEPT = 12


def _safe_str(obj, limit: int) -> str:
    try:
        text = str(obj)
    except BaseException:
        return "<unprintable>"
    if type(text) is not str:
        return "<unprintable>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def type_name(obj) -> str:
    try:
        name = type(obj).__name__
    except BaseException:
        return "?"
    return name[:100] if type(name) is str else "?"


def _student_traceback(tb, student_path: str) -> str:
    """Format only the frames of ``tb`` that are in the student's file."""
    try:
        frames = [f for f in traceback.extract_tb(tb) if f.filename == student_path]
    except BaseException:
        return ""
    omitted = 0
    if len(frames) > FRAMES_KEPT:  # deep recursion: first and last frames tell the story
        omitted = len(frames) - FRAMES_KEPT
        frames = frames[:2] + frames[-(FRAMES_KEPT - 2) :]
    shown = os.path.basename(student_path)
    lines = []
    for index, frame in enumerate(frames):
        if omitted and index == 2:
            lines.append(f"  [... {omitted} more frames ...]")
        lines.append(f'  File "{shown}", line {frame.lineno}, in {frame.name[:LINE_CHARS]}')
        if frame.line:
            lines.append("    " + frame.line.strip()[:LINE_CHARS])
    return "\n".join(lines)


def error_reply(exc: BaseException, tb, student_path: str) -> dict:
    if isinstance(exc, SyntaxError) and type(exc.msg) is str:  # str() would name our paths
        message = f"{exc.msg[:MESSAGE_CHARS]} (line {exc.lineno})"
    else:
        message = _safe_str(exc, MESSAGE_CHARS)
    return {
        "status": "error",
        "exc_type": type_name(exc),
        "message": message,
        "traceback": _student_traceback(tb, student_path),
    }
