"""The one place that talks to the API server: the client (`client`), its login
(`credentials`) and the bounded poster of Events (`event_poster`)."""
