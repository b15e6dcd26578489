"""The suite as a library: state machines, checkers, scenarios, reports and the kinv CLI."""
