"""Small scored batches, and a local webhook receiver, for the CRM export tests."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd

from mqlml.columns import (
    GRADE,
    IS_MQL,
    LEAD_ID,
    POSITIVE,
    PROBABILITY,
    SCORE,
    TIER,
    reason_points,
    reason_text,
)
from mqlml.scoring.changes import compare

MONDAY = pd.Timestamp("2026-05-04T08:00:00Z")


def scored_frame(scores, ids=None, cutoff=50) -> pd.DataFrame:
    """A scored batch as ``mqlml score`` writes it: grades by score bands, MQL at ``cutoff``."""
    s = np.asarray(scores, dtype=np.int64)
    ids = ids if ids is not None else [f"L{i:03d}" for i in range(len(s))]
    grade = np.select([s >= 60, s >= 40, s >= 20], ["A", "B", "C"], "D")
    out = pd.DataFrame(
        {
            LEAD_ID: pd.Series(ids, dtype="str"),
            PROBABILITY: s / 100,
            SCORE: s,
            GRADE: pd.Series(grade, dtype="str"),
            IS_MQL: s >= cutoff,
            TIER: pd.Series(np.where(s >= cutoff, "mql", "nurture"), dtype="str"),
        }
    )
    for i in (1, 2, 3):
        out[reason_text(POSITIVE, i)] = pd.Series(
            [f"Visited the pricing page {i + k} times, recently" for k in range(len(s))],
            dtype="str",
        )
        out[reason_points(POSITIVE, i)] = 4.0 - i
    return out


def moments(frame, at=MONDAY) -> pd.Series:
    return pd.Series(at, index=frame.index)


def score_and_record(state, frame, at=MONDAY):
    changes = compare(frame, moments(frame, at), state.previous(frame[LEAD_ID]))
    state.record(changes, "demo/1")
    return changes


class Receiver:
    """A local HTTP server that records every request and answers from a script of
    statuses (then 200)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    {"headers": dict(self.headers), "body": json.loads(body)}
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mql"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
