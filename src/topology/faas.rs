//! Whether the client runs on a FaaS platform, for `serverMonitoringMode=auto` (Server
//! Monitoring specification): the MongoDB Handshake specification's rules for `client.env.name`,
//! over the process environment.

use crate::options::ServerMonitoringMode;

/// The FaaS platform the environment names, if exactly one does (Vercel runs on AWS Lambda and
/// wins over it; any other two together name none, as the handshake rules say).
pub(crate) fn faas_platform(var: impl Fn(&str) -> Option<String>) -> Option<&'static str> {
    let set = |name: &str| var(name).is_some_and(|v| !v.is_empty());
    let aws = var("AWS_EXECUTION_ENV").is_some_and(|v| v.starts_with("AWS_Lambda_"))
        || set("AWS_LAMBDA_RUNTIME_API");
    let found: Vec<&'static str> = [
        ("aws.lambda", aws),
        ("azure.func", set("FUNCTIONS_WORKER_RUNTIME")),
        ("gcp.func", set("K_SERVICE") || set("FUNCTION_NAME")),
        ("vercel", set("VERCEL")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    match found[..] {
        [one] => Some(one),
        ["aws.lambda", "vercel"] => Some("vercel"),
        _ => None,
    }
}

/// Whether monitors may use the streaming protocol (when the server supports it).
pub(crate) fn streaming_enabled(mode: ServerMonitoringMode, on_faas: bool) -> bool {
    match mode {
        ServerMonitoringMode::Stream => true,
        ServerMonitoringMode::Poll => false,
        _ => !on_faas,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Environment variables, by name.
    type Vars<'a> = &'a [(&'a str, &'a str)];

    fn platform(vars: Vars<'_>) -> Option<&'static str> {
        faas_platform(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn each_platform_is_told_by_its_variables() {
        let cases: &[(Vars<'_>, Option<&str>)] = &[
            (&[], None),
            (
                &[("AWS_EXECUTION_ENV", "AWS_Lambda_java8")],
                Some("aws.lambda"),
            ),
            (&[("AWS_EXECUTION_ENV", "EC2")], None),
            (
                &[("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")],
                Some("aws.lambda"),
            ),
            (&[("FUNCTIONS_WORKER_RUNTIME", "node")], Some("azure.func")),
            (&[("K_SERVICE", "svc")], Some("gcp.func")),
            (&[("FUNCTION_NAME", "fn")], Some("gcp.func")),
            (&[("VERCEL", "1")], Some("vercel")),
            (&[("VERCEL", "")], None),
            // Vercel runs on Lambda: Vercel.
            (
                &[
                    ("AWS_EXECUTION_ENV", "AWS_Lambda_nodejs20.x"),
                    ("VERCEL", "1"),
                ],
                Some("vercel"),
            ),
            // Two that contradict each other: none.
            (
                &[
                    ("AWS_LAMBDA_RUNTIME_API", "x"),
                    ("FUNCTIONS_WORKER_RUNTIME", "node"),
                ],
                None,
            ),
        ];
        for (vars, expected) in cases {
            assert_eq!(platform(vars), *expected, "{vars:?}");
        }
    }

    #[test]
    fn auto_streams_except_on_faas() {
        use ServerMonitoringMode::*;
        for (mode, on_faas, streams) in [
            (Stream, false, true),
            (Stream, true, true),
            (Poll, false, false),
            (Poll, true, false),
            (Auto, false, true),
            (Auto, true, false),
        ] {
            assert_eq!(
                streaming_enabled(mode, on_faas),
                streams,
                "{mode:?} {on_faas}"
            );
        }
    }
}
