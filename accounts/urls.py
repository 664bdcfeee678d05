"""Account pages: /accounts/login/, /accounts/logout/, /accounts/signup/."""

from django.contrib.auth.views import LogoutView
from django.urls import path

from accounts import views

urlpatterns = [
    path("login/", views.SiteLoginView.as_view(), name="login"),
    # Django 5's LogoutView accepts POST only, so a link or image cannot log anyone out.
    path("logout/", LogoutView.as_view(), name="logout"),
    path("signup/", views.signup, name="signup"),
]
