"""Fault points are named explicitly and never armed in production."""

import pytest

from chorus_kit.faults import FaultPoints
from chorus_kit.settings import ServiceSettings


def test_unknown_fault_point_is_refused() -> None:
    with pytest.raises(ValueError):
        FaultPoints("relay.before_pubilsh")


def test_faults_are_refused_in_production() -> None:
    with pytest.raises(ValueError):
        ServiceSettings(service_name="x", environment="production", faults="relay.before_publish")


def test_database_name_defaults_per_service() -> None:
    assert ServiceSettings(service_name="access").database == "chorus_access"
