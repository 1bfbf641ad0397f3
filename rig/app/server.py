"""Start the app on a local port: no analytics, no share link, no assets from the internet."""
from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass


def _offline_gradio():
    """gradio imported with its analytics and update checks off (they would phone home)."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_TELEMETRY_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    import gradio as gr

    return gr


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_free(host: str, port: int) -> bool:
    """True when `port` can be bound on `host`, False when it is taken (OSError for a host that cannot be used)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


@dataclass
class Running:
    """A launched app: its URL and the Gradio Blocks (close() stops the server)."""

    url: str
    blocks: object
    engine: object

    def close(self) -> None:
        self.blocks.close()


def start(bundle=None, host: str = "127.0.0.1", port: int = 7860, open_browser: bool = False,
          size: int = 256, download_dir=None, bf16: bool = False, preview: str = "auto") -> Running:
    """Load the rig, build the page and serve it in a background thread; returns at once."""
    gr = _offline_gradio()
    from . import camera, live
    from .engine import Engine
    from .ui import build

    engine = Engine(bundle, size=size, bf16=bf16, preview=preview)
    blocks = build(engine, download_dir)
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    blocks.queue(default_concurrency_limit=1)
    _, url, _ = blocks.launch(server_name=host, server_port=int(port), inbrowser=open_browser, share=False,
                              prevent_thread_lock=True, quiet=True, show_error=False, ssr_mode=False,
                              mcp_server=False, pwa=False, theme=theme, footer_links=[],
                              allowed_paths=[str(blocks.download_dir)], enable_monitoring=False,
                              head=live.SCRIPT + camera.LINK)
    live.add_route(blocks.app, engine)
    camera.add_routes(blocks.app, engine, blocks.download_dir)
    return Running(url.replace("0.0.0.0", "127.0.0.1"), blocks, engine)
