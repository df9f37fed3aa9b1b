//! `serverMonitoringMode` (Server Monitoring specification): whether monitors may stream.

use crate::conn::faas;
use crate::options::ServerMonitoringMode;

/// Whether monitors may stream under `mode`, on this process's platform.
pub(crate) fn streaming_enabled(mode: ServerMonitoringMode) -> bool {
    streams(mode, faas::current().is_some())
}

/// `auto` streams except on a FaaS platform, where a frozen process would leave a stream
/// waiting on the server's side.
fn streams(mode: ServerMonitoringMode, on_faas: bool) -> bool {
    match mode {
        ServerMonitoringMode::Stream => true,
        ServerMonitoringMode::Poll => false,
        _ => !on_faas,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_streams_except_on_faas() {
        use ServerMonitoringMode::*;
        for (mode, on_faas, expected) in [
            (Stream, false, true),
            (Stream, true, true),
            (Poll, false, false),
            (Poll, true, false),
            (Auto, false, true),
            (Auto, true, false),
        ] {
            assert_eq!(streams(mode, on_faas), expected, "{mode:?} {on_faas}");
        }
    }
}
