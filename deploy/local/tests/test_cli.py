"""The `chorus` CLI's own rules: no dev tokens in production, contracts kept in sync."""

from __future__ import annotations

import pytest

from chorus_local import cli


def test_dev_tokens_are_refused_in_production(monkeypatch, capsys) -> None:
    monkeypatch.setenv("CHORUS_ENVIRONMENT", "production")
    assert cli.main(["token", "--role", "admin", "--unit", "company"]) == 2
    assert "refused" in capsys.readouterr().out


def test_dev_token_carries_the_claim_shape(monkeypatch, tmp_path, capsys) -> None:
    import jwt

    monkeypatch.delenv("CHORUS_ENVIRONMENT", raising=False)
    monkeypatch.setattr(cli, "DEV_KEY", tmp_path / "key.pem")
    assert cli.main(["token", "--role", "auditor", "--unit", "sub-a"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert claims["roles"] == [{"role": "auditor", "unit": "sub-a"}]
    assert claims["exp"] - claims["iat"] <= 15 * 60


def test_committed_contracts_are_current() -> None:
    assert cli.main(["contracts", "--check"]) == 0


def test_unknown_role_is_refused() -> None:
    with pytest.raises(SystemExit):
        cli.main(["token", "--role", "overlord", "--unit", "company"])
