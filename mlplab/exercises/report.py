"""What a check returns: a :class:`CheckResult` holding one :class:`Finding` per thing found.

A result reads as plain text (``str`` or ``repr``, for a terminal and for the text view of a
notebook) and as an HTML table (``_repr_html_``, what Jupyter shows).
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

from .catalog import MISTAKES

__all__ = ["CheckResult", "Finding"]

#: severities in the order they are shown; only "error" makes a check fail
SEVERITIES = ("error", "warning", "note")


@dataclass
class Finding:
    """One line of a check's verdict.

    ``what`` is the part it concerns (``"forward"``, ``"dx"``, ``"dW"``, ``"step 3"``...);
    ``message`` says in plain words what was found and what was expected; ``mistake``, when set,
    is the code of a classic mistake from :data:`mlplab.exercises.catalog.MISTAKES` whose formula
    reproduces what the student's code did; ``cases`` lists the inputs where it was seen.
    """

    severity: str
    what: str
    message: str
    mistake: str | None = None
    cases: list[str] = field(default_factory=list)
    key: str = field(default="", repr=False, compare=False)

    def line(self) -> str:
        text = f"{self.what}: {self.message}"
        if self.mistake is not None:
            text = f"{self.what}: {MISTAKES[self.mistake].title}. {self.message}"
        if self.cases:
            text += f" [seen for {', '.join(self.cases)}]"
        return text


class CheckResult:
    """The verdict of one check: ``findings`` (a list of :class:`Finding`), ``passed`` (no finding of
    severity ``"error"``), ``mistakes`` (codes of the classic mistakes recognised) and ``checked``
    (what was compared, shown when everything passed)."""

    def __init__(self, subject: str, checked: list[str] | None = None) -> None:
        self.subject = subject
        self.findings: list[Finding] = []
        self.checked: list[str] = list(checked or [])

    # ------------------------------------------------------------------ building
    def add(self, severity: str, what: str, message: str, mistake: str | None = None,
            case: str | None = None, key: str | None = None) -> Finding:
        """Add a finding, or merge it into an equal one already there (the same part, mistake and
        ``key``, which defaults to the message) by adding ``case`` to its list of cases; so a
        mistake seen for several inputs is one line."""
        key = message if key is None else key
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
        if mistake is not None and mistake not in MISTAKES:
            raise ValueError(f"unknown mistake code {mistake!r}")
        for f in self.findings:
            if (f.severity, f.what, f.key, f.mistake) == (severity, what, key, mistake):
                if case is not None and case not in f.cases:
                    f.cases.append(case)
                return f
        f = Finding(severity, what, message, mistake, [case] if case is not None else [], key)
        self.findings.append(f)
        return f

    def error(self, what: str, message: str, mistake: str | None = None, case: str | None = None,
              key: str | None = None) -> Finding:
        return self.add("error", what, message, mistake, case, key)

    def warning(self, what: str, message: str, mistake: str | None = None, case: str | None = None,
                key: str | None = None) -> Finding:
        return self.add("warning", what, message, mistake, case, key)

    def note(self, what: str, message: str, case: str | None = None) -> Finding:
        return self.add("note", what, message, None, case)

    # ------------------------------------------------------------------ reading
    @property
    def passed(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    @property
    def mistakes(self) -> set[str]:
        """Codes of the classic mistakes recognised in the student's code."""
        return {f.mistake for f in self.findings if f.mistake is not None}

    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def _sorted(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: SEVERITIES.index(f.severity))

    def __str__(self) -> str:
        n_err = len(self.errors())
        if self.passed:
            head = f"{self.subject}: PASSED"
            if self.checked:
                head += f" ({'; '.join(self.checked)})"
        else:
            head = f"{self.subject}: FAILED, {n_err} problem{'s' if n_err != 1 else ''}"
        lines = [head] + [f"  {f.severity.upper():<7} {f.line()}" for f in self._sorted()]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#cf222e"
        verdict = "passed" if self.passed else f"failed, {len(self.errors())} problem(s)"
        out = [f'<div><p><b>{html.escape(self.subject)}</b>: <b style="color:{colour}">{verdict}</b></p>']
        if self.passed and self.checked:
            out.append(f"<p>checked: {html.escape('; '.join(self.checked))}</p>")
        if self.findings:
            out.append('<table><thead><tr><th style="text-align:left">severity</th>'
                       '<th style="text-align:left">where</th><th style="text-align:left">mistake</th>'
                       '<th style="text-align:left">what was found</th>'
                       '<th style="text-align:left">seen for</th></tr></thead><tbody>')
            for f in self._sorted():
                sev = {"error": "#cf222e", "warning": "#9a6700", "note": "#57606a"}[f.severity]
                title = MISTAKES[f.mistake].title if f.mistake else ""
                out.append(
                    f'<tr><td style="color:{sev};text-align:left">{f.severity}</td>'
                    f'<td style="text-align:left">{html.escape(f.what)}</td>'
                    f'<td style="text-align:left"><b>{html.escape(title)}</b></td>'
                    f'<td style="text-align:left">{html.escape(f.message)}</td>'
                    f'<td style="text-align:left">{html.escape(", ".join(f.cases))}</td></tr>')
            out.append("</tbody></table>")
        out.append("</div>")
        return "".join(out)
