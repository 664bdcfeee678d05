from django.urls import path

from chat import views

urlpatterns = [
    path("", views.chatkit_endpoint, name="chatkit"),
    path("upload/", views.attachment_upload, name="chatkit-upload"),
    path("limits/", views.user_limits, name="chatkit-limits"),
    path("entities/", views.entity_search, name="chatkit-entities"),
    path("entities/preview/", views.entity_preview, name="chatkit-entity-preview"),
    path("threads/<str:thread_id>/stop/", views.stop_thread_turn, name="chatkit-stop"),
    path("threads/<str:thread_id>/resume/", views.resume_thread_turn, name="chatkit-resume"),
    path("threads/search/", views.search_threads, name="chatkit-thread-search"),
    path("threads/<str:thread_id>/items/", views.thread_item_states, name="chatkit-item-states"),
    path(
        "threads/<str:thread_id>/items/<str:item_id>/feedback/",
        views.item_feedback,
        name="chatkit-item-feedback",
    ),
    path(
        "threads/<str:thread_id>/items/<str:item_id>/edit/",
        views.edit_item,
        name="chatkit-item-edit",
    ),
    path("attachments/<str:attachment_id>/", views.attachment_download, name="chatkit-attachment"),
    path(
        "attachments/<str:attachment_id>/upload/",
        views.attachment_upload_target,
        name="chatkit-attachment-upload",
    ),
]
