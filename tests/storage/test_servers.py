"""The harness's own servers: whatever credentials a session draws, the server starts and
enforces exactly those. (A secret key drawn by `secrets.token_urlsafe` begins with `-` once in 64
sessions; passed as a separate argument, s3s-fs's clap read it as a flag and every s3s-fs test of
that session failed.)"""

import pytest
from botocore.exceptions import ClientError

from conftest import LOGS, S3sFs


@pytest.mark.parametrize("secret_key", ["-e" + "x" * 38, "-6" + "y" * 38, "--secret-key", "-"])
def test_s3s_fs_starts_with_a_secret_key_that_begins_with_a_dash(tmp_path, secret_key):
    server = S3sFs(tmp_path)
    server.secret_key = secret_key
    server.create_bucket(LOGS)
    server.start()
    try:
        client = server.client()
        client.put_object(Bucket=LOGS, Key="probe", Body=b"dash")
        assert client.get_object(Bucket=LOGS, Key="probe")["Body"].read() == b"dash"

        # The key in force is the one drawn, not a default: another key is refused.
        server._client, drawn = None, server.secret_key
        server.secret_key = "not" + drawn
        with pytest.raises(ClientError) as refused:
            server.client().get_object(Bucket=LOGS, Key="probe")
        assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch", refused.value.response
    finally:
        server.stop()
