//! Secrets from SSM Parameter Store in production, env vars locally (issue 6).
