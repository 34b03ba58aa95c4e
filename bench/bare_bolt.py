"""The baseline for bench/slack_ack.py: a Bolt app whose /incident listener only acks,
served the same way the adapter serves (the bot's HTTP server, uvicorn with Bolt behind a
Starlette route, for HTTP; Bolt's Socket Mode handler), so the difference measured is
the adapter's own work on the ack path.

`--flavour sync` (the default) is Bolt's `App`, the app Bolt's getting-started guide
writes; `--flavour async` is Bolt's `AsyncApp`, run on the server's event loop as the
bot's HTTP mode runs (HTTP only)."""

from __future__ import annotations

import argparse
import os
import signal
import threading

from slack_bolt import Ack, App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.routing import Route

from adapters.slack.http import SlackEndpoint
from adapters.slack.settings import EVENTS_PATH
from adapters.web.server import HttpServer, Listener
from bot.telemetry import NoTelemetry


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["http", "socket"], required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--flavour", choices=["sync", "async"], default="sync")
    args = parser.parse_args()
    if args.flavour == "async" and args.mode != "http":
        parser.error("--flavour async is for --mode http")
    secret = os.environ.get("SLACK_SIGNING_SECRET", "")
    app: App | AsyncApp
    if args.flavour == "async":
        app = AsyncApp(client=AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"],
                                             base_url=args.api_url), signing_secret=secret)

        @app.command("/incident")
        async def only_ack_async(ack: AsyncAck) -> None:
            await ack()
    else:
        client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=args.api_url)
        app = App(client=client, signing_secret=secret,
                  request_verification_enabled=args.mode == "http")

        @app.command("/incident")
        def only_ack(ack: Ack) -> None:
            ack()

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    if args.mode == "socket":
        assert isinstance(app, App)
        handler = SocketModeHandler(app, app_token=os.environ["SLACK_APP_TOKEN"])
        handler.connect()  # type: ignore[no-untyped-call]
        stopping.wait()
        handler.close()  # type: ignore[no-untyped-call]
        return
    endpoint = SlackEndpoint(telemetry=NoTelemetry())
    endpoint.serve(app)
    server = HttpServer(
        app=Starlette(routes=[Route(EVENTS_PATH, endpoint.handle, methods=["POST"])]),
        listeners=[Listener("127.0.0.1", args.port, "--port")],
    )
    server.start()
    stopping.wait()
    server.stop()


if __name__ == "__main__":
    main()
