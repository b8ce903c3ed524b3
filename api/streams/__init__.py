"""Progress streams of a task: the event feed, Server-Sent Events and WebSocket."""
