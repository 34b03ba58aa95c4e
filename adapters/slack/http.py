"""Slack's HTTP mode on the bot's one HTTP server: Bolt's request handling behind a
Starlette route (Bolt's own Starlette conversions). The bot's app is Bolt's asyncio app,
run on the server's event loop, whose listeners await the inbox; a (blocking) Bolt `App`
is run on the server's thread pool instead, so it never stalls that loop (the bare app
of bench/slack_ack.py)."""

from __future__ import annotations

import time

from slack_bolt import App
from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_bolt.async_app import AsyncApp
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from adapters.slack.workers import AckFirst
from bot.telemetry import Telemetry


class SlackEndpoint:
    """`POST /slack/events`; answers 503 until the adapter has started (Slack retries)."""

    def __init__(self, *, telemetry: Telemetry, ack_first: AckFirst | None = None) -> None:
        self._telemetry = telemetry
        self._ack_first = ack_first or AckFirst()
        self._app: App | AsyncApp | None = None

    @property
    def serving(self) -> bool:
        return self._app is not None

    def serve(self, app: App | AsyncApp) -> None:
        self._app = app

    def close(self) -> None:
        self._app = None

    async def handle(self, request: Request) -> Response:
        arrived = time.perf_counter()
        app = self._app
        if app is None:
            return PlainTextResponse(
                "incident-bot is starting; try again\n",
                status_code=503,
                headers={"retry-after": "1"},
            )
        with self._ack_first.acking():
            body = await request.body()
            # Bolt verifies the signature and runs the listener, which stores the request
            # and acks.
            if isinstance(app, AsyncApp):
                answer = await app.async_dispatch(to_async_bolt_request(request, body))
            else:  # blocking work: off the event loop
                answer = await run_in_threadpool(app.dispatch, to_bolt_request(request, body))
            response = to_starlette_response(answer)
        self._telemetry.slack_acked(seconds=time.perf_counter() - arrived)
        return response
