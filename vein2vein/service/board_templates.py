"""The board's, the deviation queue's and the capacity view's HTML, the filters every console
page formats moments with, and the live-update script.

Live updates replace only regions marked `data-live` (a page's filters, forms and anything
unmarked are never touched), skip a region while someone types in it, and reopen the
`<details>` a person had opened (matched by id), so a poll never undoes what the reader did.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from vein2vein.readable import quantity, utc_iso, when

CSS = """
.risk-overdue{background:#f6cfcf}.risk-near{background:#fbe3b5}.risk-fine{background:#e4f3e6}
div.clock{padding:.05rem .3rem;margin:.1rem 0;border-radius:.3rem}
td.next.risk-none{background:none}tr.row-overdue td:first-child{border-left:4px solid #b00020}
tr.row-near td:first-child{border-left:4px solid #d08a00}
p.sorts a,p.sorts b{margin-right:.6rem}time{border-bottom:1px dotted #8894a0}
.lane{display:inline-block;width:.8rem;height:.8rem;margin-right:2px;border-radius:2px}
.lane.booked{background:#1f3b57}.lane.free{background:#cdebd3}
tr.load-full{background:#f6cfcf}tr.load-busy{background:#fbe3b5}
"""


_BOARD = """<h1>Batches</h1>
<form class="filters" method="get" action="/console" id="board-filters">
<div><label for="f-product">Product</label><select id="f-product" name="product">
<option value="">any</option>{% for p in products %}
<option{% if p == f.product %} selected{% endif %}>{{ p }}</option>{% endfor %}</select></div>
<div><label for="f-site">Site</label><select id="f-site" name="site"><option value="">any</option>
{% for s in sites %}<option{% if s == f.site %} selected{% endif %}>{{ s }}</option>{% endfor %}
</select></div>
<div><label for="f-status">Status</label><select id="f-status" name="status">
<option value="">any</option>{% for s in statuses %}
<option{% if s == f.status %} selected{% endif %}>{{ s }}</option>{% endfor %}</select></div>
<input type="hidden" name="sort" value="{{ sort }}">
<div><button type="submit">Filter</button></div></form>
<p class="sorts" id="sorts">Order: {% for s in sorts %}{% if s.current %}<b data-sort="{{ s.key }}">
{{ s.label }}</b>{% else %}<a href="{{ s.href }}" data-sort="{{ s.key }}">{{ s.label }}</a>
{% endif %}{% endfor %}</p>
<div data-live="board"><table id="board" data-sort="{{ sort }}"><thead><tr><th>Batch</th>
<th>Product</th><th>Status</th><th>Waiting for</th><th>Running clocks</th><th>Next deadline</th>
<th>Open deviations</th><th>Sites</th></tr></thead><tbody>
{% for r in rows %}<tr data-batch="{{ r.batch_id }}" data-risk="{{ r.risk }}"
class="row-{{ r.risk }}">
<td><a href="/console/batches/{{ r.batch_id }}">{{ r.batch_id }}</a></td>
<td>{{ r.product }} {{ r.definition_version }}</td>
<td><span class="badge s-{{ r.status.value }}">{{ r.status.value }}</span>
{% if r.stage %}<br><small>{{ r.stage }}</small>{% endif %}</td>
<td class="awaiting">{% for a in r.awaiting %}<div>{{ a.label }} <small>since {{ a.since|moment }}
({{ a.waited }}){% if a.deadline %}, due {{ a.deadline|moment }}{% endif %}
{% if a.roles %}· {{ a.roles }}{% endif %}</small></div>{% endfor %}</td>
<td class="clocks">{% for c in r.clocks %}<div class="clock risk-{{ c.risk }}"
data-risk="{{ c.risk }}">{{ c.name }} <small>{{ c.kind }}</small>: <b>{{ c.remaining }}</b>
<small>until {{ c.limit|moment }}</small></div>{% endfor %}</td>
<td class="next risk-{{ r.next.risk }}">{{ r.next.text }}{% if r.next.at %}
<small>{{ r.next.word }} {{ r.next.at|moment }}</small>{% endif %}</td>
<td class="deviations">{% if r.deviations %}<a class="bad" href="/console/deviations">
{{ r.deviations|length }}</a> {{ r.deviations|join(' ') }}{% else %}0{% endif %}</td>
<td>{{ r.sites }}</td></tr>
{% else %}<tr><td colspan="8">No batches.</td></tr>{% endfor %}</tbody></table></div>"""

_DEVIATIONS = """<h1>Open deviations</h1>
<p>Every open deviation of the board's batches, oldest first.</p>
<div data-live="deviations"><table id="deviation-queue"><thead><tr><th>Deviation</th>
<th>Batch</th><th>Product</th><th>Kind</th><th>Step</th><th>Description</th><th>Opened</th>
<th>Age</th><th>Stops the batch</th><th>Who may dispose</th><th></th></tr></thead><tbody>
{% for d in rows %}<tr data-batch="{{ d.batch_id }}" data-deviation="{{ d.deviation_id }}">
<td>{{ d.deviation_id }}</td><td><a href="/console/batches/{{ d.batch_id }}">{{ d.batch_id }}</a>
</td><td>{{ d.product }}</td><td>{{ d.kind }}</td><td>{{ d.step }}</td><td>{{ d.description }}</td>
<td>{{ d.opened_at|moment }}</td><td>{{ d.age }}</td><td>{{ 'yes' if d.blocking else 'no' }}</td>
<td>{{ d.may_dispose }}</td><td>{% if d.mine %}<a class="decide"
href="/console/batches/{{ d.batch_id }}/decide?target={{ d.deviation_id|urlencode }}">Dispose</a>
{% endif %}</td></tr>
{% else %}<tr><td colspan="11">No open deviations.</td></tr>{% endfor %}</tbody></table></div>"""

_CAPACITY = """<h1>Manufacturing capacity</h1>
<form class="filters" method="get" action="/console/capacity" id="capacity-filters">
<div><label for="c-start">From (UTC day)</label>
<input type="date" id="c-start" name="start" value="{{ start }}"></div>
<div><label for="c-days">Days</label>
<input type="number" id="c-days" name="days" min="1" max="92" value="{{ days }}"></div>
<div><button type="submit">Show</button></div></form>
<div data-live="capacity">{% for s in sites %}<h2>{{ s.site_id }}{% if s.name %} · {{ s.name }}
{% endif %}</h2><p><small>{{ s.lanes }} lanes</small></p>
<table class="capacity" id="capacity-{{ s.site_id }}" data-site="{{ s.site_id }}"><thead><tr>
<th>Day</th><th>Booked</th><th>Free</th><th>Lanes</th><th>Batches</th></tr></thead><tbody>
{% for d in s.days %}<tr data-day="{{ d.day.isoformat() }}" class="load-{{ d.load }}">
<td>{{ d.day.strftime('%a %Y-%m-%d') }}</td><td class="booked">{{ d.booked|length }}</td>
<td class="free">{{ d.free }}</td><td class="lanes">{% if d.lanes <= 40 %}
{% for lane, b in d.booked %}<span class="lane booked" title="lane {{ lane }}: {{ b }}"></span>
{% endfor %}{% for _ in range(d.free) %}<span class="lane free"></span>{% endfor %}{% endif %}</td>
<td>{% for lane, b in d.booked %}lane {{ lane }}: <a href="/console/batches/{{ b }}">{{ b }}</a>
{% if not loop.last %}, {% endif %}{% endfor %}</td></tr>{% endfor %}</tbody></table>
{% else %}<p>No manufacturing site is configured.</p>{% endfor %}</div>"""

#: The templates this module adds to the console's environment.
TEMPLATES = {"board": _BOARD, "deviations": _DEVIATIONS, "capacity": _CAPACITY}


@pass_context
def when_filter(context: Context, at: datetime | None, tz: str | None = None) -> str:
    """`{{ at|when }}`: the moment in the page's zone (`tz` in the context), or `tz`."""
    return when(at, tz or context.get("tz"))


@pass_context
def moment_filter(context: Context, at: datetime | None, tz: str | None = None) -> Markup:
    """`{{ at|moment }}`: the moment in the page's zone with the exact UTC instant on hover."""
    if at is None:
        return Markup("")
    iso = utc_iso(at)
    text = when(at, tz or context.get("tz"))
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(iso, text)


def quantity_filter(value: Any, unit: str = "") -> str:
    """`{{ value|quantity(unit) }}`: four significant digits and the unit."""
    return quantity(value, unit)


#: The filters this module adds to the console's environment.
FILTERS = {"when": when_filter, "moment": moment_filter, "quantity": quantity_filter}
