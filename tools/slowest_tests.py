#!/usr/bin/env python3
"""Prints the N slowest tests of the .trx files in a folder (`dotnet test --logger trx`): CI's last lines say where its minutes go."""
import glob, re, sys, xml.etree.ElementTree as ET
from datetime import datetime

def seconds(duration: str) -> float:
    h, m, s = duration.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)

def moment(text: str) -> datetime:
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text))  # .trx times carry 7 digits of a second

def main(folder: str, count: int = 10) -> None:
    ns = "{http://microsoft.com/schemas/VisualStudio/TeamTest/2010}"
    rows, spans, failures = [], {}, []
    runs = []   # (file, the run's outcome, its run infos: a test host's crash or abort is told there, not in a test)
    for path in glob.glob(f"{folder}/**/*.trx", recursive=True):
        root = ET.parse(path).getroot()
        summary = root.find(f"{ns}ResultSummary")
        if summary is not None:
            infos = [(info.findtext(f"{ns}Text") or "").strip() for info in summary.iter(f"{ns}RunInfo")]
            runs.append((path.split("/")[-1], summary.get("outcome", "?"), infos))
        for result in root.iter(f"{ns}UnitTestResult"):
            if result.get("duration"):
                name = result.get("testName", "?")
                outcome = result.get("outcome", "?")
                rows.append((seconds(result.get("duration")), outcome, name))
                if outcome not in ("Passed", "NotExecuted"):
                    message = result.find(f"{ns}Output/{ns}ErrorInfo/{ns}Message")
                    failures.append((name, outcome, (message.text or "") if message is not None else ""))
                project = ".".join(name.split(".")[:3])
                start, end = moment(result.get("startTime")), moment(result.get("endTime"))
                first, last = spans.get(project, (start, end))
                spans[project] = (min(first, start), max(last, end))
    rows.sort(reverse=True)
    if spans:
        # When each project ran, from the first test's start: the run's length is the latest end.
        zero = min(first for first, _ in spans.values())
        print("== test projects, seconds from the first test's start")
        for project, (first, last) in sorted(spans.items(), key=lambda p: p[1][0]):
            print(f"{(first - zero).total_seconds():8.0f} to {(last - zero).total_seconds():5.0f}  {project}")
    print(f"== the {min(count, len(rows))} slowest of {len(rows)} tests (their own wall time; test projects and classes run side by side)")
    for took, outcome, name in rows[:count]:
        print(f"{took:8.1f} s  {outcome:<7} {name[:150]}")
    # Last, where a CI log's tail shows it: every test that did not pass, with the first lines of its message (a
    # run whose tests all passed can still fail: a test host that crashed after its last test; then this says so).
    outcomes = {}
    for _, outcome, _ in rows:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print("== outcomes: " + ", ".join(f"{n} {o.lower()}" for o, n in sorted(outcomes.items())))
    for file, outcome, infos in runs:
        if outcome != "Completed" or infos:
            print(f"== run {file}: {outcome}")
            for info in infos:
                for line in info.splitlines()[:8]:
                    print(f"   {line[:300]}")
    for name, outcome, message in failures:
        print(f"== {outcome}: {name}")
        for line in message.strip().splitlines()[:12]:
            print(f"   {line[:300]}")

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10)
