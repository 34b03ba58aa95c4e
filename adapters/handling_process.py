"""`python -m adapters.handling_process slack`: the child process that `incident-bot run`
starts to handle the Slack requests it acknowledged (adapters/slack/handoff.py says why).

It reads the same settings as its parent (the environment it inherited, the config
file), builds its own bot over the same database, and talks to the parent on its stdin
and stdout only; anything printed goes to stderr, the parent's log.
"""

from __future__ import annotations

import os
import signal
import sys

from adapters.bootstrap import build_bot, build_inbox
from adapters.config import ConfigError, load_settings
from adapters.logs import configure_logging
from adapters.slack.handling import handle_for_parent
from adapters.slack.handoff import TelemetryToParent, ToParent
from adapters.slack.settings import slack_settings
from bot.clock import SystemClock
from storage.database import normalise_url

# Added to the parent's nice value: the kernel then gives the acking process about ten
# times this one's share of a busy CPU (bench/slack_ack.py: the ack's p99 went from 1.3
# to 0.8 times a bare Bolt app's, side by side in one run).
NICENESS = 10


def main(argv: list[str]) -> int:
    if argv != ["slack"]:
        print("usage: python -m adapters.handling_process slack (started by incident-bot run)",
              file=sys.stderr)
        return 2
    # The pipe to the parent is stdout; whatever else would print there goes to stderr.
    to_parent = ToParent(os.fdopen(os.dup(sys.stdout.fileno()), "wb"))
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    # Ctrl-C in a terminal reaches the whole process group: the parent stops, then
    # closes our stdin, and we finish the event in hand.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Acks first: when both want a CPU, the acking process gets it and the handling
    # waits (Slack's 3 s limit is on the ack; the handling may lag a burst).
    os.nice(NICENESS)
    try:
        settings = load_settings()
        slack = slack_settings(os.environ)
    except ConfigError as problem:
        print(f"incident-bot (Slack handling): configuration: {problem}", file=sys.stderr)
        return 2
    if slack is None:
        print("incident-bot (Slack handling): SLACK_BOT_TOKEN is not set", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    bot = build_bot(
        settings, clock=SystemClock(), telemetry=TelemetryToParent(to_parent), quiet=True
    )
    handle_for_parent(
        bot=bot,
        settings=slack,
        inbox=build_inbox(settings),
        retry_after=settings.inbox_retry_after,
        requests=sys.stdin.buffer,
        parent=to_parent,
        # SQLite has one writer per file: the parent, which inserts, deletes too.
        done_in_parent=normalise_url(settings.database_url).get_backend_name() == "sqlite",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
