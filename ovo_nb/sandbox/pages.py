"""The sandbox webview's pages: small, phone-shaped, self-contained HTML (no scripts, no network)."""

from __future__ import annotations

from .._escape import html_page, trusted

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


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">\
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ title }} · OVO sandbox</title>\
<style>{{ style }}</style></head><body><main><header><span class="logo">OVO</span><span class="sandbox">sandbox</span>\
</header>
{%- if page == "code" %}<h1>{{ title }}</h1><p>{{ detail }}</p><form method="post" action="{{ action }}">\
<label for="code">{{ label }}</label><input id="code" name="code" type="password" inputmode="numeric" \
autocomplete="one-time-code" pattern="[0-9]*" maxlength="{{ length }}" required aria-describedby="hint"\
{% if disabled %} disabled{% endif %}><p class="hint" id="hint">{{ hint }}</p>
{%- if error %}<p class="error" role="alert" id="error">{{ error }}</p>{% endif %}
{%- if notice %}<p class="notice" role="status" id="notice">{{ notice }}</p>{% endif -%}
<button type="submit"{% if disabled %} disabled{% endif %}>Continue</button><button type="submit" name="cancel" \
value="1" formnovalidate class="secondary">Cancel</button></form>
{%- elif page == "message" %}<h1>Cannot continue</h1><p class="error" role="alert">{{ message }}</p>\
<p class="hint">Use the merchant's back button to return.</p>
{%- else %}<h1>Back at the merchant</h1><p>This is the partner's callback URL. OVO's webview redirected here \
with <code>?response=</code>{% if state %} and <code>state={{ state }}</code>{% endif %}:</p>\
<pre id="response">{{ response }}</pre><label for="callback-url">The callback URL</label>\
<input id="callback-url" readonly value="{{ url }}" onfocus="this.select()" \
style="letter-spacing:0;font:13px ui-monospace,monospace;text-align:left"><button type="button" \
onclick="navigator.clipboard.writeText(document.getElementById('callback-url').value);this.textContent='Copied'">\
Copy the callback URL</button><p class="hint">Paste it into the panel's Callback URL field (or a notebook's \
<code>callback_url</code> parameter) and finish the step there.</p>{% endif %}</main></body></html>"""
"""The webview's pages. Everything from a request (the detail, the error, the partner's redirect, the response
and the state it carries) is escaped by the template; the only script is the page's own copy button."""


def code_page(title: str, detail: str, kind: str, action: str, *, error: str = "", notice: str = "",
              disabled: bool = False) -> str:
    """The OTP or PIN entry form; ``error`` shows why the last entry failed, ``notice`` what just passed."""
    return html_page(PAGE, page="code", style=trusted(_STYLE), title=title, detail=detail, action=action,
                     label="Security PIN" if kind == "PIN" else "OTP code", length=6 if kind == "PIN" else 4,
                     hint=("Enter your 6-digit OVO security PIN." if kind == "PIN" else
                           "In the sandbox, as in OVO stage, the OTP is the last 4 digits of your phone number."),
                     error=error, notice=notice, disabled=disabled)


def message_page(title: str, message: str) -> str:
    """A page that can only be left: bad link, unregistered destination, expired session."""
    return html_page(PAGE, page="message", style=trusted(_STYLE), title=title, message=message)


def callback_page(response_json: str, state: str, url: str) -> str:
    """The partner's side after a redirect: the decoded ``response`` (and ``state``) OVO sent, and
    ``url`` (where the browser landed) to copy back into a notebook or the panel."""
    return html_page(PAGE, page="callback", style=trusted(_STYLE), title="Callback", response=response_json,
                     state=state, url=url)
