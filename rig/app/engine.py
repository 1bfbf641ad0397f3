"""What the app keeps between requests: the loaded rig and 3DMM, and each page's current face (a rig.engine
Engine: the same engines the CLI and live mode open, through rig.engine.open_engine)."""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from basics.errors import UserError

from ..engine import Controls, Engine as FaceEngine, checked_values, open_engine
from ..engine.controls import LIGHT_KEEP
from ..errors import RigError
from .store import LruStore

#: the page's source choices; the app opens on the first: the shipped portrait through the photo engine
SOURCE_KINDS = ("portrait", "photo", "generated", "morphable")
PREVIEW_CHOICES = ("auto", "bf16", "fp32")
#: faces kept for open pages (older pages reload theirs on the next change)
MAX_SOURCES = 32
#: errors a user can cause (UserError: RigError, MorphableError, GanError), or a file that cannot be read
#: or written; shown in the page as one line, the app keeps running
USER_ERRORS = (UserError, ValueError, OSError)


class PageGone(RigError):
    """The page's face was dropped from the store (too many pages open); the page loads it again."""


@dataclass
class Page:
    """One open page's face: its source, the controls as last moved, the status line last sent and
    the last drawing's note (why the overlay could not be drawn), for the next status line."""

    source: FaceEngine
    controls: Controls
    status: str = ""
    note: str | None = None
    #: the live route moved a control since the last status line was recorded (so its sync may replace
    #: that line; an error line shown after the move stays)
    moved: bool = False
    #: the source choice it was loaded from (one of SOURCE_KINDS)
    kind: str = ""


class Engine:
    """The rig bundle, the morphable model and a small store of pages (face + controls) keyed by page.

    The controls live here rather than in the browser: a slider event sends only its own value
    (measured: sending all 58 slider values with every event added ~50 ms to the round trip).
    """

    def __init__(self, bundle: str | os.PathLike | None = None, size: int = 256, inversion_steps: int = 100,
                 bf16: bool = False, preview: str = "auto"):
        from morphable.formats import load_model

        from ..pipeline import load_rig

        self.rig = load_rig(bundle)
        self.bundle = str(bundle) if bundle else "assets/rig/dcgan64 (default)"
        self.size = int(size)
        self.model = load_model("default")
        self.inversion_steps = int(inversion_steps)
        self.compute_dtype = torch.bfloat16 if bf16 else torch.float32
        self.preview_dtype = preview_dtype(preview, self.compute_dtype)
        self._pages: LruStore[Page] = LruStore(MAX_SOURCES)
        #: a page's controls are moved from Gradio's queue and the live route's threads: one change at a time
        self._lock = threading.Lock()
        #: one face drawn at a time: Gradio's queue and the live route (rig.app.live) run in different threads
        self.draw_lock = threading.Lock()
        #: server time (ms) of the latest slider updates, for the bench and the tests
        self.update_ms: deque[float] = deque(maxlen=1000)
        self._portrait: FaceEngine | None = None
        #: the portrait's one-time fit has a lock of its own: pages and slider moves keep going meanwhile
        self._portrait_lock = threading.Lock()

    def portrait(self) -> FaceEngine:
        """The shipped portrait through the photo engine, fitted once (~5 s) and shared by every page (a
        source keeps no per-page state: the controls live in the page)."""
        with self._portrait_lock:
            if self._portrait is None:
                self._portrait = open_engine(portrait=True, model=self.model, size=self.size)
            return self._portrait

    def new_source(self, kind: str, seed: int = 0, truncation: float = 1.0, identity_seed: int = 0,
                   photo: np.ndarray | None = None) -> tuple[str, FaceEngine]:
        """Open a face (rig.engine.open_engine) and store it; returns (key, engine)."""
        if kind == "portrait":
            src = self.portrait()
        elif kind == "generated":
            src = open_engine(self.rig, seed=int(seed), truncation=float(truncation), engine="gan", size=self.size,
                              compute_dtype=self.compute_dtype, preview_dtype=self.preview_dtype)
        elif kind == "morphable":
            src = open_engine(engine="morph", model=self.model, identity_seed=int(identity_seed), size=self.size)
        elif kind == "photo":
            if photo is None:
                raise RigError("upload a photo first")
            src = open_engine(self.rig, photo=photo, size=self.size, inversion_steps=self.inversion_steps,
                              compute_dtype=self.compute_dtype, preview_dtype=self.preview_dtype)
        else:
            raise RigError(f"unknown source {kind!r}; choose one of {', '.join(SOURCE_KINDS)}")
        return self.add_source(src, kind), src

    def add_source(self, src: FaceEngine, kind: str = "") -> str:
        """Store a face (any rig.engine Engine) for a new page; returns its key."""
        return self._pages.add(Page(src, src.controls(), kind=kind))

    def page(self, key: str | None) -> Page:
        """The stored page; RigError when it was dropped (the page reloads it)."""
        page = self._pages.get(key)
        if page is None:
            raise PageGone("this page's face is no longer loaded; reload the page")
        return page

    def move(self, key: str | None, **values: float | str) -> Page:
        """Set controls of a page (a slider, the light); returns the page. Atomic: the live route and
        Gradio's events move the same page from different threads."""
        page = self.page(key)
        with self._lock:
            page.controls = page.controls.with_values(**values)
        return page

    def reset(self, key: str | None, block: str) -> Page:
        """Put one block of a page's controls ('pose', 'expression' or 'light') back to the face's own."""
        page = self.page(key)
        own = page.source.controls()
        with self._lock:
            if block not in ("pose", "expression", "light"):
                raise RigError(f"unknown block {block!r}; choose pose, expression or light")
            values = {n: own.value(n) for n in control_names(block)}
            if block == "light":
                values["light"] = LIGHT_KEEP
            page.controls = page.controls.with_values(**values)
        return page

    def draw(self, page: Page, overlay: bool = False, live: bool = True) -> tuple[np.ndarray, str | None]:
        """The page's face at its controls and the drawing's note: live, the preview (a StyleGAN2 bundle's
        may be bf16), else render() (fp32, for downloads); with the fitted 3DMM overlay when asked (a
        failed fit is the note, also kept as page.note for the next status line)."""
        with self.draw_lock:
            src, c = page.source, page.controls
            image, note = (src.preview(c) if live else src.render(c)), None
            if overlay:
                try:
                    image = src.overlay(image, c, live)
                except USER_ERRORS as exc:
                    note = f"overlay: {exc}"
            page.note = note
        return image, note

    def live(self, key: str | None, values: dict[str, str | float], overlay: bool = False) -> np.ndarray:
        """Move a page's numeric controls (untrusted values: parsed, clamped to the source's slider ranges as
        the widgets clamp them; none: draw it as it is) and draw its live image; the time is kept in update_ms."""
        t0 = time.perf_counter()
        page = self.page(key)
        checked = checked_values(values, clamp=True, limits=page.source.control_limits)
        with self._lock:
            page.controls = page.controls.with_values(**checked)
        page.moved = page.moved or bool(values)
        image = self.draw(page, overlay)[0]
        self.update_ms.append(1000 * (time.perf_counter() - t0))
        return image


def control_names(block: str) -> tuple[str, ...]:
    """The table's controls of one block (morphable.controls)."""
    from morphable.controls import names

    return names(block)


def preview_dtype(choice: str, compute_dtype: torch.dtype = torch.float32) -> torch.dtype:
    """The live image's dtype for StyleGAN2 bundles: 'auto' is bf16 where the hardware runs it (gan.fast)."""
    from gan.fast import bf16_is_fast

    if choice not in PREVIEW_CHOICES:
        raise RigError(f"unknown preview {choice!r}; choose one of {', '.join(PREVIEW_CHOICES)}")
    if compute_dtype != torch.float32 or choice == "bf16" or (choice == "auto" and bf16_is_fast()):
        return torch.bfloat16
    return torch.float32


def read_upload(path: str | os.PathLike | None) -> np.ndarray:
    """An uploaded file as RGB uint8; RigError (one line, naming the file as the user named it, never the
    server's temporary copy) when it is not an image."""
    if path is None:
        raise RigError("upload a photo first")
    from ..inputs import read_photo

    try:
        return read_photo(Path(path))
    except USER_ERRORS as exc:
        raise RigError(public_message(exc, path)) from None


def public_message(exc: BaseException, upload: str | os.PathLike | None = None) -> str:
    """An error's first line for the page: the upload's server-side path becomes its file name, and any
    other path into the server's temporary folders is dropped."""
    import re
    import tempfile

    text = (str(exc).splitlines() or [""])[0] or type(exc).__name__
    if upload is not None:
        up = Path(upload)
        text = text.replace(str(up), up.name).replace(str(up.resolve()), up.name)
    tmp = re.escape(tempfile.gettempdir().rstrip("/"))
    return re.sub(tmp + r"/\S*?([^/\s]+)(?=[\s:;,)'\"]|$)", r"\1", text)
