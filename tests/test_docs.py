"""The repository explains itself: every paper-decision code a comment cites is defined in
BUILD_NOTES.md, and nothing a user needs points outside the repository."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DECISIONS_HEADING = "## The paper's decisions (codes used in comments)"
WHAT_WE_DO_HEADING = "## The paper's decisions, item by item: what we do"
# A code is a family letter and a number: M (model), T (training), I (inference), D (data),
# E (evaluation), V (variants). flake8 codes after "noqa:" are not codes.
_CODE = re.compile(r"\b[MTVIDE][0-9]{1,2}\b")  # paper codes have 1-2 digits (not TF log prefixes like I0000)
_NOQA = re.compile(r"noqa(:[ A-Z0-9,]*)?")
# What the package, the flagfiles and the docs must not point at: a user has only the repository.
_OUTSIDE = re.compile(r"\.\./shared|shared/data|SPEC\.md|DESIGN\.md")


def _section(text: str, heading: str) -> str:
    """The lines of one `## ` section of a markdown file, heading excluded."""
    assert heading in text, f"BUILD_NOTES.md has no section {heading!r}"
    body = text.split(heading, 1)[1]
    return body.split("\n## ", 1)[0]


def _first_column_codes(section: str) -> list[str]:
    """Codes in the first column of the section's table; "V1-V6" stands for V1..V6."""
    codes = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if not cells:
            continue
        ranged = re.fullmatch(r"([MTVIDE])([0-9]+)-\1?([0-9]+)", cells[0])
        if ranged:
            letter, first, last = ranged.group(1), int(ranged.group(2)), int(ranged.group(3))
            codes.extend(f"{letter}{number}" for number in range(first, last + 1))
        elif _CODE.fullmatch(cells[0]):
            codes.append(cells[0])
    return codes


def _decision_rows() -> dict[str, list[str]]:
    """code -> [paper section, what it fixes], from the BUILD_NOTES decisions table."""
    section = _section((ROOT / "BUILD_NOTES.md").read_text(encoding="utf-8"), DECISIONS_HEADING)
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if cells and _CODE.fullmatch(cells[0]):
            assert cells[0] not in rows, f"{cells[0]} is listed twice"
            rows[cells[0]] = cells[1:]
    return rows


def _cited_codes() -> dict[str, str]:
    """code -> the first file citing it, over every *.py, *.flags and README.md."""
    files = [ROOT / "README.md", *ROOT.rglob("*.py"), *ROOT.rglob("*.flags")]
    cited = {}
    for path in files:
        if ".git" in path.parts:
            continue
        text = _NOQA.sub("", path.read_text(encoding="utf-8"))
        for code in _CODE.findall(text):
            cited.setdefault(code, str(path.relative_to(ROOT)))
    return cited


def test_every_cited_code_is_in_the_build_notes_table():
    rows = _decision_rows()
    missing = {code: where for code, where in _cited_codes().items() if code not in rows}
    assert not missing, f"codes cited but not in BUILD_NOTES.md {DECISIONS_HEADING!r}: {missing}"


def test_every_table_row_names_a_paper_section_and_what_it_fixes():
    rows = _decision_rows()
    assert len(rows) >= 30  # M1-M9, T1-T7, I1-I3, D1-D4, E1-E2, V1-V6 = 31
    for code, cells in rows.items():
        assert len(cells) == 2 and all(cells), f"{code}: needs a paper section and one line"
        assert re.search(r"Sec\.|Eq\.|Table", cells[0]), f"{code}: {cells[0]!r} is no paper section"


def test_the_two_decision_tables_list_the_same_codes():
    text = (ROOT / "BUILD_NOTES.md").read_text(encoding="utf-8")
    paper = set(_decision_rows())
    ours = set(_first_column_codes(_section(text, WHAT_WE_DO_HEADING)))
    assert paper == ours, f"only in the paper table: {paper - ours}; only in ours: {ours - paper}"


@pytest.mark.parametrize("top", ["s_cnn_rnn", "data_prep", "flags", "README.md", "BUILD_NOTES.md",
                                 "setup.py"])
def test_nothing_points_outside_the_repository(top):
    path = ROOT / top
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    offenders = []
    for file in files:
        if file.suffix in (".pyc", ".jpg", ".png", ".h5", ".index") or "data-" in file.name:
            continue
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if _OUTSIDE.search(line):
                offenders.append(f"{file.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "points outside the repository:\n" + "\n".join(offenders)
