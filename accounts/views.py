"""Account pages and the session-to-JWT exchange.

Views parse, authorise, call a service and map errors; token minting lives in
accounts.tokens.
"""

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import LoginView
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache

from accounts.tokens import issue_session_access_token


def signup_enabled() -> bool:
    """Read per request so a settings override (tests, env) takes effect at once."""
    return bool(settings.ACCOUNTS_SIGNUP_ENABLED)


class SiteLoginView(LoginView):
    """Django's login page, plus whether to offer the signup link."""

    template_name = "accounts/login.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["signup_enabled"] = signup_enabled()
        return context


def safe_next_url(request: HttpRequest) -> str:
    """The `next` parameter if it points at this site, else the home page.

    Without the check, signup would be an open redirect.
    """
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return "/"


@never_cache
def signup(request: HttpRequest) -> HttpResponse:
    """Create an account, log it in and go on; 404 when signup is switched off."""
    if not signup_enabled():
        raise Http404("Signup is disabled")
    if request.method == "POST":
        form = UserCreationForm(request.POST)
        if form.is_valid():
            user = form.save()
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(safe_next_url(request))
    else:
        form = UserCreationForm()
    context = {"form": form, "next": safe_next_url(request)}
    return render(request, "accounts/signup.html", context)


@never_cache
def session_token(request: HttpRequest) -> JsonResponse:
    """Trade the logged-in session (plus CSRF token) for a short-lived access token.

    CSRF protection stays on: a cross-site page must not be able to mint a token for
    the visitor's session. `never_cache` sets `Cache-Control: no-store`, so no proxy or
    browser cache keeps the token.
    """
    if request.method != "POST":
        return JsonResponse({"detail": "Use POST."}, status=405, headers={"Allow": "POST"})
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Authentication required: log in first"}, status=401)
    access, expires_in = issue_session_access_token(request.user)
    return JsonResponse({"access": access, "expires_in": expires_in, "user_id": request.user.pk})
