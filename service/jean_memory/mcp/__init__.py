"""The MCP server: the memory tools over Streamable HTTP at `/mcp` (`server.py`) and over stdio for desktop
clients, forwarding to a running service (`stdio.py`); both list the tools of `tools.py`."""
