"""The console's pages about one's own account: choosing a password (forced after an
administrator set it, or at will) and the single sign-on button of the login page."""

from __future__ import annotations

_PASSWORD = """<h1>Change your password</h1>
{% if forced %}<p class="notice" id="forced">Your password was set by an administrator (or is a
published demonstration password). Choose your own before you go on: until then the console
shows nothing else and nothing can be signed as you.</p>{% endif %}
{% if error %}<p class="error" id="error">{{ error }}</p>{% endif %}
<form method="post" action="/console/password" id="password-form">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="next" value="{{ next }}">
<label for="current">Current password</label>
<input id="current" name="current" type="password" autocomplete="current-password" required>
<label for="new">New password (at least {{ min_length }} characters)</label>
<input id="new" name="new" type="password" autocomplete="new-password" required
minlength="{{ min_length }}">
<label for="again">New password again</label>
<input id="again" name="again" type="password" autocomplete="new-password" required
minlength="{{ min_length }}">
<p><button class="primary" type="submit" id="change">Change password</button></p>
</form>"""

#: Included by the login page when single sign-on is configured.
_SSO_BUTTON = """{% if sso_name %}<form method="post" action="/login/oidc" id="sso">
<input type="hidden" name="next" value="{{ next }}">
<input type="hidden" name="login_csrf" value="{{ login_csrf }}">
<p><button class="primary" type="submit">Sign in with {{ sso_name }}</button></p>
</form><p>or with a vein2vein password:</p>{% endif %}"""

#: The templates of this module, by name (`vein2vein.service.templates.ENV` loads them).
TEMPLATES = {"password": _PASSWORD, "sso_button": _SSO_BUTTON}
