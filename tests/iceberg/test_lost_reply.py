"""A commit whose reply is lost: the catalog commits the run's snapshot, but the run never hears
it (the connection is dropped, or a gateway answers 502 instead). The run must find its snapshot
by its run id and not commit again: one snapshot, every row once, exit 0.

And a token that expires during a run: the catalog answers the commit 401; a run with client
credentials asks for a new token and commits.
"""

import http.client
import http.server
import re
import threading

import pytest

from conftest import EXIT_OK, RUN_ID, SAMPLE, Table, data_inputs, expected_rows, summary_of

COMMIT = re.compile(r"^/v1/[^/]+/namespaces/[^/]+/tables/[^/?]+$")


class LosesFirstCommitReply:
    """A proxy in front of the catalog that forwards every request, but after forwarding the
    first table commit answers it with `how`: `drop` closes the connection without a reply,
    `502` answers Bad Gateway."""

    def __init__(self, upstream_port: int, how: str):
        self.upstream_port, self.how = upstream_port, how
        self.commits = []  # the catalog's real answer to each commit
        self.tokens = 0  # token requests
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.tokens += self.path.startswith("/v1/oauth/tokens")
                if proxy.how == "401" and self.command == "POST" and COMMIT.match(self.path) \
                        and not proxy.commits:
                    proxy.commits.append(401)  # refused here, never forwarded: an expired token
                    self.send_response(401, "Unauthorized")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    reply = conn.getresponse()
                    data = reply.read()
                finally:
                    conn.close()
                if self.command == "POST" and COMMIT.match(self.path):
                    proxy.commits.append(reply.status)
                    if len(proxy.commits) == 1:
                        if proxy.how == "drop":
                            self.close_connection = True
                            return
                        self.send_response(502, "Bad Gateway")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                self.send_response(reply.status, reply.reason)
                for k, v in reply.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("how", ["drop", "502"])
def test_a_commit_whose_reply_is_lost_is_recognised_and_not_repeated(seaweed, sample, how):
    table = Table(seaweed)
    # The table exists first, so that the run's only commit is its snapshot.
    first = sorted(data_inputs(sample).values())[0]
    table.convert(first).expect(EXIT_OK)
    before = len(table.snapshots())
    proxy = LosesFirstCommitReply(seaweed.iceberg_port, how)
    try:
        table.catalog_uri = f"http://127.0.0.1:{proxy.port}"
        run = table.convert(SAMPLE, "-v").expect(EXIT_OK)
    finally:
        proxy.stop()
    assert proxy.commits[:1] == [200], f"the catalog should have committed the first attempt: {proxy.commits}"
    assert proxy.commits.count(200) == 1, f"the run committed again: {proxy.commits}"
    snapshots = table.snapshots()
    assert len(snapshots) == before + 1, [summary_of(s) for s in snapshots]
    assert summary_of(snapshots[-1])[RUN_ID] == run.summary["run_id"]
    assert table.rows() == expected_rows(data_inputs(sample))


def test_a_token_refused_during_a_run_is_granted_again_and_the_commit_made(seaweed, sample):
    table = Table(seaweed)
    first = sorted(data_inputs(sample).values())[0]
    table.convert(first).expect(EXIT_OK)
    before = len(table.snapshots())
    proxy = LosesFirstCommitReply(seaweed.iceberg_port, "401")
    try:
        table.catalog_uri = f"http://127.0.0.1:{proxy.port}"
        run = table.convert(SAMPLE, "-v").expect(EXIT_OK)
    finally:
        proxy.stop()
    assert proxy.commits == [401, 200], proxy.commits
    assert proxy.tokens == 2, f"one token at the start, one after the 401: {proxy.tokens}"
    snapshots = table.snapshots()
    assert len(snapshots) == before + 1
    assert summary_of(snapshots[-1])[RUN_ID] == run.summary["run_id"]
    assert table.rows() == expected_rows(data_inputs(sample))
