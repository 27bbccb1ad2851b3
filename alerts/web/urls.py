"""URLs of the alerts pages, mounted at /alerts/ (namespace alerts_web; the API's is alerts)."""

from django.urls import path

from alerts.web import views

app_name = "alerts_web"

urlpatterns = [
    path("", views.rule_list, name="rule-list"),
    path("new/", views.rule_create, name="rule-create"),
    path("preview/", views.rule_preview, name="rule-preview"),
    path("<int:rule_id>/", views.rule_detail, name="rule-detail"),
    path("<int:rule_id>/edit/", views.rule_edit, name="rule-edit"),
    path("<int:rule_id>/duplicate/", views.rule_duplicate, name="rule-duplicate"),
    path("<int:rule_id>/act/", views.rule_act, name="rule-act"),
    path("<int:rule_id>/delete/", views.rule_delete, name="rule-delete"),
    path("events/", views.event_list, name="event-list"),
    path("channels/", views.channel_list, name="channel-list"),
    path("channels/<int:channel_id>/act/", views.channel_act, name="channel-act"),
    path("pairs/<str:pair>/thresholds.json", views.pair_thresholds, name="pair-thresholds"),
    path("act/<str:token>/", views.action_link, name="action"),
]
