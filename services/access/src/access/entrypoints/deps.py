"""FastAPI dependencies of access's routes, as `Annotated` aliases (one place for all)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from access.handlers import AccessHandlers, AccountHandlers, GrantHandlers, ReportHandlers
from chorus_kit.web import CurrentPrincipal


def _mirrors(request: Request) -> AccessHandlers:
    handlers: AccessHandlers = request.app.state.handlers
    return handlers


def _accounts(request: Request) -> AccountHandlers:
    handlers: AccountHandlers = request.app.state.accounts
    return handlers


def _grants(request: Request) -> GrantHandlers:
    handlers: GrantHandlers = request.app.state.grants
    return handlers


def _reports(request: Request) -> ReportHandlers:
    handlers: ReportHandlers = request.app.state.reports
    return handlers


Mirrors = Annotated[AccessHandlers, Depends(_mirrors)]
Accounts = Annotated[AccountHandlers, Depends(_accounts)]
Grants = Annotated[GrantHandlers, Depends(_grants)]
Reports = Annotated[ReportHandlers, Depends(_reports)]

__all__ = ["Accounts", "CurrentPrincipal", "Grants", "Mirrors", "Reports"]
