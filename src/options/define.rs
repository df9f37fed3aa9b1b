//! How an operation's options type is declared: each option is written (and documented) once,
//! and that one declaration makes the public struct, its serialization into the command, and the
//! setters of the actions that take it.

/// Declares an options struct.
///
/// ```text
/// options! {
///     /// Options for [`Collection::delete_one`](crate::Collection::delete_one).
///     pub struct DeleteOptions => delete_setters {
///         /// The index to use.
///         hint: Hint => into,
///         /// The server's time limit.
///         #[serde(rename = "maxTimeMS", serialize_with = "ser::millis")]
///         max_time: Duration,
///         /// Applied by the client, not sent.
///         #[serde(skip)]
///         ordered: bool,
///     }
/// }
/// ```
///
/// - Every field is `pub name: Option<Type>`, documented by its doc comment, with a typed builder
///   (`DeleteOptions::builder().hint(...).build()`).
/// - `Serialize` writes the fields that are set, camelCase, as command keys; a field may add
///   `#[serde(...)]` attributes (a rename, a serializer, `skip` for what the client applies).
/// - `delete_setters::setters!()` expands, inside an action's `impl`, to one setter per field carrying the
///   same doc comment, plus `with_options`. `=> into` makes the setter take `impl Into<Type>`,
///   `=> iter` an `impl IntoIterator<Item = Item>` (as the official crate's setters do).
macro_rules! options {
    // A struct whose fields name groups (`..read_tail,`): each group is spliced in where it is
    // named, field by field, then the struct is declared as below.
    (@munch $head:tt [$($done:tt)*] $(,)?) => {
        options! { @emit $head { $($done)* } }
    };
    (@munch $head:tt [$($done:tt)*] ..$group:ident, $($rest:tt)*) => {
        options! { @munch $head [$($done)*] @group $group $($rest)* }
    };
    (@munch $head:tt [$($done:tt)*] @group read_tail $($rest:tt)*) => {
        options! { @munch $head [$($done)*]
            /// Where the read goes (its read preference), over the collection's. Named as in the
            /// official crate, where it is `SelectionCriteria::ReadPreference`.
            #[serde(skip)]
            selection_criteria: ReadPreference => into,
            /// The read concern, over the collection's.
            #[serde(skip)]
            read_concern: ReadConcern,
            ..raw_data,
            $($rest)*
        }
    };
    (@munch $head:tt [$($done:tt)*] @group count_tail $($rest:tt)*) => {
        options! { @munch $head [$($done)*]
            /// `maxTimeMS`: the server's time limit.
            #[serde(rename = "maxTimeMS", serialize_with = "ser::millis")]
            max_time: Duration,
            /// The index to use.
            hint: Hint => into,
            /// The collation for string comparisons.
            collation: Collation,
            /// A comment (any BSON value).
            comment: Bson => into,
            ..read_tail,
            $($rest)*
        }
    };
    (@munch $head:tt [$($done:tt)*] @group find_and_modify_change $($rest:tt)*) => {
        options! { @munch $head [$($done)*]
            /// Which document is changed when several match.
            sort: Document,
            /// Which fields of the returned document to return.
            #[serde(rename = "fields")]
            projection: Document,
            /// Insert a document (the update's result, or the replacement) when none matches.
            upsert: bool,
            /// Return the document before (the default) or after the change.
            #[serde(skip)]
            return_document: ReturnDocument,
            $($rest)*
        }
    };
    (@munch $head:tt [$($done:tt)*] @group raw_data $($rest:tt)*) => {
        options! { @munch $head [$($done)*]
            /// Internal, for MongoDB's own tools (the CRUD specification's `rawData`): act on a
            /// time-series collection's underlying buckets. Not meant for applications; may go
            /// away in any release. Sent only to MongoDB 8.2 and later.
            raw_data: bool,
            $($rest)*
        }
    };
    (@munch $head:tt [$($done:tt)*] @group write_tail $($rest:tt)*) => {
        options! { @munch $head [$($done)*]
            /// The write concern (default: the collection's).
            write_concern: WriteConcern,
            /// Variables the filter (and the update) may use as `$$name` (`let`).
            #[serde(rename = "let")]
            let_vars: Document,
            /// A comment (any BSON value).
            comment: Bson => into,
            ..raw_data,
            $($rest)*
        }
    };
    (@munch $head:tt [$($done:tt)*] @group index_range $($rest:tt)*) => {
        options! { @munch $head [$($done)*]
            /// On a sharded cluster, return what the reachable shards have rather than an error.
            allow_partial_results: bool,
            /// Return only the index keys.
            return_key: bool,
            /// Add each document's record id as `$recordId`.
            show_record_id: bool,
            /// The exclusive upper bound of an index range (with `hint`).
            max: Document,
            /// The inclusive lower bound of an index range (with `hint`).
            min: Document,
            $($rest)*
        }
    };
    (@munch $head:tt [$($done:tt)*] @group update_common $($rest:tt)*) => {
        options! { @munch $head [$($done)*]
            /// Skip the collection's schema validation.
            bypass_document_validation: bool,
            /// The index to use.
            #[serde(skip)]
            hint: Hint => into,
            /// The collation for string comparisons.
            #[serde(skip)]
            collation: Collation,
            /// Which document `update_one` or `replace_one` changes when several match
            /// (MongoDB 8.0+).
            #[serde(skip)]
            sort: Document,
            $($rest)*
        }
    };
    (@munch $head:tt [$($done:tt)*] @group find_and_modify_tail $($rest:tt)*) => {
        options! { @munch $head [$($done)*]
            /// The index to use.
            hint: Hint => into,
            /// The collation for string comparisons.
            collation: Collation,
            /// The write concern (default: the collection's).
            write_concern: WriteConcern,
            /// Skip the collection's schema validation.
            bypass_document_validation: bool,
            /// `maxTimeMS`: the server's time limit.
            #[serde(rename = "maxTimeMS", serialize_with = "ser::millis")]
            max_time: Duration,
            /// Variables (`let`).
            #[serde(rename = "let")]
            let_vars: Document,
            /// A comment (any BSON value).
            comment: Bson => into,
            ..raw_data,
            $($rest)*
        }
    };
    (
        @munch $head:tt [$($done:tt)*]
        $(#[doc = $doc:expr])*
        $(#[serde($($serde:tt)*)])*
        $field:ident : $ty:ty $(=> $conv:ident)?,
        $($rest:tt)*
    ) => {
        options! { @munch $head [
            $($done)*
            $(#[doc = $doc])*
            $(#[serde($($serde)*)])*
            $field: $ty $(=> $conv)?,
        ] $($rest)* }
    };
    (@emit [$($head:tt)*] { $($fields:tt)* }) => {
        options! { $($head)* { $($fields)* } }
    };
    ($(
        $(#[$meta:meta])*
        pub struct $name:ident => $setters:ident {
            $(
                $(#[doc = $doc:expr])*
                $(#[serde($($serde:tt)*)])*
                $field:ident : $ty:ty $(=> $conv:ident)?
            ),* $(,)?
        }
    )*) => {$(
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, typed_builder::TypedBuilder, serde::Serialize)]
        #[builder(field_defaults(default, setter(into, strip_option)))]
        #[serde(rename_all = "camelCase")]
        #[non_exhaustive]
        pub struct $name {
            $(
                $(#[doc = $doc])*
                #[serde(skip_serializing_if = "Option::is_none")]
                $(#[serde($($serde)*)])*
                pub $field: Option<$ty>,
            )*
        }

        /// The setters of the actions that take these options (`setters!()`), and each
        /// option's type by the option's name: the setters name their types through these,
        /// because a type written here means nothing where the setters are expanded.
        #[allow(non_camel_case_types, dead_code)]
        pub(crate) mod $setters {
            #[allow(unused_imports)]
            use super::*;
            $(pub(crate) type $field = $ty;)*

            #[allow(unused_macros)]
            macro_rules! setters {
                () => {
                    $(
                        $crate::options::define::setter! {
                            $(#[doc = $doc])* $field: $crate::options::$setters::$field $(=> $conv)?
                        }
                    )*
                    /// Sets all the options at once, replacing those set before.
                    pub fn with_options(mut self, options: impl Into<Option<$name>>) -> Self {
                        self.options = options.into().unwrap_or_default();
                        self
                    }
                };
            }
            #[allow(unused_imports)]
            pub(crate) use setters;
        }
    )*};
    // Structs naming field groups: each one munched on its own.
    ($(
        $(#[$meta:meta])*
        pub struct $name:ident => $setters:ident { $($body:tt)* }
    )*) => {$(
        options! { @munch [$(#[$meta])* pub struct $name => $setters] [] $($body)* }
    )*};
}
#[allow(unused_imports)]
pub(crate) use options;

/// Declares an enum of names the server sends (or takes), with `Other` for a name this crate
/// does not know: `as_str`, and (de)serialization as the name.
///
/// ```text
/// server_names! {
///     /// Doc of the type.
///     pub enum OperationType {
///         /// Doc of the fallback (declared last).
///         Other(String),
///         /// Doc of the variant.
///         Insert = "insert",
///     }
/// }
/// ```
macro_rules! server_names {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(#[doc = $other_doc:expr])* Other(String),
            $($(#[doc = $doc:expr])* $variant:ident = $server:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[doc = $doc])* $variant,)*
            $(#[doc = $other_doc])* Other(String),
        }

        impl $name {
            /// The server's name for it.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $server,)*
                    $name::Other(s) => s,
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                let name = <String as serde::Deserialize>::deserialize(d)?;
                Ok(match name.as_str() {
                    $($server => $name::$variant,)*
                    _ => $name::Other(name),
                })
            }
        }
    };
}
pub(crate) use server_names;

/// One setter: the value as given, `impl Into`, or `impl IntoIterator`.
macro_rules! setter {
    ($(#[doc = $doc:expr])* $field:ident : $ty:ty) => {
        $(#[doc = $doc])*
        pub fn $field(mut self, value: $ty) -> Self {
            self.options.$field = Some(value);
            self
        }
    };
    ($(#[doc = $doc:expr])* $field:ident : $ty:ty => into) => {
        $(#[doc = $doc])*
        pub fn $field(mut self, value: impl Into<$ty>) -> Self {
            self.options.$field = Some(value.into());
            self
        }
    };
    ($(#[doc = $doc:expr])* $field:ident : $ty:ty => iter) => {
        $(#[doc = $doc])*
        pub fn $field(mut self, value: impl IntoIterator<Item = <$ty as IntoIterator>::Item>) -> Self {
            self.options.$field = Some(value.into_iter().collect());
            self
        }
    };
}
pub(crate) use setter;

/// Serializers for option values whose BSON form is not their Rust form.
pub(crate) mod ser {
    use std::time::Duration;

    use serde::Serializer;

    /// A duration as whole milliseconds (`maxTimeMS`, `maxAwaitTimeMS`), saturating.
    pub(crate) fn millis<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_i64(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            None => s.serialize_none(),
        }
    }

    /// A duration as whole seconds (`expireAfterSeconds`), saturating.
    pub(crate) fn seconds<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_i64(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            None => s.serialize_none(),
        }
    }

    /// A count as the `i64` BSON stores, saturating (`skip`, `limit`).
    pub(crate) fn count<S: Serializer>(n: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match n {
            Some(n) => s.serialize_i64(i64::try_from(*n).unwrap_or(i64::MAX)),
            None => s.serialize_none(),
        }
    }
}
