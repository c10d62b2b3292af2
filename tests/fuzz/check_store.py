"""After a fuzz run: every stored session and message must still read back (no row that breaks a read)."""

from __future__ import annotations

from typing import Any


def read_back(server: Any) -> dict[str, Any]:
    """Page through every session, then every message of each (and its JSON export).

    Returns counts and the reads that did not answer 200, so a caller can assert on them.
    """
    sessions: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    offset = 0
    while True:
        reply = server.get("sessions", params={"limit": 500, "offset": offset})
        if reply.status_code != 200:
            bad.append(
                {"read": f"sessions?offset={offset}", "status": reply.status_code, "body": reply.text[:500]}
            )
            break
        page = reply.json()["sessions"]
        sessions.extend(page)
        if len(page) < 500:
            break
        offset += len(page)
    messages = 0
    for session in sessions:
        sid = session["id"]
        for path in (f"sessions/{sid}", f"sessions/{sid}/export"):
            reply = server.get(path)
            if reply.status_code != 200:
                bad.append({"read": path, "status": reply.status_code, "body": reply.text[:500]})
        before = None
        while True:
            params = {"limit": 1000, **({"before": before} if before is not None else {})}
            reply = server.get(f"sessions/{sid}/messages", params=params)
            if reply.status_code != 200:
                bad.append(
                    {
                        "read": f"sessions/{sid}/messages",
                        "status": reply.status_code,
                        "body": reply.text[:500],
                    }
                )
                break
            data = reply.json()
            messages += len(data["messages"])
            if not data["has_more"] or not data["messages"]:
                break
            before = data["messages"][0]["id"]
    return {"sessions": len(sessions), "messages": messages, "failed_reads": bad}
