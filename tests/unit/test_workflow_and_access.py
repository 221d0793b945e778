from __future__ import annotations

import pytest

from qorgau.domain import access, workflow
from qorgau.domain.access import POLICY, Action
from qorgau.domain.model import Principal, Role, Status
from qorgau.errors import AuthenticationRequired, Conflict, InvalidInput, PermissionDenied


@pytest.mark.parametrize("current", list(Status))
@pytest.mark.parametrize("wanted", list(Status))
def test_every_status_pair_follows_the_table(current: Status, wanted: Status) -> None:
    if wanted is Status.MERGED:
        with pytest.raises(InvalidInput):
            workflow.check_transition(current, wanted)
    elif wanted in workflow.TRANSITIONS[current]:
        workflow.check_transition(current, wanted)
    else:
        with pytest.raises(Conflict):
            workflow.check_transition(current, wanted)


def test_every_action_has_a_policy_and_analysts_see_only_aggregates() -> None:
    assert set(POLICY) == set(Action)
    analyst_actions = {a for a, roles in POLICY.items() if Role.ANALYST in roles}
    assert analyst_actions == {
        Action.REPORT_SUBMIT,
        Action.REPORT_TRACK,
        Action.TAXONOMY_READ,
        Action.STATS_READ,
        Action.SELF_READ,
        Action.LOGIN,
        Action.HEALTH,
        Action.REGISTER_READ,  # the register of blocked resources is public
        Action.PUBLIC_DATA,  # k-anonymous public dataset and page
        Action.ALERT_READ,  # published alerts are public
        # The monitoring report: aggregates, and notable cases described for publication.
        Action.REPORT_BUILD,
    }
    partner_actions = {a for a, roles in POLICY.items() if Role.PARTNER in roles}
    public = {a for a, roles in POLICY.items() if None in roles}
    assert partner_actions == {*public, Action.SELF_READ, Action.PARTNER_FEED}


def test_anonymous_gets_401_and_wrong_role_403() -> None:
    anon = Principal(None, None, 1)
    with pytest.raises(AuthenticationRequired):
        access.authorize(anon, Action.INCIDENT_LIST)
    with pytest.raises(PermissionDenied):
        access.authorize(Principal(5, Role.LEGAL, 1, "l"), Action.INCIDENT_MERGE)
    access.authorize(anon, Action.REPORT_SUBMIT)
