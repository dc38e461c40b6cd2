"""The web console for CHWs and leads (``/console``), served by the API process (docs/console.md)."""
