"""The sandbox webview's pages: small, phone-shaped, self-contained HTML (no scripts, no network)."""

from __future__ import annotations

from html import escape

_STYLE = """
*{box-sizing:border-box}body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
background:#f2f0f7;color:#1f1b2e}main{max-width:420px;margin:0 auto;min-height:100vh;background:#fff;
padding:24px 20px}header{display:flex;align-items:center;gap:10px;margin-bottom:24px}
.logo{background:#4c2a86;color:#fff;font-weight:800;border-radius:10px;padding:6px 10px;letter-spacing:.5px}
.sandbox{font-size:12px;color:#6b6280;border:1px solid #d8d2e6;border-radius:999px;padding:2px 8px}
h1{font-size:20px;margin:0 0 8px}p{line-height:1.45}label{display:block;font-weight:600;margin:20px 0 8px}
input{width:100%;font-size:24px;letter-spacing:8px;text-align:center;padding:12px;border:2px solid #d8d2e6;
border-radius:12px}input:focus{outline:none;border-color:#4c2a86}
button{width:100%;margin-top:20px;padding:14px;font-size:16px;font-weight:700;color:#fff;background:#4c2a86;
border:0;border-radius:12px}button:disabled{background:#b9b1cc}
button.secondary{background:#fff;color:#4c2a86;border:2px solid #d8d2e6;margin-top:10px}
.error{background:#fdecec;color:#9b1c1c;border-radius:10px;padding:10px 12px;margin-top:16px}
.hint{font-size:13px;color:#6b6280}
.notice{background:#ecf8ef;color:#1d6b34;border-radius:10px;padding:10px 12px;margin-top:16px}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)} · OVO sandbox</title><style>{_STYLE}</style></head><body><main>"
        "<header><span class=\"logo\">OVO</span><span class=\"sandbox\">sandbox</span></header>"
        f"{body}</main></body></html>"
    )


def code_page(title: str, detail: str, kind: str, action: str, *, error: str = "", notice: str = "",
              disabled: bool = False) -> str:
    """The OTP or PIN entry form; ``error`` shows why the last entry failed, ``notice`` what just passed."""
    length = 6 if kind == "PIN" else 4
    label = "Security PIN" if kind == "PIN" else "OTP code"
    hint = ("Enter your 6-digit OVO security PIN." if kind == "PIN"
            else "In the sandbox, as in OVO stage, the OTP is the last 4 digits of your phone number.")
    state = " disabled" if disabled else ""
    message = f"<p class=\"error\" role=\"alert\" id=\"error\">{escape(error)}</p>" if error else ""
    if notice:
        message += f"<p class=\"notice\" role=\"status\" id=\"notice\">{escape(notice)}</p>"
    return _page(title, (
        f"<h1>{escape(title)}</h1><p>{escape(detail)}</p>"
        f"<form method=\"post\" action=\"{escape(action)}\">"
        f"<label for=\"code\">{label}</label>"
        f"<input id=\"code\" name=\"code\" type=\"password\" inputmode=\"numeric\" autocomplete=\"one-time-code\" "
        f"pattern=\"[0-9]*\" maxlength=\"{length}\" required aria-describedby=\"hint\"{state}>"
        f"<p class=\"hint\" id=\"hint\">{hint}</p>{message}"
        f"<button type=\"submit\"{state}>Continue</button>"
        "<button type=\"submit\" name=\"cancel\" value=\"1\" formnovalidate class=\"secondary\">Cancel</button>"
        "</form>"
    ))


def message_page(title: str, message: str) -> str:
    """A page that can only be left: bad link, unregistered destination, expired session."""
    return _page(title, f"<h1>Cannot continue</h1><p class=\"error\" role=\"alert\">{escape(message)}</p>"
                        "<p class=\"hint\">Use the merchant's back button to return.</p>")


def callback_page(response_json: str, state: str, url: str) -> str:
    """The partner's side after a redirect: the decoded ``response`` (and ``state``) OVO sent, and
    ``url`` (where the browser landed) to copy back into a notebook or the panel."""
    state_note = f" and <code>state={escape(state)}</code>" if state else ""
    return _page("Callback", (
        "<h1>Back at the merchant</h1><p>This is the partner's callback URL. OVO's webview redirected here "
        f"with <code>?response=</code>{state_note}:</p><pre id=\"response\">{escape(response_json)}</pre>"
        "<label for=\"callback-url\">The callback URL</label>"
        f"<input id=\"callback-url\" readonly value=\"{escape(url)}\" onfocus=\"this.select()\" "
        "style=\"letter-spacing:0;font:13px ui-monospace,monospace;text-align:left\">"
        "<button type=\"button\" onclick=\"navigator.clipboard.writeText("
        "document.getElementById('callback-url').value);this.textContent='Copied'\">Copy the callback URL</button>"
        "<p class=\"hint\">Paste it into the panel's Callback URL field (or a notebook's <code>callback_url</code> "
        "parameter) and finish the step there.</p>"
    ))
