"""In-process fakes of the forges Shiplane talks to, as httpx transports that validate every request.

    fake = FakeGitHub()
    client = httpx.AsyncClient(transport=fake, base_url="https://api.github.com", headers=...)
    ...
    assert fake.violations == []

Each module's docstring says where its request and response shapes come from; base.py holds the shared
latency, fault-injection and instrumentation knobs.
"""

from tests.fakes.bitbucket import FakeBitbucket
from tests.fakes.github import FakeGitHub, make_app_keypair
from tests.fakes.gitlab import FakeGitLab

__all__ = ["FakeBitbucket", "FakeGitHub", "FakeGitLab", "make_app_keypair"]
