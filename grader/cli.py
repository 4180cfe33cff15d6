"""The `grader` command: a thin layer over the API functions, one sub-command each.

Exit codes (the contract): 0 success, 1 graded but not full marks, 2 bad usage or an
unreadable input, with a one-line error and never a traceback for a user mistake.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from grader import __version__
from grader.errors import UsageError
from grader.untrusted import terminal_line

EXIT_OK, EXIT_NOT_FULL, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors: one line, exit 2
        self.exit(EXIT_USAGE, f"grader: error: {message} (see `grader --help`)\n")


def _course():
    from grader.course import Course
    return Course.find()


def cmd_list(args) -> int:
    for assignment in _course().assignments():
        print(f"{assignment.id}  ({assignment.module}.py, {assignment.max_score:g} points): {assignment.title}")
        for part in assignment.parts:
            print(f"  {part.function:<24} {part.points:g}")
    return EXIT_OK


def cmd_grade(args) -> int:
    assignment = _course().get(args.assignment)
    if not Path(args.submission).exists():
        raise UsageError(f"{args.submission}: no such file or folder")
    from grader.grade import grade_submission
    from grader.render.text import render_text, use_colour

    result = grade_submission(assignment, args.submission, student=args.student)
    if args.report:
        write_report_with_notebook(result, assignment, Path(args.submission), Path(args.report))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    if result.status == "error":  # said once, on stderr: the one line, then the offending line
        print(_error_text(result), file=sys.stderr)
        return EXIT_USAGE
    if not args.json:
        where = (f"{args.report}" if args.report else
                 f"grader grade {args.assignment} {args.submission} --report report.html")
        print(render_text(result, colour=use_colour(sys.stdout), full_output=where))
    return EXIT_OK if result.full_marks else EXIT_NOT_FULL


def _error_text(result) -> str:
    """`grader: error: <the one-line reason>`, then (a syntax error) the line and a caret."""

    lines = [f"grader: error: {terminal_line(result.error)}"]
    lines += [f"    {terminal_line(row)}" for row in result.error_detail.splitlines()]
    return "\n".join(lines)


def write_report_with_notebook(result, assignment, submission: Path, report: Path) -> None:
    """The HTML report; for a notebook submission also its record (`<report>.notebook.html`,
    linked from the report), the instructor's copy of exactly what was submitted."""
    from grader.notebooks import submitted_notebook_record
    from grader.render.html import write_report

    links = {}
    try:
        notebook = submitted_notebook_record(submission, assignment.module) if result.status == "graded" else None
    except (ValueError, ImportError):  # a notebook the exporter cannot show, or a student bundle
        notebook = None                 # without nbconvert: the report still gets written
    try:
        if notebook is not None:
            record = report.with_name(report.stem + ".notebook.html")
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(notebook, encoding="utf-8")
            links["The notebook as submitted"] = record.name
        write_report(result, assignment, report, links=links)
    except OSError as exc:
        raise UsageError(f"{report}: cannot write the report ({exc.strerror or exc})") from None


def cmd_check(args) -> int:
    assignment = _course().get(args.assignment)
    path = Path(args.path) if args.path else assignment.stub_path
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    from grader.grade import grade_submission
    from grader.render.text import render_text, use_colour

    result = grade_submission(assignment, path, student="self-check", public_only=True)
    if result.status == "error":
        print(_error_text(result), file=sys.stderr)
        return EXIT_USAGE
    if args.report:
        write_report_with_notebook(result, assignment, path, Path(args.report))
    where = args.report or f"grader check {args.assignment} {args.path or ''} --report report.html".replace("  ", " ")
    print(render_text(result, hidden_checks=_hidden_check_count(assignment), colour=use_colour(sys.stdout),
                      full_output=where))
    return EXIT_OK if result.full_marks else EXIT_NOT_FULL


def _hidden_check_count(assignment) -> int | None:
    return assignment.hidden_check_count()


def cmd_build(args) -> int:
    from grader.build import build_assignment

    course = _course()
    targets = [course.get(args.assignment)] if args.assignment else course.assignments()
    for assignment in targets:
        for line in build_assignment(assignment):
            print(line)
    return EXIT_OK


def cmd_release(args) -> int:
    from grader.release import release_command
    return release_command(_course().get(args.assignment), Path(args.out))


def cmd_batch(args) -> int:
    from grader.batch import batch_command
    return batch_command(_course().get(args.assignment), Path(args.cohort), Path(args.out),
                         workers=args.workers, scheduler=args.scheduler, force=args.force, only=args.only,
                         roster=Path(args.roster) if args.roster else None)


def cmd_override(args) -> int:
    from grader.batch.overrides import override_command
    return override_command(_course().get(args.assignment), args.student, Path(args.out), args.part,
                            score=args.score, comment=args.comment, remove=args.remove, author=args.by)


def cmd_demo(args) -> int:
    from grader.batch import demo_command
    return demo_command(_course(), out=Path(args.out) if args.out else None, workers=args.workers)


def cmd_audit(args) -> int:
    from grader.audit.command import audit_command

    options = {name: getattr(args, name) for name in ("seeds", "workers", "scheduler", "max_mutants")
               if getattr(args, name) is not None}
    if args.functions is not None:
        options["functions"] = [f.strip() for f in args.functions.split(",") if f.strip()]
    audit_command(_course().get(args.assignment), out=Path(args.out) if args.out else None, **options)
    return EXIT_OK


def cmd_gradescope(args) -> int:
    from grader.gradescope import build_autograder_command
    return build_autograder_command(_course().get(args.assignment), Path(args.out))


def cmd_serve(args) -> int:
    from grader.serve.command import serve_command
    from grader.course import Course, CourseError

    if args.course:
        if not (Path(args.course) / "assignments").is_dir():
            raise CourseError(f"--course {args.course}: no assignments/ folder there")
        course = Course(Path(args.course).resolve())
    else:
        course = _course()
    return serve_command(course, Path(args.data) if args.data else None,
                         roster=Path(args.roster) if args.roster else None, host=args.host, port=args.port,
                         workers=args.workers, scheduler=args.scheduler, database_url=args.database,
                         public_url=args.url, demo=args.demo)


def cmd_submit(args) -> int:
    from grader.render.text import render_text, use_colour
    from grader.results import GradingResult
    from grader.submit import print_progress, submit_path

    if not Path(args.file).exists():
        raise UsageError(f"{args.file}: no such file")
    state = submit_path(args.assignment, args.file, args.server, args.token, timeout=args.timeout,
                        progress=print_progress)
    result = GradingResult.from_dict(state["result"])
    if args.json:
        print(json.dumps(state["result"], indent=2))
    elif result.status != "error":
        print(render_text(result, colour=use_colour(sys.stdout)))
    if state.get("late"):
        print("grader submit: this submission is late", file=sys.stderr)
    if result.status == "error":  # said once, as grader grade does
        print(_error_text(result), file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK if result.full_marks else EXIT_NOT_FULL


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="grader", description="Grade optimisation assignments safely, with useful feedback.")
    parser.add_argument("--version", action="version", version=f"grader {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("list", help="the assignments with their parts and points").set_defaults(run=cmd_list)

    p = sub.add_parser("grade", help="grade one submission against the hidden checks")
    p.add_argument("assignment")
    p.add_argument("submission", help="a .py module, a notebook, a folder holding one, or a .zip of such a folder")
    p.add_argument("--json", action="store_true", help="print the JSON result (a superset of Gradescope's results.json)")
    p.add_argument("--report", metavar="FILE.html", help="also write a self-contained HTML feedback report")
    p.add_argument("--student", help="student id (default: the file or folder name without extension)")
    p.set_defaults(run=cmd_grade)

    p = sub.add_parser("check", help="self-check with the public tests only")
    p.add_argument("assignment")
    p.add_argument("path", nargs="?", help="your module, notebook or folder (default: the stub in the assignment folder)")
    p.add_argument("--report", metavar="FILE.html", help="also write the HTML report of the self-check")
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("build", help="regenerate stubs and baked public answers from the solutions")
    p.add_argument("assignment", nargs="?")
    p.set_defaults(run=cmd_build)

    p = sub.add_parser("release", help="write the student bundle and prove it holds no solution")
    p.add_argument("assignment")
    p.add_argument("--out", required=True)
    p.set_defaults(run=cmd_release)

    p = sub.add_parser("batch", help="grade a whole cohort: reports, gradebook, dashboard; resumable")
    p.add_argument("assignment")
    p.add_argument("cohort", help="folder of submissions (each entry's name is the student id), or an LMS "
                                  "download: a Canvas or Moodle zip or folder, a Gradescope export")
    p.add_argument("--out", required=True)
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: the number of cores)")
    p.add_argument("--scheduler", default=None, help="address of a Dask scheduler to run on a cluster")
    p.add_argument("--force", action="store_true", help="regrade everything, even unchanged submissions")
    p.add_argument("--only", action="append", metavar="STUDENT",
                   help="regrade only this student (repeatable); the outputs still cover the whole cohort")
    p.add_argument("--roster", metavar="ROSTER.csv", default=None,
                   help="CSV with id, name, email[, lms_id, sis_id, section]: maps LMS entries to student ids "
                        "and fills the LMS gradebook files")
    p.set_defaults(run=cmd_batch)

    p = sub.add_parser("override", help="an instructor's score for one part of one student's batch result, "
                                        "kept across regrades until removed")
    p.add_argument("assignment")
    p.add_argument("student", help="the student id as in grades.csv")
    p.add_argument("--out", required=True, help="the batch's output folder")
    p.add_argument("--part", required=True, metavar="FUNCTION", help="the part (function) to override")
    p.add_argument("--score", type=float, default=None, help="the part's new score (0 to its points)")
    p.add_argument("--comment", default=None, help="why (shown in the report, the dashboard and the CSVs)")
    p.add_argument("--remove", action="store_true", help="remove this part's override instead")
    p.add_argument("--by", default=None, help="who (default: $GRADER_USER or the login name)")
    p.set_defaults(run=cmd_override)

    p = sub.add_parser("demo", help="batch-grade the bundled sample cohort and print the dashboard's path")
    p.add_argument("--out", default=None, help="output folder (default: a fresh temporary folder)")
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser("serve", help="the submission service: students submit and get their report in seconds")
    p.add_argument("--course", default=None, help="the course folder (default: found as for every command)")
    p.add_argument("--data", default=None, metavar="DATA_DIR", help="where the service keeps everything")
    p.add_argument("--roster", default=None, metavar="ROSTER.csv", help="students to add (header id,name,email)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0: any free port")
    p.add_argument("--workers", type=int, default=None, help="grading worker processes (default: the cores)")
    p.add_argument("--scheduler", default=None, help="grade on the Dask cluster at this address")
    p.add_argument("--database", default=None, metavar="URL", help="postgresql://... (default: SQLite in DATA_DIR)")
    p.add_argument("--url", default=None, help="the public URL in login links (behind a reverse proxy)")
    p.add_argument("--demo", action="store_true", help="serve the demo cohort; print a student's and the instructor's link")
    p.set_defaults(run=cmd_serve)

    p = sub.add_parser("submit", help="submit to the service and print the result as `grader grade` does")
    p.add_argument("assignment")
    p.add_argument("file", help="your module, notebook or .zip")
    p.add_argument("--server", default=None, help="the service's URL (default: GRADER_SERVER or submit.toml)")
    p.add_argument("--token", default=None, help="your token (default: GRADER_TOKEN or submit.toml)")
    p.add_argument("--json", action="store_true", help="print the JSON result")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the grading")
    p.set_defaults(run=cmd_submit)

    p = sub.add_parser("audit", help="audit the hidden checks: mutants of the reference graded under many student ids")
    p.add_argument("assignment")
    p.add_argument("--seeds", type=int, default=None, help="student ids each mutant is graded under (default: 8)")
    p.add_argument("--out", default=None, help="output folder (default: a fresh temporary folder)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: the number of cores)")
    p.add_argument("--scheduler", default=None, help="address of a Dask scheduler to run on a cluster")
    p.add_argument("--functions", default=None, metavar="F,...", help="only mutants of these functions")
    p.add_argument("--max-mutants", type=int, default=None, metavar="K",
                   help="at most K generated mutants, spread over functions and operators")
    p.set_defaults(run=cmd_audit)

    p = sub.add_parser("gradescope", help="Gradescope autograder")
    gs = p.add_subparsers(dest="gradescope_command", required=True, parser_class=_Parser)
    b = gs.add_parser("build", help="write a Gradescope autograder zip")
    b.add_argument("assignment")
    b.add_argument("--out", required=True)
    b.set_defaults(run=cmd_gradescope)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as exc:  # the one error boundary (grader.errors)
        print(f"grader: error: {terminal_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}",
              file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `grader grade ... | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
