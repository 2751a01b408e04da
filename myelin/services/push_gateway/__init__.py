"""Delivering push notifications to push gateways (spec: Push Gateway API; Client-Server
API, "Push Notifications"): ``notification`` builds the request body, ``client`` sends it
through the IP range filter, ``context`` reads the names and counts it carries, ``pusher`` is
one pusher's ordered delivery with retries, ``pool`` runs them all."""
