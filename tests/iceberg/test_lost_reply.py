"""A commit whose reply is lost: the catalog commits the run's snapshot, but the run never hears
it (the connection is dropped, or a gateway answers 502 instead). The run must find its snapshot
by its run id and not commit again: one snapshot, every row once, exit 0.

And a token that expires during a run: the catalog answers the commit 401; a run with client
credentials asks for a new token and commits.
"""

import pytest

from conftest import EXIT_OK, RUN_ID, SAMPLE, ForwardingProxy, Table, data_inputs, expected_rows, summary_of


class LosesFirstCommitReply(ForwardingProxy):
    """A proxy in front of the catalog that forwards every request, but after forwarding the
    first table commit answers it with `how`: `drop` closes the connection without a reply,
    `502` answers Bad Gateway; `401` answers the first commit 401 without forwarding it (an
    expired token)."""

    def __init__(self, upstream_port: int, how: str):
        self.how = how
        self.commits = []  # the catalog's real answer to each commit
        self.tokens = 0  # token requests
        super().__init__(upstream_port)

    def handle(self, method, path, body, headers):
        self.tokens += path.startswith("/v1/oauth/tokens")
        commit = method == "POST" and self.TABLE.match(path)
        if commit and self.how == "401" and not self.commits:
            self.commits.append(401)  # refused here, never forwarded
            return 401, "Unauthorized", [], b""
        answer = self.forward(method, path, body, headers)
        if commit:
            self.commits.append(answer[0])
            if len(self.commits) == 1:
                return None if self.how == "drop" else (502, "Bad Gateway", [], b"")
        return answer


@pytest.mark.parametrize("how", ["drop", "502"])
def test_a_commit_whose_reply_is_lost_is_recognised_and_not_repeated(seaweed, sample, how):
    table = Table(seaweed)
    # The table exists first, so that the run's only commit is its snapshot.
    first = sorted(data_inputs(sample).values())[0]
    table.convert(first).expect(EXIT_OK)
    before = len(table.snapshots())
    proxy = LosesFirstCommitReply(seaweed.iceberg_port, how)
    try:
        table.catalog_uri = proxy.uri
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
        table.catalog_uri = proxy.uri
        run = table.convert(SAMPLE, "-v").expect(EXIT_OK)
    finally:
        proxy.stop()
    assert proxy.commits == [401, 200], proxy.commits
    assert proxy.tokens == 2, f"one token at the start, one after the 401: {proxy.tokens}"
    snapshots = table.snapshots()
    assert len(snapshots) == before + 1
    assert summary_of(snapshots[-1])[RUN_ID] == run.summary["run_id"]
    assert table.rows() == expected_rows(data_inputs(sample))
