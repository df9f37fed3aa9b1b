//! The FaaS platform the client runs on, by the MongoDB Handshake specification's rules for
//! `client.env.name`: sent in the handshake, and what `serverMonitoringMode=auto` goes by.

use std::sync::OnceLock;

/// The platform of this process (its environment is read once).
pub(crate) fn current() -> Option<&'static str> {
    static PLATFORM: OnceLock<Option<&'static str>> = OnceLock::new();
    *PLATFORM.get_or_init(|| faas_platform(|name| std::env::var(name).ok()))
}

/// The FaaS platform the environment names, if exactly one does (Vercel runs on AWS Lambda and
/// wins over it; any other two together name none, as the handshake rules say).
fn faas_platform(var: impl Fn(&str) -> Option<String>) -> Option<&'static str> {
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
}
