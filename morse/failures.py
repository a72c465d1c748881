"""After a failed workflow: put each failed job's own error line on the console (Snakemake only
says "check log file(s)"), and clear what killed data steps left behind. Imports no torch."""

from __future__ import annotations

import re
from pathlib import Path

from morse.common import remove_path

__all__ = ["clean_data_temporaries", "failed_jobs", "first_error_line", "failure_summary"]

_RULE = re.compile(r"^Error in rule (\S+?):\s*$")
_LOG = re.compile(r"^\s+log: (.+?)(?: \(check log file\(s\) for error details\))?\s*$")
_ERROR = re.compile(r"(\berror\b|Error:|Exception:|\bKilled\b|Traceback)", re.IGNORECASE)


def failed_jobs(snakemake_log: str) -> list[tuple[str, list[str]]]:
    """(rule, its log files) of every ``Error in rule`` block of a Snakemake log."""
    jobs: list[tuple[str, list[str]]] = []
    for line in snakemake_log.splitlines():
        rule = _RULE.match(line)
        if rule:
            jobs.append((rule.group(1), []))
            continue
        log = _LOG.match(line)
        if log and jobs and not jobs[-1][1]:
            jobs[-1][1].extend(part.strip() for part in log.group(1).split(", ") if part.strip())
    return jobs


def first_error_line(text: str) -> str:
    """The line of a job log that says what went wrong: ``morse-bench <step>: error: ...`` or a
    traceback's last line (the exception), else the first line mentioning an error, else the last
    non-empty line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("morse-bench") and ": error:" in line:
            return line
    if any(line.startswith("Traceback") for line in lines):
        return next((line for line in reversed(lines) if re.match(r"^[\w.]+(Error|Exception|Interrupt)\b", line)),
                    lines[-1])
    return next((line for line in lines if _ERROR.search(line)), lines[-1] if lines else "(the log is empty)")


def failure_summary(snakemake_logs: str | Path | list | None, workdir: Path = Path(".")) -> list[str]:
    """One line per failed job: ``rule <name> failed: <first error line> (log: <path>)``, from
    Snakemake's log file(s) (what ``onerror`` receives: a path or a list of paths)."""
    paths = snakemake_logs if isinstance(snakemake_logs, (list, tuple)) else [snakemake_logs]
    text = "\n".join(Path(p).read_text(errors="replace") for p in paths if p and Path(p).is_file())
    lines = []
    for rule, logs in failed_jobs(text):
        for log in logs or ["-"]:
            path = workdir / log
            text = path.read_text(errors="replace") if path.is_file() else ""
            lines.append(f"rule {rule} failed: {first_error_line(text) if text else '(no log written)'} (log: {log})")
    return lines


def clean_data_temporaries(workdir: Path = Path(".")) -> list[Path]:
    """Remove the temporary folders (``.tmp-*``, ``.old-*``) that fetch and prepare jobs killed
    mid-write left in ``data/raw`` and ``data/prepared``: after Snakemake has stopped, no job is
    writing there. Returns what was removed."""
    removed = []
    for folder in (workdir / "data" / "raw", workdir / "data" / "prepared"):
        if folder.is_dir():
            for leftover in sorted(folder.iterdir()):
                if re.match(r"^\.(tmp|old)-[0-9a-f]{12}-", leftover.name):
                    remove_path(leftover)
                    removed.append(leftover)
    return removed
