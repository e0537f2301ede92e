"""Pure unit tests: the core with an injected clock, and loopback peers the
test starts itself. No fdk process, no seeded stack, no conftest needed:
`make unit` runs this folder, and `make mutate` runs it with --noconftest."""
