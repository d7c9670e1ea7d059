import pytest

from shiplane.deploys import states
from shiplane.errors import InvalidTransition


@pytest.mark.parametrize(
    "current,new,ok",
    [
        ("started", "succeeded", True),
        ("started", "failed", True),
        ("started", "cancelled", True),
        ("started", "rolled_back", False),
        ("succeeded", "rolled_back", True),
        ("succeeded", "failed", False),
        ("failed", "succeeded", False),
        ("cancelled", "started", False),
        ("rolled_back", "succeeded", False),
    ],
)
def test_it_follows_the_transition_table(current, new, ok):
    assert states.can_transition(current, new) is ok
    if ok:
        states.check_transition(current, new)
    else:
        with pytest.raises(InvalidTransition) as info:
            states.check_transition(current, new)
        assert info.value.extra == {"current": current, "requested": new}


def test_it_says_a_final_status_is_final():
    with pytest.raises(InvalidTransition, match="it is final"):
        states.check_transition("failed", "succeeded")
