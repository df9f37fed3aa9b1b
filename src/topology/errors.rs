//! What an operation's error does to the topology (SDAM "Error handling"), as a pure decision.

use crate::error::{Error, ErrorKind};
use crate::options::ServerAddress;
use crate::sdam::{self, TopologyDescription};

/// What to do after an application error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) mark_unknown: bool,
    pub(crate) clear_pool: bool,
    pub(crate) request_check: bool,
}

/// Decides (and applies to `description`) what an error on a connection of `generation` does.
///
/// - An error on a connection older than the pool (`generation < pool_generation`) is stale:
///   the pool was cleared since, nothing more to do.
/// - A network error, or a timeout before the handshake completed: the server is marked
///   Unknown and its pool cleared. A timeout after the handshake only closes the connection.
/// - A "not writable primary" / "node is recovering" error: the server is marked Unknown and
///   checked at once; its pool is cleared only for servers before 4.2 (wire version 8) or on
///   shutdown, since newer servers keep their connections open across a stepdown.
pub(crate) fn decide(
    description: &mut TopologyDescription,
    address: &ServerAddress,
    generation: u32,
    pool_generation: u32,
    after_handshake: bool,
    max_wire_version: i32,
    error: &Error,
) -> Decision {
    if generation < pool_generation {
        return Decision::default();
    }
    let decision = match &*error.kind {
        ErrorKind::Timeout { .. } if after_handshake => Decision::default(),
        _ if error.is_network_error() => Decision {
            mark_unknown: true,
            clear_pool: true,
            request_check: false,
        },
        ErrorKind::Command { code, message, .. } if sdam::is_state_change_error(*code, message) => {
            let shutdown = matches!(code, 11600 | 91);
            Decision {
                mark_unknown: true,
                clear_pool: shutdown || max_wire_version < 8,
                request_check: true,
            }
        }
        _ => Decision::default(),
    };
    if decision.mark_unknown {
        description.mark_unknown(address, error.to_string());
    }
    decision
}
