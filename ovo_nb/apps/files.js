// Files between finance's browser and the page's kernel, over the page's own authenticated
// connection, in 1 MB pieces (a websocket message has a size limit; a month's export may not).
// "upload": a file input; a file over the cap is refused here, before a byte is sent.
// "download": a button; the kernel sends the file back and the browser saves it.

const PIECE = 1 << 20;

function upload({ model, el }) {
  const label = document.createElement("label");
  label.className = "ovo-file-label";
  const caption = document.createElement("span");
  caption.textContent = model.get("label");
  const input = document.createElement("input");
  input.type = "file";
  input.accept = model.get("accept");
  label.append(caption, input);
  const note = document.createElement("span");
  note.className = "ovo-file-note";
  note.setAttribute("role", "status");
  const show = () => { note.textContent = model.get("note"); };
  model.on("change:note", show);
  show();
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    if (!file) return;
    if (file.size > model.get("max_bytes")) {
      model.send({ event: "refused", name: file.name, size: file.size });
      input.value = "";
      return;
    }
    model.send({ event: "start", name: file.name, size: file.size });
    for (let offset = 0; offset < file.size; offset += PIECE) {
      const piece = await file.slice(offset, offset + PIECE).arrayBuffer();
      model.send({ event: "piece", offset }, undefined, [piece]);
    }
    model.send({ event: "end", name: file.name, size: file.size });
  });
  el.append(label, note);
}

function download({ model, el }) {
  const button = document.createElement("button");
  button.className = "jupyter-button widget-button ovo-download";
  const draw = () => {
    button.textContent = model.get("label");
    button.disabled = !model.get("ready");
  };
  model.on("change:label", draw);
  model.on("change:ready", draw);
  draw();
  let pieces = [];
  model.on("msg:custom", (message, buffers) => {
    if (message.event === "piece") {
      pieces.push(buffers[0]);
    } else if (message.event === "end") {
      const url = URL.createObjectURL(new Blob(pieces, { type: message.type }));
      pieces = [];
      const link = document.createElement("a");
      link.href = url;
      link.download = message.name;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      draw();
    }
  });
  button.addEventListener("click", () => {
    button.disabled = true;
    pieces = [];
    model.send({ event: "get" });
  });
  el.append(button);
}

export default {
  render(context) {
    return context.model.get("mode") === "download" ? download(context) : upload(context);
  },
};
