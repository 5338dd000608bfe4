"""The Home tab of a big plan: within Slack's 100 blocks of a view whoever opens it, and its
"Show more" buttons page in place. On a plan generated as the benchmark's (bench/generate.py),
in a real SQLite store, drawn by the bot's own Home code (bot/home.py)."""

import json

import pytest
from slack_sdk.models.views import View

from bench.generate import build_plan, write_document
from bot.home import home_view
from bot.respond import SlackFront
from commands.core.dispatch import execute
from commands.core.grammar import tokenize
from models.db.store import make_engine, upgrade
from tests.clock import paris
from tests.conftest import EXAMPLE_PLAN
from tests.slack_app import OPERATOR, texts

LEAD = "U0LEAD0001"
BUSY = "U00100BENCH"  # an agent of stream 1 in the generated plan, made the person of 30 agents here


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    path = tmp_path_factory.mktemp("home") / "big.yml"
    plan = build_plan(streams=60, agents_per_stream=10, tasks_per_agent=8)
    for agent in list(plan["agents"].values())[2:31]:  # with agent-01-01, already theirs: 30
        agent["slack-user"] = BUSY  # one person who is many agents (each agent's own queue of tasks)
    plan["agents"]["agent-01-02"]["slack-user"] = LEAD  # the lead is an agent of the plan too
    write_document(path, plan)
    engine = make_engine(f"sqlite:///{path.with_suffix('.db')}")
    upgrade(engine)
    execute(engine, ["plan", "load", str(path)], OPERATOR)
    execute(engine, ["start", plan["id"]], OPERATOR)
    yield SlackFront(engine)
    engine.dispose()


def valid_home(view: dict) -> dict:
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    View(**view).to_dict()  # slack_sdk's validators: Slack would take it
    return view


def button_values(view: dict, action_id: str) -> list[str]:
    return [
        e["value"]
        for b in view["blocks"]
        for e in [b.get("accessory") or {}, *b.get("elements", [])]
        if e.get("action_id", "").split(":")[0] == action_id  # made unique in the view: NAME, NAME:2…
    ]


def test_a_lead_who_is_also_an_agent_sees_both_within_100_blocks_and_pages_the_dashboard_in_place(front):
    first = valid_home(home_view(front, LEAD))
    shown = texts(first["blocks"])
    assert "Your tasks in BENCH-LARGE-001* as *agent-01-02*" in shown
    assert "streams 1–20 of 60" in shown and len(button_values(first, "stream_pause")) == 20
    [more] = [json.loads(v) for v in button_values(first, "page_more") if json.loads(v)["offset"]]
    second = valid_home(home_view(front, LEAD, dashboard=(more["plan"], more["offset"])))
    assert "streams 21–40 of 60" in texts(second["blocks"])
    assert "Your tasks in BENCH-LARGE-001" in texts(second["blocks"])  # the rest of the tab stays


def test_one_person_of_thirty_agents_gets_what_fits_and_is_told_how_to_see_the_rest(front):
    view = valid_home(home_view(front, BUSY))
    shown = texts(view["blocks"])
    drawn = shown.count("Your tasks in BENCH-LARGE-001")
    assert 1 <= drawn < 30
    left_out = f"{30 - drawn} more task lists did not fit here (agent-0"
    assert left_out in shown and "): `/orchestrate task list --agent AGENT --plan BENCH-LARGE-001` shows each" in shown
    mine = execute(front.engine, ["mine"], front.invocation({"id": BUSY}, None), audited=False)
    assert len(mine.body.agents) == 30  # the command has them all


def test_an_agents_long_queue_pages_in_place(front):
    view = valid_home(home_view(front, LEAD))
    assert "tasks 1–6 of 8" in texts(view["blocks"])
    [more] = [json.loads(v) for v in button_values(view, "home_tasks_page")]
    assert more == {"plan": "BENCH-LARGE-001", "agent": "agent-01-02", "from": 6}
    page = valid_home(home_view(front, LEAD, tasks=(more["plan"], more["agent"], more["from"])))
    assert "tasks 7–8 of 8" in texts(page["blocks"])
    [back] = [json.loads(v) for v in button_values(page, "home_tasks_page")]
    assert back["from"] == 0


def test_a_stranger_in_a_big_workspace_sees_how_to_join(front):
    view = valid_home(home_view(front, "U0NOBODY01"))
    assert "You take part in no plan yet" in texts(view["blocks"])
    assert "*BENCH-LARGE-001*" in texts(view["blocks"]) and "<@U0LEAD0001>" in texts(view["blocks"])


def test_mine_as_a_message_fits_one_and_names_the_agents_left_out(front):
    from bot.blocks import render
    from tests.fake_slack import MAX_MESSAGE_BLOCKS, _block_errors

    reply = execute(front.engine, ["mine"], front.invocation({"id": BUSY}, None), audited=False)
    blocks = render(reply)
    assert _block_errors(blocks, MAX_MESSAGE_BLOCKS, "/blocks") == []
    shown = texts(blocks)
    drawn = shown.count("Your tasks in BENCH-LARGE-001")
    assert f"and {30 - drawn} more of your agents (agent-0" in shown
    assert "`/orchestrate task list --agent AGENT --plan PLAN` shows each one's tasks" in shown


def test_mine_at_the_terminal_says_where_it_works():
    from commands.core.errors import CommandError

    engine = make_engine("sqlite://")
    upgrade(engine)
    with pytest.raises(CommandError, match=r"run `/orchestrate mine` in Slack; here, `plan list`"):
        execute(engine, ["mine"], OPERATOR)
    engine.dispose()


# --- the burn-up so far, on a lead's dashboard (issue 20) ------------------------------------------


def burnup_home() -> tuple[SlackFront, dict]:
    """The example plan (Mon–Fri 09:00–17:00 Paris) started Monday 5 January 2026 at 09:00; T1 (20 h) done
    Wed 7 13:00 and T9 (20 h) Wed 7 17:00; the lead opens Home on Thursday 8 at 10:00."""
    engine = make_engine("sqlite://")
    upgrade(engine)
    for at, line in [
        (paris(5, 9), f"plan load {EXAMPLE_PLAN}"),
        (paris(5, 9), "start TR-ORCH-001"),
        (paris(5, 9), "task start T1"),
        (paris(5, 9), "task start T9"),
        (paris(7, 13), "task done T1"),
        (paris(7, 17), "task done T9"),
    ]:
        execute(engine, tokenize(line), OPERATOR, now=at)
    front = SlackFront(engine)
    return front, home_view(front, LEAD, now=paris(8, 10))


def test_a_lead_reads_the_plans_burn_up_so_far_under_its_overall_progress():
    front, view = burnup_home()
    shown = [b.get("text", {}).get("text", "") for b in valid_home(view)["blocks"]]
    [burnup] = [text for text in shown if text.startswith("*Burn-up so far*")]
    # Done: T1 + T9 = 40 h of 480 h (each stream 160 h) = 8%; 40 / 480 × 18 = 1.5 → 2 of the bar's 18 cells.
    # Planned by Thu 8's close (W32): T1 T9 T13 T17 T21 due at W20 (5 × 20 h) and T5 due at W21h20m (21.33 h)
    # = 121.33 h = 25%, 4.55 → 5 cells; T2 T6 T10 … fall due at W40 and later. Behind: 121.33 − 40 = 81.33 h.
    assert burnup == (
        "*Burn-up so far* (of 480 h of estimate)\n"
        "`██░░░░░░░░░░░░░░░░` done 40 h (8%)\n"
        "`█████░░░░░░░░░░░░░` planned 121.3 h (25%)\n"
        ":warning: 81.3 h behind plan (by Thu 08 Jan's close)"
    )
    kinds = [b["type"] for b in view["blocks"]]
    overall = next(n for n, text in enumerate(shown) if text.startswith("*Overall*"))
    assert shown[overall + 1] == burnup and kinds[overall + 2] == "divider"  # under the overall progress
    front.engine.dispose()
