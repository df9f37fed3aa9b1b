//! The test-file model of the Unified Test Format: what a file says, parsed from (relaxed or
//! canonical) extended JSON into BSON, then into these types. Unknown keys are errors, so a
//! field this runner does not know fails loudly instead of being ignored.

use std::path::Path;

use bson::{Bson, Document};
use serde::{Deserialize, Deserializer};

/// The newest schema version this runner implements (Unified Test Format changelog).
pub const SUPPORTED_SCHEMA: (u32, u32) = (1, 28);

/// A whole test file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestFile {
    /// Required by the format; the runner names files by path.
    #[allow(dead_code)]
    pub description: String,
    pub schema_version: String,
    #[serde(default)]
    pub run_on_requirements: Option<Vec<RunOnRequirement>>,
    #[serde(default)]
    pub create_entities: Option<Vec<Document>>,
    #[serde(default)]
    pub initial_data: Option<Vec<CollectionData>>,
    pub tests: Vec<TestCase>,
    #[serde(default, rename = "_yamlAnchors")]
    pub _yaml_anchors: Option<Bson>,
}

/// One `runOnRequirement`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunOnRequirement {
    pub min_server_version: Option<String>,
    pub max_server_version: Option<String>,
    pub topologies: Option<Vec<String>>,
    pub serverless: Option<String>,
    pub server_parameters: Option<Document>,
    pub auth: Option<bool>,
    pub auth_mechanism: Option<String>,
    pub csfle: Option<Bson>,
}

/// `initialData` / `outcome` entries.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CollectionData {
    pub collection_name: String,
    pub database_name: String,
    #[serde(default)]
    pub create_options: Option<Document>,
    pub documents: Vec<Document>,
}

/// One test of a file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestCase {
    pub description: String,
    #[serde(default)]
    pub run_on_requirements: Option<Vec<RunOnRequirement>>,
    #[serde(default)]
    pub skip_reason: Option<String>,
    pub operations: Vec<Operation>,
    #[serde(default)]
    pub expect_events: Option<Vec<ExpectedEventsForClient>>,
    #[serde(default)]
    pub expect_log_messages: Option<Vec<Document>>,
    #[serde(default)]
    pub expect_tracing_messages: Option<Document>,
    #[serde(default)]
    pub outcome: Option<Vec<CollectionData>>,
}

/// One operation.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Operation {
    pub name: String,
    pub object: String,
    #[serde(default)]
    pub arguments: Option<Document>,
    #[serde(default)]
    pub expect_error: Option<ExpectedError>,
    /// `Some(Bson::Null)` when the file says `expectResult: null`.
    #[serde(default, deserialize_with = "present")]
    pub expect_result: Option<Bson>,
    #[serde(default)]
    pub save_result_as_entity: Option<String>,
    #[serde(default)]
    pub ignore_result_and_error: Option<bool>,
}

/// `expectError`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectedError {
    pub is_error: Option<bool>,
    pub is_client_error: Option<bool>,
    pub is_timeout_error: Option<bool>,
    pub error_contains: Option<String>,
    pub error_code: Option<i32>,
    pub error_code_name: Option<String>,
    pub error_labels_contain: Option<Vec<String>>,
    pub error_labels_omit: Option<Vec<String>>,
    pub write_errors: Option<Document>,
    pub write_concern_errors: Option<Vec<Document>>,
    pub error_response: Option<Document>,
    #[serde(default, deserialize_with = "present")]
    pub expect_result: Option<Bson>,
}

/// `expectEvents` entries.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectedEventsForClient {
    pub client: String,
    #[serde(default)]
    pub event_type: Option<String>,
    pub events: Vec<Document>,
    #[serde(default)]
    pub ignore_extra_events: Option<bool>,
}

/// A field that is present, even when it is `null`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Bson>, D::Error> {
    Bson::deserialize(d).map(Some)
}

/// Reads a file: JSON, then extended JSON into BSON, then the model.
pub fn load(path: &Path) -> Result<TestFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    let bson = Bson::try_from(json).map_err(|e| format!("not extended JSON: {e}"))?;
    bson::from_bson(bson).map_err(|e| format!("not a unified test file: {e}"))
}

/// Parses `major[.minor[.patch]]`, ignoring anything after a `-` (pre-release tags).
pub fn parse_version(s: &str) -> Option<(u32, u32, u32)> {
    let core = s.split('-').next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u32>());
    let major = parts.next()?.ok()?;
    let minor = parts.next().transpose().ok()?.unwrap_or(0);
    let patch = parts.next().transpose().ok()?.unwrap_or(0);
    Some((major, minor, patch))
}

/// Whether this runner may run a file of `schema_version`: same major, minor not newer.
pub fn schema_supported(schema_version: &str) -> bool {
    match parse_version(schema_version) {
        Some((major, minor, _)) => major == SUPPORTED_SCHEMA.0 && minor <= SUPPORTED_SCHEMA.1,
        None => false,
    }
}

#[test]
fn versions_parse_and_compare() {
    assert_eq!(parse_version("4.0.10"), Some((4, 0, 10)));
    assert_eq!(parse_version("4.9.0-alpha4-271-g7d5cf02"), Some((4, 9, 0)));
    assert_eq!(parse_version("7"), Some((7, 0, 0)));
    assert!(parse_version("4.x").is_none());
    assert!(parse_version("4.0.10") > parse_version("4.0.9"));
    assert!(schema_supported("1.0") && schema_supported("1.28"));
    assert!(!schema_supported("1.29") && !schema_supported("2.0") && !schema_supported("0.1"));
}
