"""`facerig app`: a local web page to steer a face with sliders (Gradio), over rig.engine.

    from rig.app import start
    running = start(port=7860)        # loads the default rig bundle, serves in the background
    print(running.url); running.close()

engine (the loaded rig and each page's face), ui (the widgets, wired to rig.engine),
downloads (PNG / MP4 / .glb / JSON through rig.outputs), server (offline launch).
"""
from __future__ import annotations

from .server import Running, free_port, start

__all__ = ["Running", "free_port", "start"]
