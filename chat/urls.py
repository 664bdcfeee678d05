from django.urls import path

from chat import views

urlpatterns = [
    path("", views.chatkit_endpoint, name="chatkit"),
]
