#!/usr/bin/env python3
"""Prints the N slowest tests of the .trx files in a folder (`dotnet test --logger trx`): CI's last lines say where its minutes go."""
import glob, sys, xml.etree.ElementTree as ET

def seconds(duration: str) -> float:
    h, m, s = duration.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)

def main(folder: str, count: int = 10) -> None:
    ns = "{http://microsoft.com/schemas/VisualStudio/TeamTest/2010}"
    rows = []
    for path in glob.glob(f"{folder}/**/*.trx", recursive=True):
        for result in ET.parse(path).getroot().iter(f"{ns}UnitTestResult"):
            if result.get("duration"):
                rows.append((seconds(result.get("duration")), result.get("outcome", "?"), result.get("testName", "?")))
    rows.sort(reverse=True)
    print(f"== the {min(count, len(rows))} slowest of {len(rows)} tests (their own wall time; test projects and classes run side by side)")
    for took, outcome, name in rows[:count]:
        print(f"{took:8.1f} s  {outcome:<7} {name[:150]}")

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10)
