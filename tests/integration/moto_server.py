"""moto's standalone server (``moto[server]``), started by the test on a free port: AWS's own wire
formats on 127.0.0.1. IAM checks are on after the first three actions, which create the one user
whose keys the tests sign with, so wrong credentials are refused as AWS refuses them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx

from tests.integration.live import free_port

SETUP_ACTIONS = 3  # create_user, put_user_policy, create_access_key


class MotoServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.key_id = self.secret = ""

    def start(self, timeout: float = 60.0) -> MotoServer:
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(SETUP_ACTIONS))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(f"{self.url}/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        try:
            self._user()
        except Exception:
            self.stop()
            raise
        return self

    def client(self, service: str, region: str = "eu-west-1", **keys):
        import boto3  # moto[server] brings it: the test's side only, to put data the way AWS users do
        from botocore.config import Config

        # moto checks the signature of a gzipped PutMetricData against the unzipped body: send it plain
        return boto3.client(service, region_name=region, endpoint_url=self.url, config=Config(disable_request_compression=True),
                            aws_access_key_id=keys.get("key_id", self.key_id or "setup"),
                            aws_secret_access_key=keys.get("secret", self.secret or "setup"))

    def _user(self) -> None:
        iam = self.client("iam", region="us-east-1")
        iam.create_user(UserName="shiplane")
        # moto checks "monitoring:GetMetricData" where AWS checks "cloudwatch:GetMetricData": allow all here
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_user_policy(UserName="shiplane", PolicyName="metrics", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="shiplane")["AccessKey"]
        self.key_id, self.secret = key["AccessKeyId"], key["SecretAccessKey"]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
