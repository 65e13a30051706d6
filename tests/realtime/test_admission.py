"""A full node refuses new calls with a clear code instead of degrading every call."""

from __future__ import annotations

import pytest

from kallglot.core.errors import ServiceUnavailableError
from kallglot.realtime.admission import Admission


def test_refuses_past_capacity_and_frees_on_release() -> None:
    admission = Admission(max_calls=2)
    admission.admit("sess_a")
    admission.admit("sess_b")
    admission.admit("sess_a")  # idempotent
    with pytest.raises(ServiceUnavailableError) as refused:
        admission.admit("sess_c")
    assert refused.value.code == "capacity_exceeded"
    assert refused.value.retry_after is not None
    with pytest.raises(ServiceUnavailableError):
        admission.check_room()
    admission.release("sess_a")
    admission.check_room()
    admission.admit("sess_c")
    assert admission.live_calls == 2
