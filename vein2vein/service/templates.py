"""The console's HTML: Jinja2 templates kept in Python (no build step, no package data).

Each page template renders the page's main content only; `render_page` wraps it in the layout
unless the browser asked for the content alone (`X-Partial: 1`, the live-update poll).
"""

from __future__ import annotations

from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

from vein2vein.service import account_templates, board_templates

_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f5f6f8}
header{background:#1f3b57;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;
align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}
header .who{margin-left:auto;font-size:.9rem}
header form{display:inline}
header button{background:none;border:1px solid #fff8;color:#fff;cursor:pointer}
main{padding:1rem 1.4rem;max-width:1200px}
table{border-collapse:collapse;width:100%;background:#fff;margin:.4rem 0 1.2rem}
th,td{border-bottom:1px solid #e1e4e8;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}
.badge{padding:.1rem .45rem;border-radius:.6rem;font-size:.85rem;background:#dde3ea}
.s-released,.s-completed{background:#cdebd3}.s-quarantined,.s-abandoned{background:#f6cfcf}.s-ended{background:#e4e4e4}
.s-held{background:#fbe3b5}.s-active{background:#d4e4f7}
.bad{color:#b00020;font-weight:600}.ok{color:#1b7f3b}
.notice{background:#e4f3e6;border:1px solid #9ccfa5;padding:.6rem}
.error{background:#fde8e8;border:1px solid #e5a0a0;padding:.6rem}
form.filters{display:flex;gap:.6rem;align-items:end;flex-wrap:wrap}
label{display:block;font-size:.9rem;margin:.5rem 0 .15rem}label.inline{display:inline}
input,select,textarea{font:inherit;padding:.25rem}textarea{width:100%;max-width:40rem}
button.primary{background:#1f3b57;color:#fff;border:0;padding:.45rem 1rem;cursor:pointer}
.manifest{border:1px dashed #1f3b57;padding:.6rem;background:#fff;max-width:40rem}
"""

_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · vein2vein</title><link rel="stylesheet" href="/console.css">
<script src="/static/live.js" defer></script></head>
<body>
<header><a href="/console">vein2vein</a>
{% if who and not who.must_change_password %}<a href="/console">Board</a>
<a href="/console/inbox" id="nav-inbox">Inbox</a>
<a href="/console/deviations" id="nav-deviations">Deviations</a>
<a href="/console/capacity" id="nav-capacity">Capacity</a>
<a href="/console/definitions" id="nav-definitions">Processes</a>
{% if 'admin' in who.roles %}<a href="/console/admin">Admin</a>{% endif %}{% endif %}
{% if who %}<span class="who">{{ who.name }} ({{ who.roles|join(', ') }})
{% if who.method == 'password' %}<a href="/console/password" id="nav-password">Password</a>
{% endif %}</span>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{{ csrf }}">
<button>Sign out</button></form>{% endif %}
</header>
<main id="main"{% if refresh %} data-refresh="{{ refresh }}"{% endif %}>{{ content|safe }}</main>
</body></html>"""

_LOGIN = """<h1>Sign in</h1>
{% if error %}<p class="error" id="error">{{ error }}</p>{% endif %}
{% include "sso_button" %}
<form method="post" action="/login">
<input type="hidden" name="next" value="{{ next }}">
<input type="hidden" name="login_csrf" value="{{ login_csrf }}">
<label for="user_id">User</label>
<input id="user_id" name="user_id" autocomplete="username" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<p><button class="primary" type="submit">Sign in</button></p>
</form>"""

_INBOX = """<h1>Inbox</h1>
<p>Decisions waiting for your roles ({{ who.roles|join(', ') }}).</p>
<div data-live="inbox"><table id="inbox"><thead><tr><th>Batch</th><th>Product</th><th>Status</th>
<th>Decision</th><th>What it means</th><th></th></tr></thead><tbody>
{% for i in items %}<tr data-batch="{{ i.batch_id }}" data-target="{{ i.target }}">
<td><a href="/console/batches/{{ i.batch_id }}">{{ i.batch_id }}</a></td><td>{{ i.product }}</td>
<td><span class="badge s-{{ i.status.value }}">{{ i.status.value }}</span></td>
<td>{{ i.target }}{% if i.release %} (release){% endif %}</td><td>{{ i.description }}</td>
<td><a class="decide"
href="/console/batches/{{ i.batch_id }}/decide?target={{ i.target|urlencode }}">
Review and sign</a></td></tr>
{% else %}<tr><td colspan="6">Nothing waits for you.</td></tr>{% endfor %}</tbody></table></div>"""

_BATCH = """{% if signed %}<p class="notice" id="notice">Your signature {{ signed }} was recorded.
</p>{% endif %}
<div data-live="head"><h1>{{ r.batch_id }} <span class="badge s-{{ r.status.value }}" id="status">
{{ r.status.value }}</span></h1>
<p>{{ r.product }} {{ r.definition_version }} · stage <b>{{ r.stage or '-' }}</b> · COI
<b>{{ r.coi or '-' }}</b> · order {{ r.order_id }} ·
{% for k, v in r.sites.items() %}{{ k }} {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</p>
</div>
<p>Batch record (from the ledger): <a id="ebr" href="/api/batches/{{ r.batch_id }}/ebr">HTML</a> ·
<a href="/api/batches/{{ r.batch_id }}/ebr?format=json">JSON</a> ·
<a href="/api/batches/{{ r.batch_id }}/fhir">FHIR</a></p>
<div data-live="awaiting">{% if awaiting %}<h2>Waiting for</h2>
<table id="awaiting"><tr><th>What</th><th>Since</th><th>Waited</th><th>Deadline</th>
<th>Who may decide</th></tr>{% for a in awaiting %}<tr data-kind="{{ a.kind }}"><td>{{ a.label }}
</td><td>{{ a.since|moment }}</td><td>{{ a.waited }}</td><td>{{ a.deadline|moment }}</td>
<td>{{ a.roles }}</td></tr>{% endfor %}</table>{% endif %}
{% if next.text %}<p id="next" class="risk-{{ next.risk }}">Next deadline: <b>{{ next.text }}</b>
{% if next.at %}{{ next.word }} {{ next.at|moment }}{% endif %}</p>{% endif %}</div>
<div data-live="actions">{% if actions %}<h2>Your decisions</h2><ul id="actions">
{% for a in actions %}<li><a class="decide"
href="/console/batches/{{ r.batch_id }}/decide?target={{ a.target|urlencode }}">
{{ a.label }}</a></li>{% endfor %}</ul>{% endif %}
{% if review %}<h2>Review by exception</h2><table><tr><th>Kind</th><th>Reference</th>
<th>Summary</th><th></th></tr>{% for i in review %}<tr><td>{{ i.kind.value }}</td>
<td>{{ i.reference }}</td><td>{{ i.summary }}</td><td>{% if i.open %}<span class="bad">open</span>
{% endif %}</td></tr>{% endfor %}</table>{% endif %}</div>
<div data-live="clocks"><h2>Hold-time clocks</h2>
<table id="holds"><tr><th>Hold</th><th>From</th><th>To</th><th>Limit</th><th>State</th></tr>
{% for h in holds %}<tr><td>{{ h.name }}</td><td>{{ h.start }}</td><td>{{ h.end }}</td>
<td>{{ h.limit }}</td><td class="{{ h.css }}">{{ h.state }}</td></tr>
{% else %}<tr><td colspan="5">This product has no hold times.</td></tr>{% endfor %}</table>
{% if clocks %}<h2>Other running clocks</h2>
<table id="clocks"><tr><th>Clock</th><th>Kind</th><th>Started</th><th>Limit</th><th>Remaining</th>
</tr>{% for c in clocks %}<tr data-risk="{{ c.risk }}"><td>{{ c.name }}</td><td>{{ c.kind }}</td>
<td>{{ c.started|moment }}</td><td>{{ c.limit|moment }}</td>
<td class="risk-{{ c.risk }}">{{ c.remaining }}</td></tr>{% endfor %}</table>{% endif %}</div>
<div data-live="results"><h2>Results against specification</h2>
<table id="results"><tr><th>Result</th><th>Value</th><th>Specification</th><th>Verdict</th>
<th>Reported by</th></tr>{% for s in spec %}<tr><td>{{ s.name }}</td><td>{{ s.value }}</td>
<td>{{ s.limit }}</td><td class="{{ s.css }}">{{ s.verdict }}</td><td>{{ s.reporter }}</td></tr>
{% endfor %}</table>
<h2>Deviations</h2>
<table id="deviations"><tr><th>Id</th><th>Kind</th><th>Step</th><th>Opened</th><th>Description</th>
<th>Disposition</th></tr>{% for d in r.deviations %}<tr><td>{{ d.deviation_id }}</td>
<td>{{ d.kind.value }}</td><td>{{ d.step }}</td><td>{{ d.opened_at|moment }}</td>
<td>{{ d.description }}</td>
<td>{% if d.disposition %}{{ d.disposition.value }} by {{ d.disposed_by }}: {{ d.reason }}
{% if d.severity %} [{{ d.severity.value }}{% if d.capa %}, CAPA {{ d.capa }}{% endif %}]{% endif %}
{% if d.terms() %} <span class="terms">{{ d.terms() }}</span>{% endif %}
{% else %}<span class="bad">OPEN</span>{% if d.on_hold %} on hold: {{ d.on_hold }}{% endif %}
{% endif %}</td></tr>
{% else %}<tr><td colspan="6">None.</td></tr>{% endfor %}</table>
<h2>Signatures</h2>
<table id="signatures"><tr><th>Signed by</th><th>Role</th><th>Date and time</th><th>Meaning</th>
<th>Decision</th><th>Reason</th><th>Record version</th></tr>{% for s in r.signatures %}
<tr><td>{{ s.printed_name }} ({{ s.signer_id }})</td><td>{{ s.role.value }}</td>
<td>{{ s.signed_at|moment }}</td><td>{{ s.meaning }}</td><td>{{ s.action.value }} {{ s.target }}
</td><td>{{ s.reason }}</td><td><code>{{ s.record_hash[:12] }}</code></td></tr>
{% else %}<tr><td colspan="7">None.</td></tr>{% endfor %}</table></div>
<div data-live="custody"><h2>Custody chain</h2>
<table id="custody"><tr><th>Step</th><th>From</th><th>To</th><th>At</th><th>Where</th>
<th>Identity</th><th>Label</th><th>Temperature</th></tr>{% for c in r.custody %}<tr>
<td>{{ c.step }}</td><td>{{ c.from_party }}</td><td>{{ c.to_party }}</td>
<td>{{ c.at|moment(zones.get(c.to_party)) }}</td>
<td>{{ c.location }}</td><td class="{{ 'ok' if c.identity_verified else 'bad' }}">
{{ 'verified' if c.identity_verified else 'MISMATCH' }}</td>
<td class="{{ 'ok' if c.label_verified else 'bad' }}">{{ 'verified' if c.label_verified
else 'MISMATCH' }}</td><td>{% if c.temperature %}{{ c.temperature.min_c|quantity }}..{{
c.temperature.max_c|quantity('°C') }}{% if c.temperature.minutes_outside_range %},
{{ c.temperature.minutes_outside_range|quantity('min') }} outside{% endif %}
{% else %}<span class="bad">no temperature evidence</span>{% endif %}</td>
</tr>{% else %}<tr><td colspan="8">No transfers yet.</td></tr>{% endfor %}</table>
<h2>Temperature history</h2><div id="temperature">{{ temperature }}</div></div>
<div data-live="timeline"><h2>Timeline</h2>{{ timeline_chart }}
<table id="timeline"><tr><th>Step</th><th>Stage</th><th>#</th><th>State</th><th>Started</th>
<th>Ended</th><th>Performed by</th></tr>{% for s in r.steps %}<tr><td>{{ s.step }}</td>
<td>{{ s.stage }}</td><td>{{ s.iteration }}</td><td>{{ s.state.value }}</td>
<td>{{ s.started_at|moment }}</td><td>{{ s.ended_at|moment }}</td>
<td>{{ s.performed_by or '' }}</td></tr>{% endfor %}</table>
{% if r.lots %}<h2>Material lots</h2><p>{{ r.lots|join(', ') }}</p>{% endif %}</div>
<div data-live="audit"><details id="audit"><summary>Audit trail ({{ r.audit|length }} entries)
</summary><table><tr><th>#</th><th>At</th><th>Actor</th><th>Action</th><th>Subject</th><th>Old</th>
<th>New</th><th>Reason</th></tr>{% for a in r.audit %}<tr><td>{{ a.seq }}</td>
<td>{{ a.at|moment }}</td><td>{{ a.actor }}</td><td>{{ a.action }}</td><td>{{ a.subject }}</td>
<td>{{ (a.old_value or '')|truncate(60) }}</td><td>{{ (a.new_value or '')|truncate(60) }}</td>
<td>{{ a.reason or '' }}</td></tr>{% endfor %}</table></details></div>"""

_DECIDE = """<h1>Decide {{ target }} on <a href="/console/batches/{{ r.batch_id }}">{{ r.batch_id }}
</a></h1>
<p>{{ r.product }} {{ r.definition_version }} · status
<span class="badge s-{{ r.status.value }}">{{ r.status.value }}</span> · {{ about }}</p>
{% if error %}<p class="error" id="error">{{ error }}</p>{% endif %}
{% if review %}<h2>Review by exception</h2><ul>{% for i in review %}<li>{{ i.kind.value }}
{{ i.reference }}: {{ i.summary }}{% if i.open %} <b class="bad">open</b>{% endif %}</li>
{% endfor %}</ul>{% else %}<p class="ok">Nothing departed from plan.</p>{% endif %}
<form method="post" action="/console/batches/{{ r.batch_id }}/decide" id="decide-form">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="form_id" value="{{ form_id }}">
<input type="hidden" name="target" value="{{ target }}">
<input type="hidden" name="record_hash" value="{{ r.record_hash }}">
<label for="action">Decision</label><select id="action" name="action">{% for a in actions %}
<option value="{{ a.value }}"{% if a.value == typed.action %} selected{% endif %}>{{ a.value }}
</option>{% endfor %}</select>
<label for="role">Signing in the role</label><select id="role" name="role">{% for x in roles %}
<option value="{{ x.value }}"{% if x.value == typed.role %} selected{% endif %}>{{ x.value }}
</option>{% endfor %}</select>
<label for="meaning">Meaning of this signature</label>
<input id="meaning" name="meaning" value="{{ meaning }}" size="60" maxlength="200">
<label for="reason">Reason / justification</label>
<textarea id="reason" name="reason" rows="3" maxlength="2000">{{ typed.reason }}</textarea>
{% if severities %}<label for="severity">Classification</label>
<select id="severity" name="severity"><option value="">(not classified)</option>
{% for v in severities %}<option value="{{ v.value }}"{% if v.value == typed.severity %} selected
{% endif %}>{{ v.value }}</option>{% endfor %}</select>
<label for="capa">CAPA reference (required for major and critical)</label>
<input id="capa" name="capa" value="{{ typed.capa }}" size="30" maxlength="80">{% endif %}
{% if conditional %}<label for="conditions">Conditions (for accept_conditionally: what release
waits for)</label>
<textarea id="conditions" name="conditions" rows="2" maxlength="2000">
{{- typed.conditions }}</textarea>{% endif %}
{% if rework_to %}<label for="rework_to">Rework from step (for rework)</label>
<select id="rework_to" name="rework_to"><option value="">(no rework)</option>
{% for s in rework_to %}<option value="{{ s }}"{% if s == typed.rework_to %} selected{% endif %}>
{{- s }}</option>{% endfor %}</select>{% endif %}
<div class="manifest"><p>Your signature records your printed name <b>{{ who.name }}</b>, the date
and time, its meaning and your reason, bound to record version
<code>{{ r.record_hash[:12] }}</code>.
{% if sso %}To sign, you will sign in again at {{ sso_name }}; the signature is made when you
come back.</p>{% else %}Type your password again to sign.</p>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
{% endif %}</div>
<p><button class="primary" id="sign" type="submit">Sign</button></p>
</form>"""

_ADMIN = """<h1>Administration</h1>
<h2>Users</h2><table id="users"><tr><th>User</th><th>Printed name</th><th>Roles</th>
<th>Failed sign-ins</th><th>State</th><th>Sessions</th><th></th></tr>{% for u in users %}
<tr data-user="{{ u.user_id }}"><td>{{ u.user_id }}</td><td>{{ u.printed_name }}</td><td>
<form method="post" action="/console/admin/roles/{{ u.user_id }}" class="roles">
<input type="hidden" name="csrf" value="{{ csrf }}">{% for r in all_roles %}<label class="inline">
<input type="checkbox" name="roles" value="{{ r }}"{% if r in u.roles %} checked{% endif %}>
{{ r }}</label> {% endfor %}<button>Set roles</button></form></td>
<td>{{ u.failed }}</td><td>{% if u.disabled %}<span class="bad">disabled</span>{% elif u.locked
%}<span class="bad">throttled</span>{% else %}active{% endif %}</td><td>{{ u.sessions }}</td><td>
{% if u.failed %}<form method="post" action="/console/admin/unlock/{{ u.user_id }}">
<input type="hidden" name="csrf" value="{{ csrf }}"><button>Unlock</button></form>{% endif %}
{% if u.sessions %}<form method="post" action="/console/admin/sessions/{{ u.user_id }}/revoke">
<input type="hidden" name="csrf" value="{{ csrf }}"><button>End sessions</button></form>
{% endif %}<form method="post" action="/console/admin/{{ 'enable' if u.disabled else 'disable'
}}/{{ u.user_id }}"><input type="hidden" name="csrf" value="{{ csrf }}"><button>
{{ 'Enable' if u.disabled else 'Disable' }}</button></form>
<form method="post" action="/console/admin/remove/{{ u.user_id }}">
<input type="hidden" name="csrf" value="{{ csrf }}"><button>Remove</button></form></td></tr>
{% endfor %}</table>
<h2>Integration tokens</h2><table id="tokens"><tr><th>Token</th><th>Client</th><th>Scopes</th>
<th>Site</th><th>Expires</th><th>State</th><th></th></tr>{% for t in tokens %}<tr>
<td>{{ t.token_id }}</td><td>{{ t.client }}</td><td>{{ t.scopes|join(', ') }}</td>
<td>{{ t.site or 'any' }}</td><td>{{ t.expires_at|when }}</td><td>{{ t.state }}</td><td>
{% if t.state == 'active' %}<form method="post" action="/console/admin/tokens/{{ t.token_id
}}/revoke"><input type="hidden" name="csrf" value="{{ csrf }}"><button>Revoke</button></form>
{% endif %}</td></tr>{% endfor %}</table>
<h2>Security log</h2><table id="security-log"><tr><th>At</th><th>Event</th><th>User</th>
<th>Actor</th><th>Batch</th><th>Target</th><th>Detail</th></tr>{% for e in log %}<tr>
<td>{{ e.at|when }}</td><td>{{ e.event }}</td><td>{{ e.user_id or '' }}</td><td>{{ e.actor }}</td>
<td>{{ e.batch_id or '' }}</td><td>{{ e.target or '' }}</td><td>{{ e.detail }}</td></tr>
{% endfor %}</table>"""

_ERROR = """<h1>{{ status }}</h1><p class="error" id="error">{{ message }}</p>
<p><a href="/console">Back to the board</a></p>"""


ENV = Environment(
    loader=DictLoader(
        {
            "layout": _LAYOUT,
            "login": _LOGIN,
            "inbox": _INBOX,
            "batch": _BATCH,
            "decide": _DECIDE,
            "admin": _ADMIN,
            "error": _ERROR,
            **board_templates.TEMPLATES,
            **account_templates.TEMPLATES,
        }
    ),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
)
ENV.filters.update(board_templates.FILTERS)


def render_page(
    name: str,
    *,
    title: str,
    partial: bool = False,
    who: Any = None,
    csrf: str = "",
    refresh: int | None = None,
    tz: str = "UTC",
    **values: Any,
) -> str:
    """The page `name` with `values`, in the layout unless `partial`; moments print in `tz`."""
    content = ENV.get_template(name).render(who=who, csrf=csrf, tz=tz, **values)
    if partial:
        return content
    return ENV.get_template("layout").render(
        title=title,
        who=who,
        csrf=csrf,
        refresh=refresh,
        content=content,
    )


#: The console's style sheet, served at /console.css (no inline style: see `headers`).
CONSOLE_CSS = _CSS + board_templates.CSS
