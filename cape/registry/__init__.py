"""The versioned agent registry: specs, semantic versions and the built-in agents."""

from cape.registry.spec import AgentSpec, dump_yaml, load_yaml, parse_spec

__all__ = ["AgentSpec", "dump_yaml", "load_yaml", "parse_spec"]
