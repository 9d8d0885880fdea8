"""The RoleCapabilities model and the RoleReport that every source fills (no server needed: pure logic)."""

from __future__ import annotations

import pytest

from connectors.base import probe_role, run_connection_test
from connectors.capabilities import CAPABILITIES, MAX_LISTED, RoleCapabilities, RoleReport, refused
from connectors.errors import NetworkError, NotFoundError, PermissionDeniedError, QueryCanceledError, QueryError


def test_read_only_is_false_once_anything_is_held_true_only_when_all_are_known_false() -> None:
    assert RoleCapabilities().read_only is None
    assert RoleCapabilities(**{name: False for name in CAPABILITIES}).read_only is True
    for name in CAPABILITIES:
        assert RoleCapabilities(**{**{n: False for n in CAPABILITIES}, name: True}).read_only is False
        assert RoleCapabilities(**{**{n: False for n in CAPABILITIES}, name: None}).read_only is None
    assert RoleCapabilities(can_write=True).read_only is False  # True wins over unknowns


def test_read_only_session_does_not_make_a_role_read_only() -> None:
    assert RoleCapabilities(read_only_session=True).read_only is None
    assert RoleCapabilities(can_write=True, read_only_session=True).read_only is False


def test_dump_carries_read_only_and_validates_back() -> None:
    report = RoleCapabilities(principal="r", can_write=True, write_grants=["INSERT on table t"])
    dumped = report.model_dump(mode="json")
    assert dumped["read_only"] is False and dumped["write_grants"] == ["INSERT on table t"]
    assert RoleCapabilities.model_validate(dumped) == report


def test_report_grants_once_denies_the_rest_and_keeps_true_over_a_later_deny() -> None:
    report = RoleReport(principal="r")
    report.grant("can_write", "INSERT on table t")
    report.grant("can_write", "INSERT on table t")
    report.deny(*CAPABILITIES)
    result = report.result()
    assert result.can_write is True and result.superuser is False
    assert result.findings == ["can_write: INSERT on table t"] and result.write_grants == ["INSERT on table t"]
    assert result.beyond_read() == ["can_write"] and result.unknown() == []


def test_grant_each_names_the_first_and_counts_the_rest() -> None:
    report = RoleReport()
    report.grant_each("can_write", [f"INSERT on table t{i}" for i in range(MAX_LISTED + 3)])
    report.grant_each("can_read_server_files", ["a"], total=4)
    result = report.result()
    assert len(result.write_grants) == MAX_LISTED + 1 and result.write_grants[-1] == "and 3 more"
    assert "can_read_server_files: and 3 more" in result.findings
    empty = RoleReport()
    empty.grant_each("can_write", [], total=0)
    assert empty.result().can_write is None and empty.result().findings == []


def test_cannot_say_leaves_unknown_as_none_unless_something_grants_it() -> None:
    report = RoleReport()
    report.deny("can_write")
    report.grant("can_manage_roles", "may grant")
    report.cannot_say("can_signal_sessions", "not visible")
    report.cannot_say("can_manage_roles", "not visible either")
    result = report.result()
    assert (result.superuser, result.can_write, result.can_manage_roles, result.can_signal_sessions) == (None, False, True, None)
    assert "can_signal_sessions unknown: not visible" in result.findings


def test_refusals_are_told_apart_from_failures_of_the_connection() -> None:
    assert refused(QueryError("x")) and refused(PermissionDeniedError("x")) and refused(NotFoundError("x"))
    assert not refused(NetworkError("x")) and not refused(QueryCanceledError("x")) and not refused(ValueError("x"))


def test_a_probe_that_raises_a_connector_error_leaves_the_test_ok() -> None:
    def boom() -> RoleCapabilities:
        raise PermissionDeniedError("permission denied for view pg_roles", code="permission_denied")

    test = run_connection_test(lambda: "1.0", boom)
    assert test.ok is True and test.server_version == "1.0"
    assert test.role is not None and test.role.read_only is None
    assert test.role.findings == ["the role's privileges could not be read (permission_denied): permission denied for view pg_roles"]
    assert probe_role(None).findings == ["this connector does not report its role's privileges"]


def test_a_bug_in_a_probe_is_not_swallowed() -> None:
    def bug() -> RoleCapabilities:
        raise KeyError("rolsuper")

    with pytest.raises(KeyError):
        run_connection_test(lambda: None, bug)


def test_a_failed_round_trip_never_asks_for_the_role() -> None:
    asked = []

    def fail() -> str:
        raise NetworkError("down")

    test = run_connection_test(fail, lambda: asked.append(1) or RoleCapabilities())  # type: ignore[func-returns-value]
    assert test.ok is False and test.role is None and asked == []
