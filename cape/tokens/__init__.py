"""Bearer JWT verification (JWKS and HS256), independent of the web framework."""
