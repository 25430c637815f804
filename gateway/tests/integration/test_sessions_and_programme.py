"""Signing in through the gateway, and the staff programme: policy, training and
certification, survey, opinion leaders."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from chorus_kit.events.identity import Role
from tests.support.api import hire

PASSWORD = "correct horse battery staple"
SESSION = """__typename
  ... on Session { accessToken refreshToken personId expiresIn tokenType }
  ... on Problem { code }"""


def _person(stack, n, **fields):
    response = hire(stack.identity.url, stack.token(), n, **fields)
    assert response.status_code == 201, response.text
    return response.json()


def test_sign_in_refresh_and_sign_out(stack, gql) -> None:
    admin = stack.token()
    person = _person(stack, "signer")
    set_password = gql.data(
        """mutation($id: ID!, $p: String!) {
          setEmployeePassword(id: $id, password: $p) {
            __typename ... on PasswordSet { employeeId } } }""",
        {"id": person["id"], "p": PASSWORD},
        token=admin,
    )["setEmployeePassword"]
    assert set_password == {"__typename": "PasswordSet", "employeeId": person["id"]}

    sign_in = (
        f"mutation($e: String!, $p: String!) {{ signIn(email: $e, password: $p) {{ {SESSION} }} }}"
    )
    wrong = gql.post(sign_in, {"e": person["email"], "p": "not the password"}).json()
    assert wrong["data"]["signIn"]["__typename"] == "SignInRefused"
    session = gql.post(sign_in, {"e": person["email"], "p": PASSWORD}).json()["data"]["signIn"]
    assert session["__typename"] == "Session" and session["personId"] == person["id"]
    assert session["tokenType"] == "Bearer" and 0 < session["expiresIn"] <= 900

    # Identity's own signing key (not the dev key): the gateway fetches it by kid.
    me = gql.data("{ me { subject employee { email } } }", token=session["accessToken"])
    assert me["me"] == {"subject": person["id"], "employee": {"email": person["email"]}}

    refresh = f"mutation($r: String!) {{ refreshSession(refreshToken: $r) {{ {SESSION} }} }}"
    renewed = gql.post(refresh, {"r": session["refreshToken"]}).json()["data"]["refreshSession"]
    assert renewed["__typename"] == "Session"
    assert renewed["refreshToken"] != session["refreshToken"]
    out = gql.post(
        "mutation($r: String!) { signOut(refreshToken: $r) { __typename } }",
        {"r": renewed["refreshToken"]},
    ).json()["data"]["signOut"]
    assert out == {"__typename": "SignedOut"}
    ended = gql.post(refresh, {"r": renewed["refreshToken"]}).json()["data"]["refreshSession"]
    assert ended["__typename"] == "SignInRefused"


def test_policy_training_and_certification(stack, gql) -> None:
    admin = stack.token()
    person = _person(stack, "learner", roles=[{"role": "employee", "unit": "company"}])
    theirs = stack.token(Role.EMPLOYEE, "company", sub=person["id"])
    published = gql.data(
        """mutation { publishPolicy(input: {title: "Social media", bodyMarkdown: "Be kind."}) {
            __typename ... on PolicyVersion { version title } ... on Problem { code } } }""",
        token=admin,
    )["publishPolicy"]
    assert published["__typename"] == "PolicyVersion", published
    version = published["version"]
    current = gql.data(
        "{ currentPolicy { ... on PolicyVersion { version bodyMarkdown } } }", token=theirs
    )
    assert current["currentPolicy"] == {"version": version, "bodyMarkdown": "Be kind."}
    mine = "{ myPolicyAcknowledgement { ... on PolicyAcknowledgement { version state } } }"
    assert gql.data(mine, token=theirs)["myPolicyAcknowledgement"]["state"] == "pending"
    acknowledged = gql.data(
        """mutation($v: Int!) { acknowledgePolicy(version: $v) {
            ... on PolicyAcknowledgement { state acknowledgedAt } } }""",
        {"v": version},
        token=theirs,
    )["acknowledgePolicy"]
    assert acknowledged["state"] == "acknowledged" and acknowledged["acknowledgedAt"]
    waiting = _person(stack, "not-yet")
    deadline = time.monotonic() + 60  # the list follows identity's own events: poll for it
    while True:
        pending = gql.data(
            """{ pendingPolicyAcknowledgements(first: 200) { __typename
                 ... on PendingAcknowledgements { version nodes { employeeId state } } } }""",
            token=admin,
        )["pendingPolicyAcknowledgements"]
        ids = {n["employeeId"] for n in pending["nodes"]}
        if waiting["id"] in ids or time.monotonic() > deadline:
            break
    assert pending["version"] == version
    assert waiting["id"] in ids and person["id"] not in ids
    refused = gql.data("{ pendingPolicyAcknowledgements { __typename } }", token=theirs)[
        "pendingPolicyAcknowledgements"
    ]
    assert refused["__typename"] == "Forbidden"

    module = gql.data(
        """mutation { createTrainingModule(input: {title: "Basics", requiredForRoles: [EMPLOYEE],
            passScore: 80}) {
            __typename ... on TrainingModule { id } ... on Problem { code } } }""",
        token=admin,
    )["createTrainingModule"]
    assert module["__typename"] == "TrainingModule", module
    certification = gql.data(
        """mutation($m: ID!, $e: ID!) { recordTrainingCompletion(moduleId: $m, employeeId: $e,
            score: 90) { ... on Certification { certified completions { passed } } } }""",
        {"m": module["id"], "e": person["id"]},
        token=admin,
    )["recordTrainingCompletion"]
    assert certification["completions"] == [{"passed": True}]
    mine = gql.data(
        """{ myCertification { ... on Certification { employeeId certified missingModules
             employee { email } } } }""",
        token=theirs,
    )["myCertification"]
    assert mine["employeeId"] == person["id"] and mine["missingModules"] == []
    assert mine["employee"] == {"email": person["email"]}
    refused = gql.data(
        """mutation($m: ID!, $e: ID!) { recordTrainingCompletion(moduleId: $m, employeeId: $e,
            score: 90) { __typename } }""",
        {"m": module["id"], "e": person["id"]},
        token=theirs,
    )["recordTrainingCompletion"]
    assert refused["__typename"] == "Forbidden"


def test_survey_and_opinion_leaders(stack, gql) -> None:
    admin = stack.token()
    people = [_person(stack, f"voter{n}") for n in range(2)]
    tokens = [stack.token(Role.EMPLOYEE, "company", sub=p["id"]) for p in people]
    create = """mutation($min: Int!) { createSurvey(input: {title: "Mood", questions: [
        {text: "How is it going?", choices: ["well", "badly"]}], minResponses: $min}) {
        __typename ... on Survey { id status questions { choices } }
        ... on Problem { code } ... on ValidationFailed { fields { path } } } }"""
    too_few = gql.data(create, {"min": 1}, token=admin)["createSurvey"]
    assert too_few["__typename"] == "ValidationFailed"
    assert any("min_responses" in f["path"] for f in too_few["fields"])
    survey = gql.data(create, {"min": 5}, token=admin)["createSurvey"]
    assert survey["__typename"] == "Survey", survey
    answered = gql.data(
        """mutation($id: ID!) { answerSurvey(id: $id, choices: [0]) { __typename } }""",
        {"id": survey["id"]},
        token=tokens[0],
    )["answerSurvey"]
    assert answered == {"__typename": "SurveyAnswered"}
    again = gql.data(
        """mutation($id: ID!) { answerSurvey(id: $id, choices: [1]) { __typename } }""",
        {"id": survey["id"]},
        token=tokens[0],
    )["answerSurvey"]
    assert again["__typename"] == "Conflict"
    progress = gql.data(
        "query($id: ID!) { surveyProgress(id: $id) { ... on SurveyProgress { responses } } }",
        {"id": survey["id"]},
        token=admin,
    )["surveyProgress"]
    assert progress == {"responses": 1}
    listed = gql.data("{ surveys { ... on Surveys { items { id } } } }", token=tokens[1])
    assert {"id": survey["id"]} in listed["surveys"]["items"]

    closes = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    window = gql.data(
        """mutation($c: DateTime!) { openNominationWindow(input: {closesAt: $c, threshold: 1}) {
            __typename ... on NominationWindow { id phase } ... on Problem { code } } }""",
        {"c": closes},
        token=admin,
    )["openNominationWindow"]
    assert window["__typename"] == "NominationWindow" and window["phase"] == "open", window
    ballot = gql.data(
        """mutation($w: ID!, $n: [ID!]!) { castBallot(windowId: $w, nominees: $n) {
            ... on Ballot { nominees } ... on Problem { code } } }""",
        {"w": window["id"], "n": [people[1]["id"]]},
        token=tokens[0],
    )["castBallot"]
    assert ballot == {"nominees": [people[1]["id"]]}
    counts = gql.data(
        """query($w: ID!) { nominationCounts(windowId: $w) {
            __typename ... on NominationCounts { items { employeeId nominations } } } }""",
        {"w": window["id"]},
        token=admin,
    )["nominationCounts"]
    assert counts["items"] == [{"employeeId": people[1]["id"], "nominations": 1}]
    closed = gql.data(
        """mutation($w: ID!) { closeNominationWindow(windowId: $w) {
            ... on NominationWindow { phase } } }""",
        {"w": window["id"]},
        token=admin,
    )["closeNominationWindow"]
    assert closed == {"phase": "closed"}
    leaders = gql.data(
        """query($w: ID!) { opinionLeaders(windowId: $w) {
            ... on OpinionLeaders { leaders { employeeId employee { email } } } } }""",
        {"w": window["id"]},
        token=admin,
    )["opinionLeaders"]
    assert leaders["leaders"] == [
        {"employeeId": people[1]["id"], "employee": {"email": people[1]["email"]}}
    ]
