"""``phrchain claims review``: a bad --approve is a usage error, not a traceback."""

from __future__ import annotations

import argparse

import pytest

from phrchain.cli.claims import cmd_review
from phrchain.cli.common import CliError


@pytest.mark.parametrize("amount", ["12.5", "ten", "-3"])
def test_review_refuses_an_approve_that_is_not_minor_units(amount: str) -> None:
    args = argparse.Namespace(claim="ab" * 16, approve=amount, deny=None, note=None)
    with pytest.raises(CliError, match="approve"):
        cmd_review(args)
