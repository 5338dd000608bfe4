"""One grammar: the seed's lines, help generated from the commands, and no input that crashes it."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.core.errors import UsageError
from commands.core.grammar import tokenize
from commands.core.registry import grammar, parse

SEED_LINES = [
    "start TR-ORCH-001 --parallel --monitor --safe",
    "dashboard TR-ORCH-001",
    "health --agents all",
    "sync --checkpoint cp-2",
    "pause --stream stream-b-frontend",
    "reallocate --from agent-c1 --to stream-a-backend",
    "validate --checkpoint cp-3 --force",
    'stop --emergency --reason "Critical issue found"',
    "execute TR-ORCH-001 --start-now",
]


@pytest.mark.parametrize("line", SEED_LINES)
@pytest.mark.parametrize("front", ["cli", "slack"])
def test_the_seed_lines_parse_on_every_front(line, front):
    parsed = parse(tokenize(line), front)
    assert parsed.spec.name == line.split()[0].replace("dashboard", "status")


def test_the_same_words_parse_the_same_from_cli_and_slack():
    cli = parse(tokenize("pause stream-b --reason 'waiting on design'"), "cli")
    slack = parse(tokenize("pause stream-b --reason “waiting on design”"), "slack")
    assert vars(cli.args) == vars(slack.args)


def test_every_subcommand_of_commands_md_exists():
    names = set(grammar("cli").specs)
    assert {
        "start",
        "execute",
        "status",
        "dashboard",
        "health",
        "sync",
        "pause",
        "resume",
        "reallocate",
        "validate",
        "stop",
        "task",
        "metric",
        "event",
        "alerts",
        "ack",
        "resolve",
        "plan",
        "audit",
        "help",
    } <= names


def test_unknown_subcommands_suggest_the_closest():
    with pytest.raises(UsageError, match="did you mean `pause`"):
        parse(["paus", "stream-b"])


def test_bad_flags_show_the_usage():
    with pytest.raises(UsageError) as caught:
        parse(["stop", "--emergency"])
    assert "required: --reason" in caught.value.message
    assert caught.value.usage.startswith("usage: orchestrate stop")


def test_help_comes_from_the_commands(run):
    overview = run("help").body.text
    for name in ("start", "pause", "validate", "task", "audit"):
        assert f"\n  {name}" in overview
    detail = run("help validate").body.text
    assert "--checkpoint CP" in detail and "Privileged (leads only): --force: yes" in detail
    assert run("pause --help").body.text == run("help pause").body.text


def test_unclosed_quotes_are_a_usage_error():
    with pytest.raises(UsageError, match="close every quote"):
        tokenize('stop --reason "oops')


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "status",
                    "pause",
                    "task",
                    "start",
                    "validate",
                    "--force",
                    "--stream",
                    "--plan",
                    "-h",
                    "help",
                    "add",
                    "done",
                    "--limit",
                    "x",
                    "--checkpoint",
                    "plan",
                    "load",
                    "--reason",
                    "--",
                ]
            ),
            st.text(max_size=12),
        ),
        max_size=6,
    )
)
def test_any_tokens_parse_or_give_a_usage_error(tokens):
    try:
        parse(tokens, "slack")
    except UsageError as exc:
        assert exc.message


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_tokenizes_and_parses_or_gives_a_usage_error(text):
    try:
        parse(tokenize(text), "slack")
    except UsageError as exc:
        assert exc.message
