"""What runs for the operator's lifetime: kopf's registrations, startup and shutdown,
leader election, the Routers' informer and one loop per Router, deletion, health,
settings and the admission webhook's server."""
