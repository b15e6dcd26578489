"""The API server: registry and REST semantics, authentication, the authorizer chain, admission.

Only the authorization part (``impl.apiserver.authz``) exists so far.
"""

__all__: list[str] = []
