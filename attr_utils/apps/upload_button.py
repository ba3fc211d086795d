"""A file picker that refuses oversized files in the browser, before they are sent.

Why not ipywidgets' ``FileUpload``: it sends a file's bytes over the kernel's
websocket as soon as the visitor picks it, so the kernel can only refuse a
large file after it arrived, and a file over the server's websocket message
limit (``websocket_max_message_size``, 32 MiB in ``voila.json``) closes the
connection instead: the page stops working and says nothing. This control
(an `anywidget <https://anywidget.dev>`_, already a dependency of Plotly's
``FigureWidget``) checks each file's size in the browser, reports the refused
ones in :attr:`UploadButton.refused`, and sends the accepted ones one file per
message, so no message exceeds ``max_bytes`` plus a little. Its ``value`` has
nearly ``FileUpload``'s shape (a tuple of dicts with ``name``, ``type``,
``size``, ``content``, and ``last_modified`` in milliseconds since the epoch
where ``FileUpload`` gives a datetime), and the kernel still checks every upload
with :func:`attr_utils.apps.upload.read_upload`: the browser's check is for
the visitor's sake, not a security boundary.
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
    const refused = [];
    model.set("refused", "");
    for (const file of files) {
      if (file.size > limit) {
        refused.push(`${file.name} is ${megabytes(file.size)} MB; the limit is ${Math.round(limit / 1048576)} MB`);
        continue;
      }
      const content = new DataView(await file.arrayBuffer());
      model.set("value", [{ name: file.name, type: file.type, size: file.size, last_modified: file.lastModified, content }]);
      model.save_changes();
    }
    if (refused.length) {
      model.set("refused", refused.join("; "));
      model.set("refusals", model.get("refusals") + 1);
      model.save_changes();
    }
  });
  el.classList.add("attr-utils-upload");
  el.append(button, input);
  return () => model.off("change:accept change:multiple change:description", sync);
}

export default { render };
"""


class UploadButton(anywidget.AnyWidget):
    """Pick files in the browser; files over ``max_bytes`` are refused there.

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

    Attributes
    ----------
    value : tuple of dict
        The last file received, as ``FileUpload.value``; set it to ``()`` to
        drop the bytes once they are handled.
    refused : str
        Why the browser refused files of the last pick ("" when it refused
        none).
    refusals : int
        Counts the picks with refused files: observe it to hear of each one.
    """

    _esm = _ESM
    description = traitlets.Unicode("Upload").tag(sync=True)
    accept = traitlets.Unicode("image/*").tag(sync=True)
    multiple = traitlets.Bool(False).tag(sync=True)
    max_bytes = traitlets.Int(MAX_UPLOAD_BYTES).tag(sync=True)
    value = TypedTuple(trait=traitlets.Dict()).tag(sync=True)
    refused = traitlets.Unicode("").tag(sync=True)
    refusals = traitlets.Int(0).tag(sync=True)

    @traitlets.validate("max_bytes")
    def _check_max_bytes(self, proposal):
        if proposal["value"] < 1:
            raise traitlets.TraitError(f"`max_bytes` must be >= 1, got {proposal['value']}")
        return proposal["value"]
