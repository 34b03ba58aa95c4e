"""The console: a chat with the bot in the terminal, and a transcript player."""
