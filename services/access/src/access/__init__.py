"""Access: company social accounts, grants, the credential vault, and revocation on leaving."""
