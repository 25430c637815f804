"""Access's refusals as the gateway answers them: what the caller may not see is NotFound,
the same as what does not exist; a refusal of something they see stays Forbidden."""

from __future__ import annotations

from gateway.access.visibility import Kind, not_found, read_refusal
from gateway.clients.backend import BackendProblem
from gateway.problems import Forbidden, NotFound


def _refused(status: int, code: str, detail: str = "refused") -> BackendProblem:
    return BackendProblem(service="access", status=status, code=code, detail=detail)


def test_hidden_and_missing_are_the_same_not_found() -> None:
    hidden = read_refusal(_refused(403, "not_allowed_to_read", "you may not read"), Kind.ACCOUNT)
    missing = read_refusal(_refused(404, "account_not_found", "no account acc-1"), Kind.ACCOUNT)
    assert hidden == missing == not_found(Kind.ACCOUNT)
    assert isinstance(hidden, NotFound) and hidden.code == "account_not_found"
    assert "acc-1" not in hidden.message


def test_other_refusals_keep_their_meaning() -> None:
    role = read_refusal(_refused(403, "not_auditor"), Kind.ACCOUNT)
    assert isinstance(role, Forbidden) and role.code == "not_auditor"
    # A 404 about something else (the caller unknown to access) is not the account's.
    other = read_refusal(_refused(404, "employee_not_found"), Kind.ACCOUNT)
    assert isinstance(other, NotFound) and other.code == "employee_not_found"
