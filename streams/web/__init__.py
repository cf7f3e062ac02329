"""The worker's HTTP views: health, metrics, analyst SQL and reports, live views with
server-sent events, the dashboard page, the recommender endpoints."""
