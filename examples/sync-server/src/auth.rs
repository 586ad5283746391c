//! Bearer tokens, each bound to one scope (tenant or workspace).
//!
//! The scope of a request comes only from its token, so a token can never
//! name another scope: every scope has its own stream and sequence.

use std::collections::HashMap;

use axum::http::{header, HeaderMap, StatusCode};

use crate::error::ApiError;

/// The scope every request uses when no tokens are configured.
pub const OPEN_SCOPE: &str = "default";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Pull, stream, snapshot.
    Read,
    /// Everything `Read` may, and push.
    ReadWrite,
}

/// What one token grants: a scope and an access level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The scope the token reads and writes.
    pub scope: String,
    /// Read-only or read-write.
    pub access: Access,
}

/// Parses `TOKEN=SCOPE` (read-write) or `TOKEN=SCOPE:ro` (read-only).
pub fn parse_token_spec(spec: &str) -> Result<(String, Grant), String> {
    let (token, rest) = spec
        .split_once('=')
        .ok_or_else(|| format!("token `{}`: expected TOKEN=SCOPE[:ro]", redact(spec)))?;
    let (scope, access) = match rest.rsplit_once(':') {
        Some((scope, "ro")) => (scope, Access::Read),
        Some((scope, "rw")) => (scope, Access::ReadWrite),
        _ => (rest, Access::ReadWrite),
    };
    if token.is_empty() || scope.is_empty() {
        return Err(format!(
            "token `{}`: token and scope must be non-empty",
            redact(spec)
        ));
    }
    Ok((
        token.to_string(),
        Grant {
            scope: scope.to_string(),
            access,
        },
    ))
}

/// Keeps tokens out of error messages and logs.
fn redact(spec: &str) -> String {
    match spec.split_once('=') {
        Some((_, rest)) => format!("***={rest}"),
        None => "***".into(),
    }
}

/// The token table of a running server.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    tokens: HashMap<String, Grant>,
}

impl Auth {
    /// A table from `(token, grant)` pairs; empty means open (loopback only).
    pub fn new(tokens: impl IntoIterator<Item = (String, Grant)>) -> Self {
        Auth {
            tokens: tokens.into_iter().collect(),
        }
    }

    /// No tokens configured: every request uses [`OPEN_SCOPE`].
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The scope a request may use for an operation that needs `need`:
    /// 401 for a missing or unknown token, 403 for too little access.
    pub fn authorize(&self, headers: &HeaderMap, need: Access) -> Result<String, ApiError> {
        if self.is_open() {
            return Ok(OPEN_SCOPE.to_string());
        }
        let token = bearer(headers).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing `Authorization: Bearer <token>`",
            )
        })?;
        let grant = self.tokens.get(token).ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "unknown token")
        })?;
        if need == Access::ReadWrite && grant.access == Access::Read {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this token may only read its scope",
            ));
        }
        Ok(grant.scope.clone())
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_specs_parse() {
        let (t, g) = parse_token_spec("abc=team-1").unwrap();
        assert_eq!(
            (t.as_str(), g.scope.as_str(), g.access),
            ("abc", "team-1", Access::ReadWrite)
        );
        let (_, g) = parse_token_spec("abc=team-1:ro").unwrap();
        assert_eq!((g.scope.as_str(), g.access), ("team-1", Access::Read));
        assert!(parse_token_spec("abc").is_err());
        assert!(parse_token_spec("=x").is_err());
        assert!(!parse_token_spec("secret").unwrap_err().contains("secret"));
    }

    #[test]
    fn bearer_is_case_insensitive() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "bearer  tok ".parse().unwrap());
        assert_eq!(bearer(&h), Some("tok"));
        h.insert(header::AUTHORIZATION, "Basic tok".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
