"""URLs of the alerts API (mounted under /api/v1/alerts/)."""

from django.urls import path

from alerts.api import views

app_name = "alerts"

urlpatterns = [
    path("conditions/", views.AlertConditionListApi.as_view(), name="condition-list"),
    path("rules/", views.AlertRuleListApi.as_view(), name="rule-list"),
    path("rules/<int:rule_id>/", views.AlertRuleDetailApi.as_view(), name="rule-detail"),
    path("rules/<int:rule_id>/backtest/", views.AlertRuleBacktestApi.as_view(), name="rule-backtest"),
    path("channels/", views.ChannelListApi.as_view(), name="channel-list"),
    path("channels/verify/", views.ChannelVerifyApi.as_view(), name="channel-verify"),
    path("channels/<int:channel_id>/", views.ChannelDetailApi.as_view(), name="channel-detail"),
    path(
        "channels/<int:channel_id>/verification/",
        views.ChannelVerificationResendApi.as_view(),
        name="channel-verification-resend",
    ),
    path("events/", views.AlertEventListApi.as_view(), name="event-list"),
    path("events/<int:event_id>/", views.AlertEventDetailApi.as_view(), name="event-detail"),
]
