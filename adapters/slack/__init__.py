"""The Slack adapter: Bolt in Socket Mode or over HTTP, translating Slack payloads to the
core's neutral events and the core's replies to Slack Web API calls."""
