"""A file picker that refuses oversized files in the browser and delivers every file of a pick.

Why not ipywidgets' ``FileUpload``: it sends a file's bytes over the kernel's
websocket as soon as the visitor picks it, so the kernel can only refuse a
large file after it arrived, and a file over the server's websocket message
limit (``websocket_max_message_size``, 32 MiB in ``voila.json``) closes the
connection instead: the page stops working and says nothing. This control
(an `anywidget <https://anywidget.dev>`_, already a dependency of Plotly's
``FigureWidget``) checks each file's size in the browser and sends the
accepted ones one file per message, so no message exceeds ``max_bytes`` plus a
little.

Every file arrives. The files travel as *custom messages* (``model.send``), not
as changes of a synced trait: the widget manager in the browser keeps at most
one state update in flight per widget and merges the changes made meanwhile
into one buffer, so a second and third file written to a synced ``value`` while
the first was on its way overwrote each other (3 picked: 2 arrived; 5 picked: 3
arrived). Custom messages are never merged; the browser ends each pick with a
``done`` message naming how many files it sent and which it refused, and the
kernel then sets :attr:`UploadButton.value` to all accepted files of the pick at
once, :attr:`UploadButton.refused_files` to the refused ones, and counts the
pick in :attr:`UploadButton.picks` (observe it to hear of each pick, whole).

``value`` has nearly ``FileUpload``'s shape (a tuple of dicts with ``name``,
``type``, ``size``, ``content``, and ``last_modified`` in milliseconds since the
epoch where ``FileUpload`` gives a datetime). It lives only in the kernel (it is
not synced back to the browser). The kernel still checks every upload with
:func:`attr_utils.apps.upload.read_upload`: the browser's check is for the
visitor's sake, not a security boundary.
"""

from __future__ import annotations

import anywidget
import traitlets
from ipywidgets import TypedTuple

from attr_utils.apps.upload import MAX_UPLOAD_BYTES

__all__ = ["UploadButton"]

_ESM = r"""
function megabytes(n) {
  return (n / 1048576).toFixed(1);
}

let picks = 0;

function render({ model, el }) {
  const input = document.createElement("input");
  input.type = "file";
  input.style.display = "none";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "jupyter-button widget-button attr-utils-upload-button";
  const sync = () => {
    input.accept = model.get("accept");
    input.multiple = model.get("multiple");
    button.textContent = model.get("description");
  };
  sync();
  model.on("change:accept change:multiple change:description", sync);
  button.addEventListener("click", () => input.click());
  input.addEventListener("change", async () => {
    const files = Array.from(input.files || []);
    input.value = "";
    if (!files.length) return;
    const limit = model.get("max_bytes");
    const most = model.get("multiple") ? model.get("max_files") : 1;
    const pick = `${Date.now()}-${++picks}`;
    const refused = [];
    let sent = 0;
    for (const [i, file] of files.entries()) {
      if (i >= most) {
        refused.push({ name: file.name, size: file.size, reason: `only ${most} file(s) per pick` });
        continue;
      }
      if (file.size > limit) {
        refused.push({
          name: file.name,
          size: file.size,
          reason: `${file.name} is ${megabytes(file.size)} MB; the limit is ${Math.round(limit / 1048576)} MB`,
        });
        continue;
      }
      let buffer;
      try {
        buffer = await file.arrayBuffer();
      } catch (err) {
        refused.push({ name: file.name, size: file.size, reason: `${file.name} cannot be read: ${err}` });
        continue;
      }
      // a custom message per file: never merged with the next one (a synced trait's changes are)
      model.send(
        { event: "file", pick, name: file.name, type: file.type, size: file.size, last_modified: file.lastModified },
        undefined,
        [buffer],
      );
      sent += 1;
    }
    model.send({ event: "done", pick, sent, refused });
  });
  el.classList.add("attr-utils-upload");
  el.append(button, input);
  return () => model.off("change:accept change:multiple change:description", sync);
}

export default { render };
"""


class UploadButton(anywidget.AnyWidget):
    """Pick files in the browser; files over ``max_bytes`` are refused there, the others all arrive.

    Parameters
    ----------
    description : str, default="Upload"
        The button's label.
    accept : str, default="image/*"
        The file chooser's filter (a hint to the browser, not a check).
    multiple : bool, default=False
        Allow several files in one pick (sent one per message).
    max_bytes : int, default=MAX_UPLOAD_BYTES
        Largest file sent to the kernel.
    max_files : int, default=20
        Most files taken from one pick (``multiple=True``); the rest are refused.

    Attributes
    ----------
    value : tuple of dict
        The accepted files of the last pick, in the order picked, as
        ``FileUpload.value``; set it to ``()`` to drop the bytes once they are
        handled. Kernel-side only.
    refused_files : tuple of dict
        The files of the last pick refused in the browser: ``name``, ``size``
        (bytes) and ``reason`` (one line).
    refused : str
        The reasons of ``refused_files`` joined by ``"; "`` ("" when none).
    refusals : int
        Counts the picks with refused files: observe it to hear of each one.
    picks : int
        Counts the completed picks; it changes after ``value``, ``refused_files``
        and ``refusals`` are set, so an observer of ``picks`` sees a whole pick.
    """

    _esm = _ESM
    description = traitlets.Unicode("Upload").tag(sync=True)
    accept = traitlets.Unicode("image/*").tag(sync=True)
    multiple = traitlets.Bool(False).tag(sync=True)
    max_bytes = traitlets.Int(MAX_UPLOAD_BYTES).tag(sync=True)
    max_files = traitlets.Int(20).tag(sync=True)
    value = TypedTuple(trait=traitlets.Dict())
    refused_files = TypedTuple(trait=traitlets.Dict())
    refused = traitlets.Unicode("")
    refusals = traitlets.Int(0)
    picks = traitlets.Int(0)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._incoming: dict[str, list[dict]] = {}
        self.on_msg(self._on_browser_message)

    @traitlets.validate("max_bytes", "max_files")
    def _check_positive(self, proposal):
        if proposal["value"] < 1:
            raise traitlets.TraitError(f"`{proposal['trait'].name}` must be >= 1, got {proposal['value']}")
        return proposal["value"]

    def _on_browser_message(self, _widget, content, buffers) -> None:
        if not isinstance(content, dict) or not isinstance(content.get("pick"), str):
            return
        pick = content["pick"]
        if content.get("event") == "file":
            if len(self._incoming) > 4 and pick not in self._incoming:  # picks never finished (a closed tab)
                self._incoming.pop(next(iter(self._incoming)))
            files = self._incoming.setdefault(pick, [])
            if len(files) >= (self.max_files if self.multiple else 1):
                return  # more than the browser may send: dropped (the kernel does not trust the browser)
            files.append(
                {
                    "name": str(content.get("name") or "upload")[:200],
                    "type": str(content.get("type") or ""),
                    "size": content.get("size"),
                    "last_modified": content.get("last_modified"),
                    "content": buffers[0] if buffers else None,
                }
            )
        elif content.get("event") == "done":
            refused = list(content.get("refused")) if isinstance(content.get("refused"), list) else []
            files = self._incoming.pop(pick, [])
            sent = content.get("sent")
            if isinstance(sent, int) and len(files) < sent:  # never seen: said so, not lost silently
                lost = min(sent, self.max_files if self.multiple else 1) - len(files)
                if lost > 0:
                    refused.append({"name": "", "size": None, "reason": f"{lost} file(s) of this pick did not arrive"})
            self.receive(files, refused=refused)

    def receive(self, files, *, refused=()) -> None:
        """Announce one whole pick, as the browser does when the visitor picks files.

        Parameters
        ----------
        files : sequence of dict
            The accepted files (``name``, ``size``, ``content``...).
        refused : sequence of dict, optional
            Files refused in the browser: ``name``, ``size``, ``reason``.
        """
        refused = tuple(
            {"name": str(r.get("name", ""))[:200], "size": r.get("size"), "reason": str(r.get("reason", ""))[:300]}
            for r in list(refused)[:100]
            if isinstance(r, dict)
        )
        self.refused_files = refused
        self.refused = "; ".join(r["reason"] for r in refused)
        self.value = tuple(files)
        if refused:
            self.refusals += 1
        self.picks += 1
