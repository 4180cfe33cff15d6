"""The audit's verdicts and outputs: a terminal table, `audit.json`, `audit.html` (Jinja2,
`templates/audit.html.j2`) and catalogue suggestions.

Every graded mutant gets one verdict (`classify`):
  caught      it loses points under every student id, and the same points in every part
              for every id: the checks are strong and fair for this mistake;
  unfair      its score or a part's score differs between ids: caught for some ids only, or
              for different points (the same mistake must cost the same for every student);
  escaped     full marks under every id: no check sees the mistake (weak checks, or a change
              below every tolerance: the report shows the largest relative difference the
              equivalence probes saw);
  not graded  a grading error (the grader's or the sandbox's fault, never a verdict).
Equivalent mutants (same answers as the reference on the probe set) are counted, not graded.
The last line of the table is `audit: K of M mutants caught for every seed, U unfair, E
escaped` with M = K + U + E, the graded mutants (generated and catalogued).

Diagnosis: a caught mutant is "named" when, for every id, diagnosis named a catalogue
misconception in its result. A generated mutant that is caught fairly and named by nothing
is a catalogue suggestion: `suggestions/<key>.py` holds only the mutated function (as a
catalogue mutant file does) and `suggestions/catalogue-suggestions.toml` one ready-to-paste
`[[mutant]]` entry per suggestion with the parts it costs and a draft hint to reword.
"""
from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import asdict
from pathlib import Path

from grader.audit.mutate import OPERATORS
from grader.audit.run import AuditedMutant, AuditRun
from grader.untrusted import terminal_line

CAUGHT, UNFAIR, ESCAPED, EQUIVALENT, NOT_GRADED = "caught", "unfair", "escaped", "equivalent", "not graded"
VERDICTS = (CAUGHT, UNFAIR, ESCAPED, EQUIVALENT, NOT_GRADED)
#: Scores are sums of check points; differences below this are rounding.
POINTS_EPSILON = 1e-6
SUGGESTIONS_DIR = "suggestions"
SUGGESTIONS_TOML = "catalogue-suggestions.toml"
HTML_TEMPLATE = "audit.html.j2"
_SOLUTION_MARKER = re.compile(r"^\s*# (BEGIN|END) SOLUTION\s*$")


def classify(grades: dict[str, dict], max_score: float) -> str:
    """The verdict of one mutant from its grade summaries per student id (see the module
    docstring): caught, unfair, escaped or not graded."""
    if not grades or any(g.get("status") != "graded" for g in grades.values()):
        return NOT_GRADED
    caught = [max_score - g["score"] > POINTS_EPSILON for g in grades.values()]
    if not any(caught):
        return ESCAPED
    rows = {tuple(sorted((f, round(s / POINTS_EPSILON)) for f, s in g["parts"].items())) for g in grades.values()}
    return CAUGHT if all(caught) and len(rows) == 1 else UNFAIR


def verdict(mutant: AuditedMutant, max_score: float) -> str:
    return EQUIVALENT if mutant.equivalent else classify(mutant.grades, max_score)


def points_lost(mutant: AuditedMutant, max_score: float) -> list[float]:
    """Points lost under each id, in id order."""
    return [round(max_score - g["score"], 6) for _, g in sorted(mutant.grades.items())]


def parts_lost(mutant: AuditedMutant, parts: dict[str, float]) -> dict[str, list[float]]:
    """Per part that lost points under some id: the points it lost under each id."""
    lost: dict[str, list[float]] = {}
    for function, points in parts.items():
        values = [round(points - g["parts"].get(function, points), 6) for _, g in sorted(mutant.grades.items())]
        if any(v > POINTS_EPSILON for v in values):
            lost[function] = values
    return lost


def named(mutant: AuditedMutant) -> str:
    """"always" (diagnosis named a catalogue entry under every id), "sometimes" or "never"."""
    hits = [bool(g.get("misconceptions")) for g in mutant.grades.values()]
    return "always" if hits and all(hits) else "sometimes" if any(hits) else "never"


def varying_checks(mutant: AuditedMutant) -> dict[str, int]:
    """The checks that failed under some ids but not all: title -> how many ids it failed."""
    failed = [set(g.get("failed_tests", [])) for g in mutant.grades.values()]
    if not failed:
        return {}
    counts = {t: sum(t in f for f in failed) for t in set().union(*failed)}
    return {t: n for t, n in sorted(counts.items()) if n < len(failed)}


def caught_ids(mutant: AuditedMutant, max_score: float) -> list[str]:
    return [s for s, g in sorted(mutant.grades.items()) if max_score - g["score"] > POINTS_EPSILON]


# --- the whole audit as data -------------------------------------------------------------

def summarise(run: AuditRun) -> dict:
    """Everything the outputs show: per mutant its verdict and losses, per function the
    counts, and the totals of the last line."""
    rows = []
    for mutant in run.mutants:
        kind = verdict(mutant, run.max_score)
        lost = points_lost(mutant, run.max_score)
        rows.append({
            **asdict(mutant), "verdict": kind,
            "operator_meaning": OPERATORS.get(mutant.operator, "a catalogued mistake"),
            "points_lost": lost, "points_vary": len(set(lost)) > 1, "points_lost_text": _counted(lost),
            "parts_lost": parts_lost(mutant, run.parts),
            "caught_ids": caught_ids(mutant, run.max_score), "varying_checks": varying_checks(mutant), "named": named(mutant) if mutant.grades else "",
            "misconceptions": sorted({m for g in mutant.grades.values() for m in g.get("misconceptions", [])}),
            "max_deviation": (mutant.equivalence or {}).get("max_deviation"),
        })
    functions = []
    for function in run.parts:
        own = [r for r in rows if r["function"] == function]
        if not own:
            continue
        counts = {v: sum(r["verdict"] == v for r in own) for v in VERDICTS}
        caught = [r for r in own if r["verdict"] == CAUGHT]
        functions.append({"function": function, "mutants": len(own), **counts,
                          "named": sum(r["named"] == "always" for r in caught), "caught_total": len(caught)})
    graded = [r for r in rows if r["verdict"] in (CAUGHT, UNFAIR, ESCAPED)]
    totals = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
    return {
        "assignment": run.assignment, "max_score": run.max_score, "students": run.students,
        "probe_calls": run.probe_calls, "seconds": run.seconds,
        "generated": sum(r["operator"] != "catalogue" for r in rows),
        "catalogued": sum(r["operator"] == "catalogue" for r in rows),
        "functions": functions, "mutants": rows, "totals": totals, "graded": len(graded),
        "last_line": last_line(totals[CAUGHT], len(graded), totals[UNFAIR], totals[ESCAPED]),
    }


def last_line(caught: int, graded: int, unfair: int, escaped: int) -> str:
    return f"audit: {caught} of {graded} mutants caught for every seed, {unfair} unfair, {escaped} escaped"


# --- terminal ----------------------------------------------------------------------------

def render_table(summary: dict) -> str:
    ids = len(summary["students"])
    lines = [f"audit of {summary['assignment']}: {summary['generated']} generated mutants "
             f"({summary['totals'][EQUIVALENT]} equivalent to the reference, not graded), "
             f"{summary['catalogued']} catalogued; graded under {ids} student ids; "
             f"equivalence on {summary['probe_calls']} probe calls"]
    if summary["seconds"]:
        lines.append("wall-clock time: " + ", ".join(f"{phase} {seconds:.0f} s" for phase, seconds in summary["seconds"].items()))
    lines.append("")
    header = f"{'function':<22} {'mutants':>7} {'equiv':>6} {'caught':>7} {'unfair':>7} {'escaped':>8} {'named':>7}"
    lines += [header, "-" * len(header)]
    for row in summary["functions"]:
        extra = f"  ({row[NOT_GRADED]} not graded)" if row[NOT_GRADED] else ""
        lines.append(f"{row['function']:<22} {row['mutants']:>7} {row[EQUIVALENT]:>6} {row[CAUGHT]:>7} "
                     f"{row[UNFAIR]:>7} {row[ESCAPED]:>8} {row['named']:>3}/{row['caught_total']:<3}{extra}")
    totals = summary["totals"]
    lines += ["-" * len(header),
              f"{'total':<22} {len(summary['mutants']):>7} {totals[EQUIVALENT]:>6} {totals[CAUGHT]:>7} "
              f"{totals[UNFAIR]:>7} {totals[ESCAPED]:>8}", ""]
    unfair = [r for r in summary["mutants"] if r["verdict"] == UNFAIR]
    if unfair:
        lines.append("Unfair: scored differently for different student ids")
        for row in unfair:
            lost = sorted(set(row["points_lost"]))
            parts = ", ".join(f"{f} {_span(v)}" for f, v in row["parts_lost"].items())
            lines.append(f"  {row['key']:<40} {terminal_line(row['description'])}")
            lines.append(f"  {'':<40} caught for {len(row['caught_ids'])}/{ids} ids; points lost "
                         f"{_span(row['points_lost'])} ({', '.join(f'{v:g}' for v in lost)}); parts: {parts}")
            for title, count in row["varying_checks"].items():
                lines.append(f"  {'':<40} fails for {count}/{ids} ids: {terminal_line(title)}")
        lines.append("")
    escaped = [r for r in summary["mutants"] if r["verdict"] == ESCAPED]
    if escaped:
        lines.append("Escaped: full marks for every student id")
        for row in escaped:
            deviation = row["max_deviation"]
            note = (f"largest relative difference on the probe set {deviation:.2g}" if isinstance(deviation, float)
                    else "a non-numeric difference on the probe set" if row["equivalence"] else "")
            lines.append(f"  {row['key']:<40} {terminal_line(row['description'])}" + (f"  [{note}]" if note else ""))
        lines.append("")
    broken = [r for r in summary["mutants"] if r["verdict"] == NOT_GRADED]
    if broken:
        reason = next((g.get("error") for r in broken for g in r["grades"].values() if g.get("error")), "")
        lines.append(f"Not graded (a grading error, not a verdict): {', '.join(r['key'] for r in broken)}"
                     + (f"; the first error: {terminal_line(reason)}" if reason else ""))
        lines.append("")
    suggestions = summary.get("suggestions", [])
    if suggestions:
        lines.append(f"Catalogue suggestions: {len(suggestions)} mutants caught fairly but named by no catalogue "
                     f"entry, written to {summary.get('suggestions_dir', SUGGESTIONS_DIR)}/")
        lines.append("")
    lines.append(summary["last_line"])
    return "\n".join(lines)


def _counted(values: list[float]) -> str:
    """"2 for 7 ids, 4 for 1": the distinct values with how many ids got each."""
    counts = {v: values.count(v) for v in sorted(set(values))}
    if len(counts) == 1:
        return f"{values[0]:g} for every id" if values else ""
    return ", ".join(f"{v:g} for {n} id{'s' * (n != 1)}" for v, n in counts.items())


def _span(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:g}" if low == high else f"{low:g}-{high:g}"


# --- catalogue suggestions --------------------------------------------------------------

def suggestion_rows(summary: dict) -> list[dict]:
    return [r for r in summary["mutants"] if r["verdict"] == CAUGHT and r["operator"] != "catalogue"
            and r["named"] == "never"]


def write_suggestions(summary: dict, reference: str, out: Path) -> list[dict]:
    """Write `suggestions/<key>.py` and the TOML entries; returns what was suggested."""
    folder = out / SUGGESTIONS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    imports = _imports(reference)
    entries, suggested = [], []
    for row in suggestion_rows(summary):
        source = Path(row["path"]).read_text(encoding="utf-8")
        function = _function_source(source, row["function"])
        if function is None:
            continue
        function = "\n".join(line for line in function.splitlines() if not _SOLUTION_MARKER.match(line))
        file_name = f"{row['key'].replace('.', '_')}.py"
        (folder / file_name).write_text(f'"""{row["key"]}: {row["description"]}"""\n{imports}\n\n{function}\n',
                                        encoding="utf-8")
        costs = [row["function"], *[f for f in row["parts_lost"] if f != row["function"]]]
        entries.append(_toml_entry(row, file_name, costs))
        suggested.append({"key": row["key"], "file": file_name, "functions": costs,
                          "parts_lost": {f: v[0] for f, v in row["parts_lost"].items()},
                          "diff": _diff(reference, source, row["key"])})
    header = ("# Candidate catalogue entries from `grader audit`: mistakes every student id lost points for,\n"
              "# that diagnosis names with no hint today. To accept one: copy its file into\n"
              "# solutions/<id>/mutants/, paste its entry into catalogue.toml, and reword the hint\n"
              "# (it is shown to students) and, if you like, the id.\n")
    (folder / SUGGESTIONS_TOML).write_text(header + "".join(entries), encoding="utf-8")
    return suggested


def _toml_entry(row: dict, file_name: str, functions: list[str]) -> str:
    what = OPERATORS.get(row["operator"], "a mistake").split(":")[0]
    hint = (f"Your {row['function']} gives the results of code with `{row['mistaken']}` in it ({what}); "
            f"compare that part of your code with the handout's formula.")
    return ("\n[[mutant]]\n"
            f"# {row['description']} (costs {', '.join(f'{f} {v[0]:g}' for f, v in row['parts_lost'].items())} points)\n"
            f"id = {json.dumps(row['key'].replace('-', '_'))}\n"
            f"functions = {json.dumps(functions)}\n"
            f"file = {json.dumps(file_name)}\n"
            f"hint = {json.dumps(hint)}\n")


def _imports(source: str) -> str:
    tree = ast.parse(source)
    return "\n".join(ast.get_source_segment(source, node) for node in tree.body
                     if isinstance(node, (ast.Import, ast.ImportFrom)))


def _function_source(source: str, name: str) -> str | None:
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return ast.get_source_segment(source, node)
    return None


def _diff(reference: str, mutant: str, key: str) -> str:
    import difflib

    return "".join(difflib.unified_diff(reference.splitlines(keepends=True), mutant.splitlines(keepends=True),
                                        fromfile="reference", tofile=key, n=2))


# --- JSON and HTML ----------------------------------------------------------------------

def write_json(summary: dict, path: Path) -> None:
    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    path.write_text(json.dumps(clean(summary), indent=2), encoding="utf-8")


def render_html(summary: dict, course_templates: Path | None = None) -> str:
    import jinja2

    from grader.render.csp import with_policy
    from grader.render.html import PACKAGE_TEMPLATES

    dirs = [d for d in (course_templates, PACKAGE_TEMPLATES) if d is not None and (d / HTML_TEMPLATE).is_file()]
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader([str(d) for d in dirs]), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return with_policy(environment.get_template(HTML_TEMPLATE).render(s=summary, verdicts=VERDICTS))
