"""The console's process pages: every product the deployment runs, and each one's diagram.

`/console/definitions` lists product, version, title and content hash (the hash a batch is
pinned to); `/console/definitions/{product}` draws the process with Mermaid in the browser.
Mermaid is bundled (`static/mermaid/`) and started by `static/diagram.js`: no CDN, no inline
script. The diagram text is autoescaped into the page and Mermaid runs with
`securityLevel: "strict"`, so a name in a definition cannot become markup or a link.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import ChoiceLoader, DictLoader

from definitions.lock import BUILT_IN_LOCK, DefinitionLock
from records.approvals import Approvals
from vein2vein.approvals import APPROVER_ROLES, approval_signature, approve
from vein2vein.service.assets import STATIC_URL
from vein2vein.service.auth import Ctx, Principal, check_csrf, console_user, csrf_token
from vein2vein.service.authn import AuthError
from vein2vein.service.templates import ENV, render_page
from workflows.definition import PRODUCT_PATTERN, CompiledDefinition
from workflows.diagram import to_mermaid
from workflows.model import DecisionAction, Role

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Who = Annotated[Principal, Depends(console_user)]
Product = Annotated[str, Path(max_length=80)]

_LIST = """<h1>Processes</h1>
<p>Every product this deployment runs. A batch is pinned to the content hash of the
definition it started with.</p>
<table id="definitions"><thead><tr><th>Product</th><th>Title</th><th>Version</th>
<th>Content hash</th><th>For use</th><th>Stages</th></tr></thead><tbody>
{% for d in definitions %}<tr data-product="{{ d.product }}">
<td><a href="/console/definitions/{{ d.product }}">{{ d.product }}</a></td><td>{{ d.title }}</td>
<td>{{ d.version }}</td><td><code title="{{ d.content_hash }}">{{ d.content_hash[:12] }}</code>
</td><td class="{{ 'ok' if not refusals[d.product] else 'bad' }}">{{ refusals[d.product] or
'approved, in use' }}</td><td>{{ d.stages|map(attribute='name')|join(' → ') }}</td></tr>
{% else %}<tr><td colspan="6">No products.</td></tr>{% endfor %}</tbody></table>"""

_ONE = """<h1>{{ d.title }}</h1>
<p><a href="/console/definitions">Processes</a> · {{ d.product }} version {{ d.version }} ·
content hash <code id="content-hash">{{ d.content_hash }}</code></p>
{% if d.description %}<p>{{ d.description }}</p>{% endif %}
<p class="error" id="diagram-error" hidden></p>
<pre class="mermaid" id="diagram">{{ diagram }}</pre>
<p><small>Stages are boxes, steps in order top to bottom; a diamond is a gate (who signs),
a hexagon a branch, a stadium a wait for an outside report, a parallelogram a custody handoff;
dotted edges are hold times and repeats.</small></p>
<details><summary>Mermaid source (<code>vein2vein definitions diagram {{ d.product }}</code>)
</summary><pre id="diagram-source">{{ diagram }}</pre></details>
<h2>Approval for use</h2>
<p id="approval-state" class="{{ 'ok' if not refusal else 'bad' }}">{{ refusal or
'This version is approved and in use.' }}</p>
<table id="approvals"><thead><tr><th>Version</th><th>Content hash</th><th>Effective from</th>
<th>Approved by</th><th>Reason</th><th>State</th><th>Changes</th></tr></thead><tbody>
{% for a in approvals %}<tr data-version="{{ a.version }}"><td>{{ a.version }}</td>
<td><code title="{{ a.content_hash }}">{{ a.content_hash[:12] }}</code></td>
<td>{{ a.effective_from|moment }}</td><td>{{ a.approved_by }}, {{ a.approved_at|moment }}</td>
<td>{{ a.reason }}</td><td>{% if a.retired_at %}retired by {{ a.retired_by }},
{{ a.retired_at|moment }}: {{ a.retired_reason }}{% else %}in use{% endif %}</td>
<td>{% if a.diff %}<details><summary>diff</summary><pre>{{ a.diff }}</pre></details>
{% else %}first approved version{% endif %}</td></tr>
{% else %}<tr><td colspan="7">No version of this product was ever approved.</td></tr>
{% endfor %}</tbody></table>
{% if error %}<p class="error" id="approve-error">{{ error }}</p>{% endif %}
{% if approver and refusal %}
<h3>Approve version {{ d.version }} for use</h3>
<form method="post" action="/console/definitions/{{ d.product }}/approve" id="approve">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="content_hash" value="{{ d.content_hash }}">
<p>Meaning: <em>I approve this process definition version for use in production</em>
(content hash <code>{{ d.content_hash[:12] }}</code>).</p>
<label>Role <select name="role" id="approve-role">{% for r in approver_roles %}
<option value="{{ r }}"{% if r == form.role %} selected{% endif %}>{{ r }}</option>
{% endfor %}</select></label>
<label>Effective from (UTC, optional) <input type="datetime-local" name="effective"
id="approve-effective" value="{{ form.effective }}"></label>
<label>Reason (the change record) <textarea name="reason" id="approve-reason" required
maxlength="2000">{{ form.reason }}</textarea></label>
<label>Your password (asked again: 21 CFR 11.200) <input type="password" name="password"
id="approve-password" required autocomplete="current-password"></label>
<button type="submit" id="approve-sign">Sign approval</button></form>
{% endif %}
<p><small>Or from a terminal: <code>vein2vein definitions approve {{ d.product }} --signer ID
--reason TEXT [--effective DATE]</code> (the password is asked again).</small></p>
<script src="{{ static }}/mermaid/mermaid.min.js"></script>
<script src="{{ static }}/diagram.js"></script>"""


def _install_templates() -> None:
    # The pages join the console's template environment, so they share its layout and its
    # autoescaping, without editing the console's own template module.
    if ENV.loader is not None:
        pages = DictLoader({"definitions": _LIST, "definition": _ONE})
        ENV.loader = ChoiceLoader([ENV.loader, pages])


_install_templates()


def _page(
    request: Request,
    ctx: Ctx,
    who: Principal,
    name: str,
    title: str,
    *,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    html = render_page(
        name,
        title=title,
        partial=request.headers.get("x-partial") == "1",
        who=who,
        csrf=csrf_token(ctx, who),
        **values,
    )
    return HTMLResponse(html, status_code=status_code)


def _definition(ctx: Ctx, product: str) -> CompiledDefinition:
    found = ctx.catalog.get(product) if re.fullmatch(PRODUCT_PATTERN, product) else None
    if found is None:
        raise HTTPException(404, f"no product {product} in this deployment's catalog")
    return found


@router.get("/console/definitions")
async def definitions(request: Request, ctx: Ctx, who: Who) -> HTMLResponse:
    """Every product with its version, title, content hash and stages."""
    found = [ctx.catalog[name] for name in sorted(ctx.catalog)]
    approvals = Approvals(ctx.ledger)
    now = datetime.now(UTC)
    refusals = await asyncio.to_thread(
        lambda: {d.product: approvals.refusal(d, now) for d in found}
    )
    return _page(
        request, ctx, who, "definitions", "Processes", definitions=found, refusals=refusals
    )


@router.get("/console/definitions/{product}")
async def definition(request: Request, ctx: Ctx, who: Who, product: Product) -> HTMLResponse:
    """One product's process drawn as a diagram (Mermaid, bundled), with its source text and
    its approvals (and, for QA, the form that approves the current version)."""
    return await _definition_page(request, ctx, who, _definition(ctx, product))


async def _definition_page(
    request: Request,
    ctx: Ctx,
    who: Principal,
    defn: CompiledDefinition,
    *,
    error: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    approvals = Approvals(ctx.ledger)
    history = await asyncio.to_thread(approvals.of, defn.product)
    refusal = approvals.refusal(defn, datetime.now(UTC))
    return _page(
        request,
        ctx,
        who,
        "definition",
        defn.title,
        d=defn,
        diagram=to_mermaid(defn),
        static=STATIC_URL,
        approvals=sorted(history.values(), key=lambda a: a.approved_at, reverse=True),
        refusal=refusal,
        approver=bool(set(who.roles) & APPROVER_ROLES),
        approver_roles=sorted(r.value for r in set(who.roles) & APPROVER_ROLES),
        error=error,
        form=form or {"reason": "", "effective": "", "role": ""},
        status_code=status_code,
    )


@router.post("/console/definitions/{product}/approve")
async def approve_definition(
    request: Request,
    ctx: Ctx,
    who: Who,
    product: Product,
    csrf: Annotated[str, Form(max_length=100)],
    content_hash: Annotated[str, Form(max_length=64)],
    role: Annotated[str, Form(max_length=40)],
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
    password: Annotated[str, Form(max_length=200)],
    effective: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Approve the catalog's version of `product` for use: QA or a qualified person, the
    password asked again, signed over the content hash shown on the page; the approval and
    its diff go to the ledger. A refusal shows the form again with what was typed."""
    check_csrf(ctx, who, csrf)
    defn = _definition(ctx, product)
    typed = {"reason": reason, "effective": effective, "role": role}

    async def again(message: str, status: int) -> HTMLResponse:
        return await _definition_page(
            request, ctx, who, defn, error=message, form=typed, status_code=status
        )

    if content_hash != defn.content_hash:
        return await again("the definition changed since the page was shown; reload", 409)
    try:
        signer_role = Role(role)
        start = datetime.fromisoformat(effective) if effective else datetime.now(UTC)
    except ValueError:
        return await again("choose a role and an effective date and time", 422)
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    if signer_role not in APPROVER_ROLES or signer_role not in who.roles:
        return await again(f"you may not approve definitions as {role}", 403)
    lock = DefinitionLock.load(ctx.settings.definition_lock_path or BUILT_IN_LOCK)
    if lock.locked(defn.product, defn.version) != defn.content_hash:
        return await again(f"{defn.product} {defn.version} is not in the definition lock", 409)
    try:
        user = await asyncio.to_thread(
            ctx.identity.auth.authenticate, who.id, password, purpose=f"approval {product}"
        )
    except AuthError as err:
        return await again(err.message, err.status)
    signature = approval_signature(
        ctx.key,
        product=defn.product,
        version=defn.version,
        content_hash=defn.content_hash,
        action=DecisionAction.APPROVE,
        signer_id=user.user_id,
        printed_name=user.printed_name,
        role=signer_role,
        reason=reason,
        signed_at=datetime.now(UTC),
    )
    try:
        await asyncio.to_thread(approve, Approvals(ctx.ledger), defn, signature, start, [defn])
    except ValueError as err:
        return await again(str(err), 409)
    return RedirectResponse(f"/console/definitions/{defn.product}", status_code=303)
