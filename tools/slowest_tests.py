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
    rows, spans = [], {}
    for path in glob.glob(f"{folder}/**/*.trx", recursive=True):
        for result in ET.parse(path).getroot().iter(f"{ns}UnitTestResult"):
            if result.get("duration"):
                name = result.get("testName", "?")
                rows.append((seconds(result.get("duration")), result.get("outcome", "?"), name))
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

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10)
