#!/usr/bin/env python3
"""Counts the requests of one client in a window of a kube-apiserver audit log (JSON lines).

Usage: audit_window.py AUDIT_LOG FIRST_LINE LAST_LINE USER_AGENT_PREFIX

Reads lines FIRST_LINE+1 .. LAST_LINE (line counts taken before and after the measured command),
keeps the ResponseComplete events whose userAgent starts with the prefix and prints one JSON
object: writes (create/update/patch/delete that were persisted), dry_run (server-side dry-run
writes), reads (get/list/watch), the sum of the server's time for them in seconds
(requestReceived -> ResponseComplete), the same counts by "verb resource", and `others`: requests
of every other client in the window (controllers), to show the background load.
"""
import json
import sys
from collections import Counter
from datetime import datetime

WRITES = {"create", "update", "patch", "delete", "deletecollection"}
READS = {"get", "list", "watch"}


def ts(s):
    # 2026-11-30T05:34:10.123456Z: fromisoformat accepts the Z suffix since Python 3.11.
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def main():
    log, first, last, ua = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    out = {"writes": 0, "dry_run": 0, "reads": 0, "server_s": 0.0, "others": 0}
    by = Counter()
    with open(log, encoding="utf-8") as f:
        for i, line in enumerate(f, start=1):
            if i <= first:
                continue
            if i > last:
                break
            e = json.loads(line)
            if e.get("stage") != "ResponseComplete":
                continue
            if not (e.get("userAgent") or "").startswith(ua):
                out["others"] += 1
                continue
            verb = e.get("verb", "")
            dry = "dryRun=All" in e.get("requestURI", "")
            if verb in WRITES:
                out["dry_run" if dry else "writes"] += 1
            elif verb in READS:
                out["reads"] += 1
            res = (e.get("objectRef") or {}).get("resource", "-")
            by[f"{verb}{' (dry-run)' if dry else ''} {res}"] += 1
            out["server_s"] += (ts(e["stageTimestamp"]) - ts(e["requestReceivedTimestamp"])).total_seconds()
    out["server_s"] = round(out["server_s"], 3)
    out["by"] = dict(sorted(by.items()))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
