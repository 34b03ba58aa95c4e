"""incident-bot's core: domain, command grammar, services and drafts. No platform code."""
