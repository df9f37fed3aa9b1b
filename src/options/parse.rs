//! Connection string parsing (Connection String and URI Options specifications).
//! TODO(issue 2): the full implementation.

use super::types::*;
use crate::error::{Error, Result};

pub(crate) fn parse_uri(_uri: &str) -> Result<ClientOptions> {
    Err(Error::internal("connection string parsing is not implemented yet"))
}

pub(crate) fn parse_host(_address: &str) -> Result<ServerAddress> {
    Err(Error::internal("host parsing is not implemented yet"))
}
