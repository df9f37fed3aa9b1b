//! Temporary bridge to the sans-IO selection until the full Server Selection lands in `sdam`.

use std::time::Duration;

use bson::Document;

use crate::options::ServerAddress;
use crate::sdam::{self, SelectionCriteria, ServerDescription, TopologyDescription};

pub(crate) fn suitable_in_window(
    d: &TopologyDescription,
    criteria: &SelectionCriteria,
    _local_threshold: Duration,
) -> Vec<ServerAddress> {
    sdam::select_server(d, criteria).into_iter().collect()
}

pub(crate) fn compatibility_error(_d: &TopologyDescription) -> Option<String> {
    None
}

pub(crate) fn from_hello(
    address: ServerAddress,
    reply: &Document,
    _rtt: Option<Duration>,
) -> ServerDescription {
    ServerDescription::from_hello_document(address, reply)
}

pub(crate) fn topology_version(_d: &ServerDescription) -> Option<Document> {
    None
}
