"""Small plugin programs that misbehave on purpose, for the host's fault tests."""
